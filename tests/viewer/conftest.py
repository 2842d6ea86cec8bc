"""Fixtures for the viewer tests: real DICOM test objects and series built from real CT pixels.

Test objects come from pydicom's own test files and the pydicom-data package, found on disk
directly (``get_testdata_file`` would try the network for a name that is not installed).
Series are written with pydicom from real chest CT pixels (pyradiomics lung1 via the sample
study, or pydicom's CT_small when that is unavailable) so sorting and geometry errors show up as
real image differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest


def dicom_test_file(name: str) -> Path:
    """Path of a pydicom / pydicom-data test file, or skip when it is not installed."""
    import pydicom

    candidates = [Path(pydicom.__file__).parent / "data" / "test_files" / name]
    try:
        import data_store  # pydicom-data

        candidates.append(Path(data_store.__file__).parent / "data" / name)
    except ImportError:
        pass
    for c in candidates:
        if c.exists():
            return c
    pytest.skip(f"test file {name} is not installed")
    raise AssertionError  # unreachable


def _real_ct() -> np.ndarray:
    """A stack of real CT slices in HU (int16, z, y, x)."""
    try:
        from medlens.sample import sample_study_if_ready

        study = sample_study_if_ready()
    except Exception:
        study = None
    if study is not None and study.image_nrrd.exists():
        import SimpleITK as sitk

        arr = sitk.GetArrayFromImage(sitk.ReadImage(str(study.image_nrrd)))
        return arr[:, 96:416:4, 64:448:4].astype(np.int16)  # 80 x 96 in-plane, real chest anatomy
    import pydicom

    ds = pydicom.dcmread(dicom_test_file("CT_small.dcm"))
    base = ds.pixel_array.astype(np.int16) + np.int16(ds.RescaleIntercept)
    return np.stack([np.roll(base, k * 3, axis=0)[16:96, 8:104] for k in range(40)])


@pytest.fixture(scope="session")
def real_ct() -> np.ndarray:
    return _real_ct()


def write_series(
    out: Path,
    pixels: np.ndarray,
    *,
    positions: Sequence[Sequence[float]] | None = None,
    orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
    spacing: tuple[float, float] = (0.7, 0.6),  # (row step, column step) = PixelSpacing
    slice_step: float = 2.5,
    origin: Sequence[float] = (-30.0, -40.0, 100.0),
    series_uid: str | None = None,
    study_uid: str = "1.2.826.0.1.3680043.8.498.1",
    modality: str = "CT",
    file_names: Sequence[str] | None = None,
    instance_numbers: Sequence[int] | None = None,
    photometric: str = "MONOCHROME2",
    slope: float = 1.0,
    intercept: float = -1024.0,
    bits_stored: int = 12,
    signed: bool = False,
    window: tuple[float, float] | None = (40.0, 400.0),
    description: str = "test series",
    transfer_syntax: str | None = None,
) -> list[Path]:
    """Write ``pixels`` (values after rescale, z/y/x) as a classic single-frame series."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

    out.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    nz, ny, nx = pixels.shape
    row = np.asarray(orientation[:3], float)
    col = np.asarray(orientation[3:], float)
    normal = np.cross(row, col)
    if positions is None:
        positions = [np.asarray(origin) + normal * slice_step * k for k in range(nz)]
    stored = np.rint((pixels.astype(np.float64) - intercept) / slope)
    if photometric == "MONOCHROME1":
        stored = (2**bits_stored - 1) - stored if not signed else -1 - stored
    lo, hi = (-(2 ** (bits_stored - 1)), 2 ** (bits_stored - 1) - 1) if signed else (0, 2**bits_stored - 1)
    assert stored.min() >= lo and stored.max() <= hi, "test pixels do not fit the stored range"
    stored = stored.astype(np.int16 if signed else np.uint16)
    sop_class = CTImageStorage if modality == "CT" else MRImageStorage
    paths = []
    for k in range(nz):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        name = file_names[k] if file_names else f"slice{k:04d}.dcm"
        path = out / name
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.Modality = modality
        ds.PatientName = "TEST^PATIENT"
        ds.PatientID = "T1"
        ds.StudyDate = "20240102"
        ds.StudyTime = "120000"
        ds.StudyID = "1"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SeriesDescription = description
        ds.SeriesNumber = 3
        ds.InstanceNumber = instance_numbers[k] if instance_numbers else k + 1
        ds.FrameOfReferenceUID = study_uid + ".9"
        ds.ImagePositionPatient = [f"{v:.6f}" for v in positions[k]]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in orientation]
        ds.PixelSpacing = [f"{spacing[0]:.6f}", f"{spacing[1]:.6f}"]
        ds.SliceThickness = f"{slice_step:.4f}"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = photometric
        ds.Rows, ds.Columns = ny, nx
        ds.BitsAllocated = 16
        ds.BitsStored = bits_stored
        ds.HighBit = bits_stored - 1
        ds.PixelRepresentation = 1 if signed else 0
        ds.RescaleSlope = f"{slope:g}"
        ds.RescaleIntercept = f"{intercept:g}"
        if window is not None:
            ds.WindowCenter = [f"{window[0]:g}", f"{window[0] + 10:g}"]  # multi-valued: first wins
            ds.WindowWidth = [f"{window[1]:g}", f"{window[1] + 10:g}"]
        ds.PixelData = stored[k].tobytes()
        if transfer_syntax:
            ds.compress(transfer_syntax)
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def sitk_read(folder: Path, series_uid: str | None = None, files: list[Path] | None = None):
    """The reference: SimpleITK ImageSeriesReader with GDCM's own file ordering."""
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    if files is None:
        names = (reader.GetGDCMSeriesFileNames(str(folder), series_uid) if series_uid
                 else reader.GetGDCMSeriesFileNames(str(folder)))
    else:
        names = [str(f) for f in files]
    reader.SetFileNames(names)
    return reader.Execute()


def assert_matches_sitk(volume, image, *, atol: float = 1e-3, values: bool = True) -> None:
    import SimpleITK as sitk

    np.testing.assert_allclose(volume.spacing, image.GetSpacing(), atol=atol)
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), atol=atol)
    np.testing.assert_allclose(volume.geometry.direction, image.GetDirection(), atol=1e-6)
    if values:
        ref = sitk.GetArrayViewFromImage(image)
        assert volume.array.shape == ref.shape
        assert np.array_equal(volume.array, ref)


@pytest.fixture(autouse=True)
def _close_zip_archives():
    yield
    from medlens.viewer.io.zip_input import close_archives

    close_archives()

