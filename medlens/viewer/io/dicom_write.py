"""Write a :class:`Volume` as a classic single-frame DICOM series (CT or MR Image Storage).

Why we need it: the sample study ships as NRRD inside a registry package, but radiologists open
DICOM, so set-up converts it; tests and benchmarks build series from real pixels the same way.
The writer keeps the geometry exact (ImagePositionPatient per slice along the direction's third
column) so reading the series back gives the source grid within floating-point precision.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

from ..model import Volume

_SOP_CLASS = {"CT": CTImageStorage, "MR": MRImageStorage}


@dataclass
class SeriesIdentity:
    """Patient/study/series identity stamped on every slice; UIDs derive from ``seed`` when unset,
    so rebuilding the sample gives the same UIDs (stable recent-study lists, reproducible tests)."""

    patient_name: str = "ANONYMOUS^PATIENT"
    patient_id: str = "ANON0001"
    patient_sex: str = "O"
    study_date: str = "20200101"
    study_description: str = ""
    series_description: str = ""
    series_number: int = 1
    modality: str = "CT"
    body_part: str = ""
    study_uid: str = ""
    series_uid: str = ""
    frame_of_reference_uid: str = ""
    seed: str = "medlens"


def _uid(explicit: str, seed: str, what: str) -> str:
    return explicit or generate_uid(entropy_srcs=[seed, what])


def _format_ds(value: float) -> str:
    """DS values are at most 16 characters; keep as many significant digits as fit."""
    for digits in range(10, 2, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    raise ValueError(f"cannot encode {value} as a DICOM decimal string")


def write_dicom_series(
    volume: Volume,
    out_dir: str | Path,
    identity: SeriesIdentity | None = None,
    rescale_intercept: float | None = None,
    file_names: list[str] | None = None,
) -> list[Path]:
    """Write ``volume`` as one file per slice in ``out_dir`` and return the paths in slice order.

    Voxel values must be integral (HU for CT); they are stored as signed 16-bit with
    ``stored = value - intercept``. The intercept defaults to -1024 for CT (as scanners do, so the
    rescale path of readers is exercised) and 0 otherwise.
    """
    ident = identity or SeriesIdentity(modality=volume.meta.modality or "CT")
    modality = ident.modality.upper()
    if modality not in _SOP_CLASS:
        raise ValueError(f"only CT and MR series can be written, not {modality!r}")
    values = np.asarray(volume.array)
    if not np.all(np.isfinite(values)) or not np.array_equal(values, np.round(values)):
        raise ValueError("write_dicom_series stores integers; round or rescale the volume first")
    intercept = rescale_intercept if rescale_intercept is not None else (-1024.0 if modality == "CT" else 0.0)
    stored_all = values.astype(np.int64) - int(intercept)
    if stored_all.min() < -32768 or stored_all.max() > 32767:
        raise ValueError("values do not fit signed 16-bit storage with this intercept")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seed = ident.seed
    study_uid = _uid(ident.study_uid, seed, "study")
    series_uid = _uid(ident.series_uid, seed, f"series{ident.series_number}")
    for_uid = _uid(ident.frame_of_reference_uid, seed, "for")
    direction = volume.geometry.direction_matrix
    spacing = volume.geometry.spacing
    origin = np.asarray(volume.geometry.origin)
    row_cos, col_cos, normal = direction[:, 0], direction[:, 1], direction[:, 2]
    if np.linalg.det(direction) < 0:
        # DICOM's slice normal is row x column; a left-handed grid (NRRD allows it) is the same
        # voxels stacked the other way, so write the slices in reverse from the far end.
        origin = origin + normal * spacing[2] * (values.shape[0] - 1)
        normal = -normal
        stored_all = stored_all[::-1]
    nz, ny, nx = values.shape
    window = volume.meta.window
    now = _dt.datetime(2020, 1, 1)

    paths: list[Path] = []
    for k in range(nz):
        sop_uid = generate_uid(entropy_srcs=[seed, series_uid, str(k)])
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = _SOP_CLASS[modality]
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        name = file_names[k] if file_names else f"IM{k + 1:05d}.dcm"
        path = out / name
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = _SOP_CLASS[modality]
        ds.SOPInstanceUID = sop_uid
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.StudyDate = ident.study_date
        ds.SeriesDate = ident.study_date
        ds.StudyTime = now.strftime("%H%M%S")
        ds.AccessionNumber = ""
        ds.Modality = modality
        ds.Manufacturer = "MedLens sample builder"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = ident.study_description
        ds.SeriesDescription = ident.series_description
        ds.PatientName = ident.patient_name
        ds.PatientID = ident.patient_id
        ds.PatientBirthDate = ""
        ds.PatientSex = ident.patient_sex
        if ident.body_part:
            ds.BodyPartExamined = ident.body_part
        ds.SliceThickness = _format_ds(spacing[2])
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = ident.series_number
        ds.InstanceNumber = k + 1
        position = origin + normal * spacing[2] * k
        ds.ImagePositionPatient = [_format_ds(v) for v in position]
        ds.ImageOrientationPatient = [_format_ds(v) for v in (*row_cos, *col_cos)]
        ds.FrameOfReferenceUID = for_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = _format_ds(float(position @ normal))
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ny
        ds.Columns = nx
        ds.PixelSpacing = [_format_ds(spacing[1]), _format_ds(spacing[0])]  # row spacing \ column spacing
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = _format_ds(intercept)
        ds.RescaleSlope = "1"
        if modality == "CT":
            ds.RescaleType = "HU"
            ds.KVP = "120"
        if window is not None:
            ds.WindowCenter = _format_ds(window[0])
            ds.WindowWidth = _format_ds(window[1])
        ds.PixelData = np.ascontiguousarray(stored_all[k], dtype="<i2").tobytes()
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


__all__ = ["SeriesIdentity", "write_dicom_series"]
