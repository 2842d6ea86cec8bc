"""Real DICOM objects from pydicom's test files and pydicom-data: every kind the reader claims."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import assert_matches_sitk, dicom_test_file

from medlens.viewer import io as vio
from medlens.viewer.io.dicom_headers import _pydicom_parse, read_header


def _load_one(name: str, kind: str | None = None):
    result = vio.scan(dicom_test_file(name))
    assert len(result.series) == 1, (name, result.errors)
    info = result.series[0]
    if kind is not None:
        assert info.kind == kind
    return info, vio.load_series(info)


def _sitk_single(name: str) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(dicom_test_file(name))])
    return reader.Execute()


def test_ct_small_matches_simpleitk_and_is_hu():
    info, volume = _load_one("CT_small.dcm", "dicom-series")
    assert_matches_sitk(volume, _sitk_single("CT_small.dcm"))
    assert volume.array.dtype == np.int16 and volume.meta.units == "HU"
    assert info.size_xyz == (128, 128, 1) and info.modality == "CT"


@pytest.mark.parametrize("name", [
    "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
])
def test_lossless_transfer_syntaxes_decode_identically(name):
    _, reference = _load_one("MR_small.dcm")
    _, volume = _load_one(name)
    assert volume.geometry.allclose(reference.geometry)
    assert np.array_equal(volume.array, reference.array)
    assert_matches_sitk(volume, _sitk_single(name))


@pytest.mark.parametrize("name", ["693_J2KR.dcm", "MR2_J2KR.dcm", "RG1_J2KR.dcm"])
def test_jpeg2000_lossless_equals_uncompressed(name):
    _, compressed = _load_one(name)
    _, plain = _load_one(name.replace("J2KR", "UNCR"))
    assert np.array_equal(compressed.array, plain.array)


def test_fractional_rescale_mr_is_float32_like_simpleitk():
    _, volume = _load_one("MR2_UNCR.dcm", "dicom-series")
    assert volume.array.dtype == np.float32
    image = _sitk_single("MR2_UNCR.dcm")
    assert_matches_sitk(volume, image, values=False)
    np.testing.assert_allclose(volume.array, sitk.GetArrayViewFromImage(image), rtol=1e-6, atol=1e-3)


def test_deflate_and_jpeg_lossless_and_lossy_baseline():
    import pydicom

    _, deflated = _load_one("image_dfl.dcm", "dicom-2d")  # GDCM misreads this one; pydicom is the reference
    ref = pydicom.dcmread(dicom_test_file("image_dfl.dcm")).pixel_array
    assert np.array_equal(deflated.array[0], ref)
    _, lossless = _load_one("JPEG-LL.dcm")
    ref = pydicom.dcmread(dicom_test_file("JPEG-LL.dcm")).pixel_array
    assert np.array_equal(lossless.array[0], ref) and ref.std() > 0
    _, lossy = _load_one("JPGExtended.dcm")  # 12-bit lossy: decoders may differ by rounding
    ref = sitk.GetArrayViewFromImage(sitk.ReadImage(str(dicom_test_file("JPGExtended.dcm")))).astype(float)
    assert np.abs(lossy.array.reshape(ref.shape) - ref).mean() < 2.0


@pytest.mark.parametrize("name", ["emri_small_RLE.dcm", "emri_small_jpeg_2k_lossless.dcm",
                                  "emri_small_jpeg_ls_lossless.dcm", "emri_small_big_endian.dcm"])
def test_enhanced_mr_frames_in_every_syntax(name):
    _, reference = _load_one("emri_small.dcm")
    info, volume = _load_one(name)
    assert volume.array.shape == (10, 64, 64)
    assert np.array_equal(volume.array, reference.array)
    import pydicom

    ref = pydicom.dcmread(dicom_test_file("emri_small.dcm")).pixel_array  # GDCM misreads it
    assert np.array_equal(volume.array, ref)
    # These files carry no functional groups: frames are stacked, and the warning says so.
    assert any("frames" in w for w in info.warnings)


def test_enhanced_ct_uses_functional_groups():
    _, volume = _load_one("eCT_Supplemental.dcm", "dicom-enhanced")
    assert volume.array.shape == (2, 512, 512)
    assert volume.spacing == pytest.approx((0.388672, 0.388672, 10.0))
    assert volume.meta.window is not None and volume.meta.units == "HU"
    # GDCM keeps file order with a left-handed +z axis; we sort along the normal (-z here). The
    # same voxel must sit at the same LPS point with the same value.
    image = sitk.ReadImage(str(dicom_test_file("eCT_Supplemental.dcm")))
    ref = sitk.GetArrayViewFromImage(image)
    for k in range(2):
        ours = volume.index_to_lps((10, 20, k))
        theirs = image.TransformIndexToPhysicalPoint((10, 20, 1 - k))
        np.testing.assert_allclose(ours, theirs, atol=1e-3)
        assert np.array_equal(volume.array[k], ref[1 - k])
    np.testing.assert_allclose(volume.direction[:, 2], (0, 0, -1), atol=1e-9)


def test_cr_monochrome1_is_a_2d_image_inverted():
    _, volume = _load_one("RG1_UNCR.dcm", "dicom-2d")
    assert volume.meta.is_2d and volume.array.shape == (1, 1955, 1841)
    assert volume.meta.photometric == "MONOCHROME2"
    stored = _pydicom_parse(dicom_test_file("RG1_UNCR.dcm"), False).dataset
    import pydicom

    raw = pydicom.dcmread(dicom_test_file("RG1_UNCR.dcm")).pixel_array.astype(np.int32)
    bits = stored.BitsStored
    assert np.array_equal(volume.array[0], (2**bits - 1) - raw)
    assert volume.meta.window == (2**bits - 1 - float(stored.WindowCenter), float(stored.WindowWidth))


def test_cr_spacing_from_imager_pixel_spacing(tmp_path):
    import pydicom

    ds = pydicom.dcmread(dicom_test_file("RG3_UNCR.dcm"))
    if "PixelSpacing" in ds:
        del ds.PixelSpacing
    ds.ImagerPixelSpacing = [0.143, 0.15]
    path = tmp_path / "cr.dcm"
    ds.save_as(path)
    info, volume = (lambda r: (r.series[0], vio.load_series(r.series[0])))(vio.scan(path))
    assert volume.spacing[:2] == pytest.approx((0.15, 0.143))
    assert volume.meta.is_2d and any("ImagerPixelSpacing" in w for w in info.warnings)


def test_multiframe_ultrasound_stacks_frames_with_warning():
    info, volume = _load_one("OBXXXX1A_2frame.dcm", "dicom-2d")
    assert volume.array.shape == (2, 600, 800) and volume.meta.is_2d
    assert any("2 frames" in w for w in info.warnings)
    assert any("grayscale" in w for w in info.warnings)  # palette colour shown as luminance
    _, rle = _load_one("OBXXXX1A_rle_2frame.dcm")
    assert np.array_equal(rle.array, volume.array)
    assert volume.array.std() > 0 and not np.array_equal(volume.array[0], volume.array[1])


def test_rgb_ultrasound_becomes_luminance():
    _, volume = _load_one("US1_UNCR.dcm", "dicom-2d")
    import pydicom

    rgb = pydicom.dcmread(dicom_test_file("US1_UNCR.dcm")).pixel_array.astype(float)
    expected = np.rint(rgb @ np.array([0.299, 0.587, 0.114]))
    assert np.abs(volume.array[0] - expected.reshape(volume.array.shape[1:])).max() <= 1


@pytest.mark.parametrize(("name", "reason"), [
    ("liver.dcm", "is a DICOM SEG (segmentation), not an image"),
    ("rtstruct.dcm", "RT Structure Set"),
    ("test-SR.dcm", "structured report"),
    ("rtplan.dcm", "RT Plan"),
])
def test_non_image_objects_are_rejected_with_a_reason(name, reason):
    result = vio.scan(dicom_test_file(name))
    assert result.series == [] and result.skipped_files == 1
    assert len(result.errors) == 1 and reason in result.errors[0] and name in result.errors[0]


def test_truncated_single_file_names_the_file():
    result = vio.scan(dicom_test_file("MR_truncated.dcm"))
    assert any("MR_truncated.dcm" in e and "truncated" in e for e in result.errors)
    with pytest.raises(vio.LoadError, match=r"MR_truncated\.dcm"):
        vio.load_series(result.series[0])


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_implicit.dcm", "693_UNCR.dcm", "MR2_UNCR.dcm",
                                  "gdcm-US-ALOKA-16.dcm", "RG1_J2KR.dcm", "emri_small.dcm"])
def test_fast_header_walker_agrees_with_pydicom(name):
    fast = read_header(dicom_test_file(name))
    slow = _pydicom_parse(dicom_test_file(name), force=False)
    assert fast.dataset is None  # the fast path really handled it
    assert (fast.pixel_offset, fast.pixel_length, fast.encapsulated) == \
        (slow.pixel_offset, slow.pixel_length, slow.encapsulated)
    for key, value in slow.values.items():
        if value not in ("", None, []):
            assert fast.values.get(key) == value, key
