"""What a scan finds: one :class:`SeriesInfo` per loadable series, and the scan's bookkeeping.

Why headers only: the study browser lists series (and the user picks one) long before any pixel is
decoded, so a scan reads just enough of every file to group, sort and describe it. The parsed
per-file headers ride along privately (``frames``) so :func:`load_series` never re-parses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SeriesInfo:
    """One loadable series as the study browser lists it (cheap: built from headers only)."""

    key: str  # unique within the scan: SeriesInstanceUID, plus a geometry-group suffix when needed
    series_uid: str = ""
    study_uid: str = ""
    modality: str = ""
    description: str = ""
    series_number: int | None = None
    patient_name: str = ""
    study_date: str = ""
    size_xyz: tuple[int, int, int] = (0, 0, 0)
    n_slices: int = 0
    kind: str = "dicom-series"  # "dicom-series" | "dicom-enhanced" | "dicom-2d" | "image-file"
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Private to the readers: the parsed, sorted per-file headers (or a reader-specific plan).
    frames: Any = field(default=None, repr=False, compare=False)


@dataclass
class ScanResult:
    """Everything a scan found; problems are reported here, never raised."""

    series: list[SeriesInfo] = field(default_factory=list)
    skipped_files: int = 0  # files that are not DICOM images nor image files (text, PNG, SR, SEG...)
    errors: list[str] = field(default_factory=list)  # one line each, naming the file
    skipped_paths: list[Path] = field(default_factory=list)  # which files were skipped (for a log)

    def extend(self, other: ScanResult) -> None:
        self.series.extend(other.series)
        self.skipped_files += other.skipped_files
        self.errors.extend(other.errors)
        self.skipped_paths.extend(other.skipped_paths)


__all__ = ["ScanResult", "SeriesInfo"]
