"""The retrieve cache: ``<root>/<StudyUID>/<SeriesUID>/<SOPInstanceUID>.dcm`` plus a small manifest.

Why this shape: a file name that *is* the SOP Instance UID makes resuming a set difference (what the
PACS lists minus what is on disk), and every file is written to ``*.part`` and renamed into place,
so a ``.dcm`` that exists is complete — a crash, a cancel or a cut cable never leaves a half-written
instance that a later load would trip over. The manifest records what the series should hold, so
an interrupted series is recognisably incomplete even when nobody is watching.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

MANIFEST = ".medlens-series.json"
PART = ".part"
_SAFE = re.compile(r"[^0-9A-Za-z.\-]")


def safe_name(uid: str) -> str:
    """A UID as a file name (UIDs are digits and dots; anything else is replaced)."""
    return _SAFE.sub("_", uid.strip()) or "unknown"


class SeriesCache:
    """One series folder of the cache."""

    def __init__(self, root: Path, study_uid: str, series_uid: str) -> None:
        self.directory = Path(root) / safe_name(study_uid) / safe_name(series_uid)
        self.study_uid = study_uid
        self.series_uid = series_uid

    def path_for(self, sop_uid: str) -> Path:
        return self.directory / f"{safe_name(sop_uid)}.dcm"

    def have(self) -> set[str]:
        """SOP Instance UIDs already complete on disk (by file name)."""
        if not self.directory.is_dir():
            return set()
        return {p.name[: -len(".dcm")] for p in self.directory.iterdir() if p.name.endswith(".dcm")}

    def write(self, ds: Any, raw: bytes | None = None) -> Path:
        """Write ``ds`` in file format, atomically (``.part`` then rename). ``raw``, when given, is
        the instance already encoded as a file (DIMSE hands it over that way) and is written as is."""
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.path_for(str(ds.SOPInstanceUID))
        tmp = final.with_name(final.name + PART)
        try:
            if raw is not None:
                with open(tmp, "wb") as fh:
                    fh.write(raw)
            else:
                ds.save_as(tmp, enforce_file_format=True)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return final

    def remove_partials(self) -> int:
        """Delete leftovers of an interrupted write (there should be none; a kill -9 can leave one)."""
        n = 0
        if self.directory.is_dir():
            for p in self.directory.glob(f"*{PART}"):
                p.unlink(missing_ok=True)
                n += 1
        return n

    # -- manifest ------------------------------------------------------------------------------
    def write_manifest(self, expected: list[str], complete: bool, **extra: Any) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = {
            "study_uid": self.study_uid,
            "series_uid": self.series_uid,
            "expected": expected,
            "complete": complete,
            **extra,
        }
        tmp = self.directory / (MANIFEST + PART)
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, self.directory / MANIFEST)

    def manifest(self) -> dict[str, Any]:
        try:
            data = json.loads((self.directory / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def is_complete(self) -> bool:
        m = self.manifest()
        return bool(m.get("complete")) and set(m.get("expected", [])) <= self.have()


__all__ = ["MANIFEST", "SeriesCache", "safe_name"]
