"""Helpers shared by the PACS tests (kept out of conftest so test modules can import them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medlens.pacs.orthanc import unavailable_reason
from medlens.viewer.io.dicom_write import SeriesIdentity, write_dicom_series
from medlens.viewer.model import Geometry, Volume, VolumeMeta

USER, PASSWORD = "alice", "wonderland-42"


def needs_orthanc() -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"no local Orthanc: {reason}")


def make_volume(slices: int = 12, size: int = 48, seed: int = 0) -> Volume:
    rng = np.random.default_rng(seed)
    arr = rng.integers(-1000, 1500, size=(slices, size, size + 8)).astype(np.int16)
    geom = Geometry((0.75, 0.8, 2.0), (-50.0, -60.0, 100.0))
    return Volume(arr, geom, VolumeMeta(modality="CT"))


def write_series(
    folder: Path,
    volume: Volume,
    seed: str,
    patient: str = "DOE^JANE",
    pid: str = "PID-1",
    date: str = "20210305",
    description: str = "chest CT",
) -> list[Path]:
    ident = SeriesIdentity(
        patient_name=patient,
        patient_id=pid,
        study_date=date,
        seed=seed,
        series_description=description,
        study_description="PACS test study",
    )
    return write_dicom_series(volume, folder, ident)
