"""Reading DICOM straight out of ``.zip`` archives, without extracting them to disk.

Why: studies are often mailed or downloaded as zip files; unpacking a 500-file CT into a temp folder
doubles the I/O and leaves litter. Members are opened lazily through one shared ``ZipFile`` per
archive (its reads are serialised internally, so worker threads may share it). A member is named
by a *virtual path* ``archive.zip/inner/path.dcm`` so ``SeriesInfo.files`` stays a list of paths.
"""

from __future__ import annotations

import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_archives: dict[Path, zipfile.ZipFile] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ZipMember:
    """One file inside a zip archive."""

    archive: Path
    name: str

    @property
    def path(self) -> Path:
        """The virtual path shown to users and stored in ``SeriesInfo.files``."""
        return self.archive / self.name

    def open(self) -> BinaryIO:
        return _archive(self.archive).open(self.name)  # type: ignore[return-value]

    def size(self) -> int:
        return _archive(self.archive).getinfo(self.name).file_size

    def __str__(self) -> str:
        return str(self.path)


FileRef = Path | ZipMember


def _archive(path: Path) -> zipfile.ZipFile:
    with _lock:
        zf = _archives.get(path)
        if zf is None:
            zf = zipfile.ZipFile(path)
            _archives[path] = zf
        return zf


def is_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip" and path.is_file() and zipfile.is_zipfile(path)


def zip_members(path: Path) -> list[ZipMember]:
    """Every regular file in the archive (folders and macOS resource forks left out)."""
    zf = _archive(path)
    return [
        ZipMember(path, info.filename)
        for info in zf.infolist()
        if not info.is_dir() and "__MACOSX/" not in info.filename
    ]


def close_archives() -> None:
    """Close every cached archive (tests use it before deleting temp folders)."""
    with _lock:
        for zf in _archives.values():
            zf.close()
        _archives.clear()


def resolve_ref(path: str | Path | ZipMember) -> FileRef:
    """A real file stays a Path; ``archive.zip/inner/file`` becomes a :class:`ZipMember`."""
    if isinstance(path, ZipMember):
        return path
    p = Path(path)
    if p.exists():
        return p
    for parent in p.parents:
        if parent.suffix.lower() == ".zip" and parent.is_file():
            return ZipMember(parent, p.relative_to(parent).as_posix())
    return p


def open_ref(ref: FileRef) -> BinaryIO:
    return ref.open() if isinstance(ref, ZipMember) else open(ref, "rb")


def ref_path(ref: FileRef) -> Path:
    return ref.path if isinstance(ref, ZipMember) else ref


__all__ = ["FileRef", "ZipMember", "close_archives", "is_zip", "open_ref", "ref_path", "resolve_ref",
           "zip_members"]
