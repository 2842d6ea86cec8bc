"""Recently opened studies, kept in a small JSON file in the user's config folder.

A JSON file instead of QSettings so it can be read and tested without Qt and so tests can point it
at a temporary folder; a corrupt or unwritable file never stops the viewer.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def default_config_dir() -> Path:
    override = os.environ.get("MEDLENS_CONFIG_DIR")
    if override:
        return Path(override)
    try:
        from platformdirs import user_config_dir
    except ImportError:  # pragma: no cover - platformdirs is a dependency
        return Path.home() / ".config" / "medlens"
    return Path(user_config_dir("medlens", appauthor=False))


class RecentStudies:
    def __init__(self, path: str | os.PathLike[str] | None = None, max_items: int = 10) -> None:
        self.path = Path(path) if path is not None else default_config_dir() / "recent.json"
        self.max_items = max_items

    def items(self) -> list[str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        if not isinstance(data, list):
            return []
        return [str(p) for p in data if isinstance(p, str)][: self.max_items]

    def add(self, path: str | os.PathLike[str]) -> None:
        entry = str(Path(path).resolve())
        items = [entry, *[p for p in self.items() if p != entry]][: self.max_items]
        self._write(items)

    def clear(self) -> None:
        self._write([])

    def _write(self, items: list[str]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(items, indent=1), encoding="utf-8")
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("could not save recent studies to %s: %s", self.path, exc)
