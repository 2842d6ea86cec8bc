"""NIfTI / NRRD / MetaImage through SimpleITK: geometry round trips and the RAS↔LPS convention."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import SimpleITK as sitk

from medlens.viewer import io as vio
from medlens.viewer.model import Geometry, Label, LabelMap, Volume, VolumeMeta


def _oblique_volume() -> Volume:
    rng = np.random.default_rng(7)
    a = np.radians(20)
    direction = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    geometry = Geometry((0.75, 0.8, 2.5), (-120.25, 33.5, -400.125), direction)
    voxels = rng.integers(-1024, 2000, (6, 10, 12)).astype(np.int16)
    return Volume(voxels, geometry, VolumeMeta(modality="CT"))


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_round_trip_geometry_and_values(tmp_path, suffix):
    volume = _oblique_volume()
    path = tmp_path / f"vol{suffix}"
    vio.write_image_file(volume, path)
    back = vio.read_image_file(path)
    assert back.geometry.allclose(volume.geometry, atol=1e-4)
    assert np.array_equal(back.array, volume.array) and back.array.dtype == np.int16
    assert back.owner is not None  # zero-copy: the SimpleITK image owns the voxels
    assert np.shares_memory(back.array, sitk.GetArrayViewFromImage(back.owner))


def test_labelmap_round_trip(tmp_path):
    volume = _oblique_volume()
    labels = LabelMap(np.zeros(volume.array.shape, np.uint8), volume.geometry, [Label(1, "nodule")])
    labels.array[2, 3:5, 4:7] = 1
    path = tmp_path / "seg.nrrd"
    vio.write_image_file(labels, path)
    back = vio.read_image_file(path)
    assert back.array.dtype == np.uint8 and np.array_equal(back.array, labels.array)
    assert back.geometry.allclose(volume.geometry, atol=1e-6)


def _nifti_with_sform(path, srow: np.ndarray, data: np.ndarray) -> None:
    """A minimal NIfTI-1 file written by hand (no nibabel): sform only, RAS+ world."""
    nz, ny, nx = data.shape
    hdr = bytearray(348)
    struct.pack_into("<i", hdr, 0, 348)
    struct.pack_into("<8h", hdr, 40, 3, nx, ny, nz, 1, 1, 1, 1)  # dim
    struct.pack_into("<h", hdr, 70, 4)  # datatype INT16
    struct.pack_into("<h", hdr, 72, 16)  # bitpix
    spacing = np.linalg.norm(srow[:, :3], axis=0)
    struct.pack_into("<8f", hdr, 76, 1.0, *spacing, 0, 0, 0, 0)  # pixdim (qfac 1)
    struct.pack_into("<f", hdr, 108, 352.0)  # vox_offset
    struct.pack_into("<f", hdr, 112, 1.0)  # scl_slope
    struct.pack_into("<h", hdr, 252, 0)  # qform_code
    struct.pack_into("<h", hdr, 254, 1)  # sform_code: scanner anatomical
    struct.pack_into("<4f", hdr, 280, *srow[0])
    struct.pack_into("<4f", hdr, 296, *srow[1])
    struct.pack_into("<4f", hdr, 312, *srow[2])
    hdr[344:348] = b"n+1\0"
    blob = bytes(hdr) + b"\0" * 4 + data.astype("<i2").tobytes()
    path.write_bytes(gzip.compress(blob) if str(path).endswith(".gz") else blob)


def test_nifti_ras_sform_becomes_lps(tmp_path):
    srow = np.array([[-0.9, 0.0, 0.0, 90.0],  # x index runs towards patient right (RAS -x)
                     [0.0, 1.1, 0.0, -126.0],
                     [0.0, 0.0, 3.0, -72.0]])
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    path = tmp_path / "hand.nii.gz"
    _nifti_with_sform(path, srow, data)
    volume = vio.read_image_file(path)
    ijk = np.array([2.0, 3.0, 1.0])
    ras = srow[:, :3] @ ijk + srow[:, 3]
    lps = ras * np.array([-1, -1, 1])
    np.testing.assert_allclose(volume.index_to_lps(ijk), lps, atol=1e-4)
    image = sitk.ReadImage(str(path))
    np.testing.assert_allclose(volume.index_to_lps(ijk), image.TransformContinuousIndexToPhysicalPoint(ijk),
                               atol=1e-6)
    assert volume.value_at((2, 3, 1)) == data[1, 3, 2]


def test_unknown_suffix_and_bad_file_give_one_line_errors(tmp_path):
    with pytest.raises(vio.LoadError, match="unknown image format"):
        vio.write_image_file(_oblique_volume(), tmp_path / "x.png")
    bad = tmp_path / "broken.nrrd"
    bad.write_text("NRRD0004\ntype: nonsense\n")
    with pytest.raises(vio.LoadError) as info:
        vio.read_image_file(bad)
    assert "broken.nrrd" in str(info.value) and "\n" not in str(info.value)
    result = vio.scan(bad)
    assert result.series == [] and "broken.nrrd" in result.errors[0]
