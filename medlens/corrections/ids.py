"""Input references without identifiers: salted SHA-256 of UIDs, with a secret per-store salt.

A correction must be traceable to "the same series" (to group or de-duplicate cases) without the
store ever holding a DICOM UID, a name, an ID or a date. A plain hash of a UID can be reversed by
hashing candidate UIDs, so the hash is keyed with 32 random bytes kept only in the store folder
(file mode 0600) and never exported.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import uuid
from pathlib import Path

from medlens.corrections.atomic import fsync_dir

SALT_FILE = "salt"


def load_or_create_salt(folder: Path) -> bytes:
    """The store's secret salt, created on first use.

    Written complete under a temporary name, then hard-linked into place: the link fails if another
    process got there first, so every process ends up with the same, complete salt.
    """
    path = Path(folder) / SALT_FILE
    if not path.is_file():
        tmp = path.with_name(f".salt.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # no hard links on this file system
            if not path.exists():
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(path.parent)
    salt = bytes.fromhex(path.read_text().strip())
    if len(salt) != 32:
        raise ValueError(f"{path} is not a MedLens corrections salt")
    return salt


def hashed_ref(salt: bytes, value: str, kind: str = "uid") -> str:
    """HMAC-SHA-256 of ``value`` keyed with the salt (hex); '' stays '' (nothing to refer to)."""
    if not value:
        return ""
    return hmac.new(salt, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()
