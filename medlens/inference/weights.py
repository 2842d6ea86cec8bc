"""Weights integrity: a plugin's weights must hash to the sha256 its manifest declares.

Checked at load (not at discovery, which must stay fast); hashes are memoised per
(path, size, mtime) so re-opening a large model does not re-read it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from medlens.inference.errors import WeightsError

_HASHES: dict[tuple[str, int, int], str] = {}


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (memoised while the file is unchanged)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def verify_weights(path: Path | str, expected_sha256: str, plugin_id: str = "") -> None:
    """Raise :class:`WeightsError` unless ``path`` exists and has the declared sha256."""
    path = Path(path)
    who = f"plugin {plugin_id}: " if plugin_id else ""
    if not path.is_file():
        raise WeightsError(f"{who}weights file {path} is missing")
    actual = sha256_file(path)
    if actual != expected_sha256.lower():
        raise WeightsError(
            f"{who}refused to load {path.name}: its sha256 is {actual[:12]}..., the manifest declares "
            f"{expected_sha256[:12]}... (the file was changed or replaced; reinstall the plugin)"
        )
