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


class AppSettings:
    """Window layout, the user's own window/level presets and extra plugin folders (``settings.json``).

    Same rules as :class:`RecentStudies`: plain JSON beside it, read fresh on every access (so two
    windows never overwrite each other's keys with stale copies), and a corrupt or unwritable file
    only costs the saved values, never the viewer.
    """

    LAYOUTS = ("quad", "axial", "coronal", "sagittal", "3d")

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_config_dir() / "settings.json"

    # -- raw access ---------------------------------------------------------------------------
    def data(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str, default: object = None) -> object:
        return self.data().get(key, default)

    def set(self, key: str, value: object) -> None:
        data = self.data()
        data[key] = value
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("could not save settings to %s: %s", self.path, exc)

    # -- layout -------------------------------------------------------------------------------
    @property
    def layout(self) -> str:
        """``quad``, or the one pane shown alone: ``axial``, ``coronal``, ``sagittal`` or ``3d``."""
        value = self.get("layout", "quad")
        return value if isinstance(value, str) and value in self.LAYOUTS else "quad"

    @layout.setter
    def layout(self, value: str | None) -> None:
        self.set("layout", value if value in self.LAYOUTS else "quad")

    @property
    def window_state(self) -> str:
        """``QMainWindow.saveState()`` + geometry as base64 text (docks, toolbar, size); "" when none."""
        value = self.get("window_state", "")
        return value if isinstance(value, str) else ""

    @window_state.setter
    def window_state(self, value: str) -> None:
        self.set("window_state", value)

    # -- window/level presets -----------------------------------------------------------------
    def window_presets(self) -> dict[str, tuple[float, float]]:
        """The user's own presets: name -> (centre, width); malformed entries are skipped."""
        raw = self.get("window_presets", {})
        out: dict[str, tuple[float, float]] = {}
        if isinstance(raw, dict):
            for name, value in raw.items():
                try:
                    centre, width = (float(v) for v in value)
                except (TypeError, ValueError):
                    continue
                if width > 0:
                    out[str(name)] = (centre, width)
        return out

    def save_window_preset(self, name: str, centre: float, width: float) -> None:
        name = name.strip()
        if not name or not width > 0:
            raise ValueError("a preset needs a name and a positive width")
        presets = {k: list(v) for k, v in self.window_presets().items()}
        presets[name] = [float(centre), float(width)]
        self.set("window_presets", presets)

    def remove_window_preset(self, name: str) -> None:
        presets = {k: list(v) for k, v in self.window_presets().items() if k != name}
        self.set("window_presets", presets)

    # -- plugin folders -----------------------------------------------------------------------
    def plugin_folders(self) -> list[str]:
        raw = self.get("plugin_folders", [])
        return [str(p) for p in raw if isinstance(p, str)] if isinstance(raw, list) else []

    def add_plugin_folder(self, folder: str | os.PathLike[str]) -> None:
        entry = str(Path(folder).expanduser().resolve())
        self.set("plugin_folders", [*[p for p in self.plugin_folders() if p != entry], entry])

    def remove_plugin_folder(self, folder: str | os.PathLike[str]) -> None:
        entry = str(Path(folder).expanduser().resolve())
        self.set("plugin_folders", [p for p in self.plugin_folders() if p not in (entry, str(folder))])

    def apply_plugin_folders(self, environ: dict[str, str] | None = None) -> str:
        """Add the saved plugin folders to ``MEDLENS_PLUGIN_PATH`` (what plugin discovery reads).

        Folders already listed there keep their place (the user's environment wins); returns the new value.
        """
        env = os.environ if environ is None else environ
        current = [p for p in env.get("MEDLENS_PLUGIN_PATH", "").split(os.pathsep) if p.strip()]
        merged = current + [p for p in self.plugin_folders() if p not in current]
        value = os.pathsep.join(merged)
        if merged:
            env["MEDLENS_PLUGIN_PATH"] = value
        return value
