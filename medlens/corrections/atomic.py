"""Crash-safe file writes: a reader finds the old file or the new one, never half of one.

Write to a temporary name in the same folder, ``fsync`` it, ``os.replace`` it over the target (atomic
on POSIX and Windows), then ``fsync`` the folder so the rename itself survives a crash.
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from pathlib import Path

import numpy as np


def fsync_dir(folder: Path) -> None:
    """Make a rename/creation in ``folder`` durable (a no-op where folders cannot be opened: Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` atomically and durably; returns its sha256 (hex)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(path.parent)
    return hashlib.sha256(data).hexdigest()


def atomic_save_array(path: Path, array: np.ndarray) -> str:
    """``np.save`` through :func:`atomic_write_bytes`; returns the file's sha256."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return atomic_write_bytes(path, buffer.getvalue())


def sha256_path(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
