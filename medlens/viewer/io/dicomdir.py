"""Following a DICOMDIR: the referenced files, not a folder walk.

Why: media (CDs, USB exports) come with a DICOMDIR that indexes files whose names (``IM00001``,
no extension) say nothing; the index is the authoritative list, and on case-preserving file
systems its upper-case file IDs may not match the real names, so names are matched without case
when the exact path does not exist.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import LoadError, one_line


def is_dicomdir(path: Path) -> bool:
    return path.is_file() and path.name.upper() == "DICOMDIR"


def _case_insensitive(root: Path, parts: list[str]) -> Path | None:
    current = root
    for part in parts:
        candidate = current / part
        if candidate.exists():
            current = candidate
            continue
        try:
            names = {n.upper(): n for n in os.listdir(current)}
        except OSError:
            return None
        real = names.get(part.upper())
        if real is None:
            return None
        current = current / real
    return current


def dicomdir_files(path: Path) -> tuple[list[Path], list[str]]:
    """The files a DICOMDIR references, and one-line errors for records whose file is missing."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as exc:
        raise LoadError(one_line(path, f"unreadable DICOMDIR ({exc})")) from None
    files: list[Path] = []
    errors: list[str] = []
    root = path.parent
    for record in ds.get("DirectoryRecordSequence", []):
        file_id = record.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [str(file_id)] if isinstance(file_id, str) else [str(p) for p in file_id]
        found = _case_insensitive(root, parts)
        if found is None or not found.is_file():
            errors.append(one_line(root.joinpath(*parts), "listed in the DICOMDIR but missing"))
            continue
        if found not in files:
            files.append(found)
    return files, errors


__all__ = ["dicomdir_files", "is_dicomdir"]
