"""Classic DICOM series built from real CT pixels, checked against SimpleITK's ImageSeriesReader."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import assert_matches_sitk, sitk_read, write_series

from medlens.viewer import io as vio
from medlens.viewer.io.dicom_headers import _pydicom_parse, read_header


def _rotation(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


@pytest.fixture
def ct(real_ct):
    return real_ct[:12]


def _only_series(folder):
    result = vio.scan(folder)
    assert len(result.series) == 1, result
    return result, result.series[0]


def test_shuffled_names_and_reversed_instance_numbers(tmp_path, ct):
    n = len(ct)
    names = [f"{random.Random(k).getrandbits(40):x}.dcm" for k in range(n)]
    write_series(tmp_path, ct, file_names=names, instance_numbers=list(range(n, 0, -1)))
    result, info = _only_series(tmp_path)
    assert info.kind == "dicom-series" and info.size_xyz == (ct.shape[2], ct.shape[1], n)
    assert result.skipped_files == 0 and result.errors == []
    volume = vio.load_series(info)
    assert_matches_sitk(volume, sitk_read(tmp_path))
    assert np.array_equal(volume.array, ct)  # sorted by position: slice k is the k-th written
    assert volume.array.dtype == np.int16
    assert volume.meta.units == "HU" and volume.meta.rescale_applied
    assert volume.meta.window == (40.0, 400.0)  # first of the multi-valued window
    assert volume.meta.modality == "CT" and volume.meta.patient_name == "TEST^PATIENT"
    assert len(volume.meta.sop_instance_uids) == n and volume.meta.complete


def test_oblique_orientation(tmp_path, ct):
    rot = _rotation(0.3, -0.2, 0.5)
    orientation = (*rot[:, 0], *rot[:, 1])
    write_series(tmp_path, ct, orientation=orientation, origin=(12.5, -80.25, 33.0), slice_step=1.25)
    _, info = _only_series(tmp_path)
    volume = vio.load_series(info)
    image = sitk_read(tmp_path)
    assert_matches_sitk(volume, image)
    np.testing.assert_allclose(volume.direction[:, 2], rot[:, 2], atol=1e-6)
    assert volume.spacing[2] == pytest.approx(1.25, abs=1e-4)


def test_feet_first_stack_direction_follows_positions(tmp_path, ct):
    # Positions decrease along the normal in writing order: the reader must still sort by them.
    write_series(tmp_path, ct, orientation=(1, 0, 0, 0, -1, 0), slice_step=-3.0)
    _, info = _only_series(tmp_path)
    volume = vio.load_series(info)
    assert_matches_sitk(volume, sitk_read(tmp_path))
    assert np.array_equal(volume.array, ct[::-1])


def test_uneven_spacing_is_reported_not_resampled(tmp_path, ct):
    steps = [0, 2, 2, 3, 2, 2.5, 2, 2, 2, 2, 2.6, 2]
    z = np.cumsum(steps)
    write_series(tmp_path, ct, positions=[(-30, -40, 100 + v) for v in z])
    _, info = _only_series(tmp_path)
    volume = vio.load_series(info)
    assert any("uneven slice spacing" in w for w in volume.meta.warnings)
    assert any("uneven slice spacing" in w for w in info.warnings)
    assert_matches_sitk(volume, sitk_read(tmp_path))  # slices as acquired, mean step like ITK
    assert volume.spacing[2] == pytest.approx((z[-1] - z[0]) / (len(z) - 1))


def test_gantry_tilt_is_detected(tmp_path, ct):
    tilt = np.radians(15)
    step = 2.5
    positions = [(-30, -40 + np.tan(tilt) * step * k, 100 + step * k) for k in range(len(ct))]
    write_series(tmp_path, ct, positions=positions)
    _, info = _only_series(tmp_path)
    volume = vio.load_series(info)
    assert any("gantry tilt of 15.0°" in w for w in volume.meta.warnings)
    image = sitk_read(tmp_path)
    # Same voxels, origin and direction; z spacing is the distance between slice planes (along the
    # normal), where ITK takes the distance between slice origins (longer by 1/cos(tilt)).
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(volume.geometry.direction, image.GetDirection(), atol=1e-6)
    np.testing.assert_allclose(volume.spacing[:2], image.GetSpacing()[:2], atol=1e-6)
    assert volume.spacing[2] == pytest.approx(image.GetSpacing()[2] * np.cos(tilt), abs=1e-3)
    assert volume.spacing[2] == pytest.approx(step, abs=1e-4)
    assert np.array_equal(volume.array, sitk.GetArrayViewFromImage(image))


def test_non_dicom_files_are_skipped_and_counted(tmp_path, ct):
    write_series(tmp_path, ct[:4])
    (tmp_path / "notes.txt").write_text("radiology report draft\n")
    (tmp_path / "thumb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    (tmp_path / "empty.dcm").write_bytes(b"")
    result, info = _only_series(tmp_path)
    assert result.skipped_files == 3
    assert {p.name for p in result.skipped_paths} == {"notes.txt", "thumb.png", "empty.dcm"}
    assert info.n_slices == 4


def test_truncated_pixel_data_zero_fills_that_slice_only(tmp_path, ct):
    paths = write_series(tmp_path, ct)
    bad = paths[5]
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) - 3000])
    result, info = _only_series(tmp_path)
    assert any(bad.name in e and "truncated" in e for e in result.errors)
    assert all("\n" not in e for e in result.errors)
    volume = vio.load_series(info)
    assert info.n_slices == len(ct)
    assert any(bad.name in w and "zero-filled" in w for w in volume.meta.warnings)
    assert not volume.array[5].any()
    keep = [k for k in range(len(ct)) if k != 5]
    assert np.array_equal(volume.array[keep], ct[keep])


def test_file_truncated_in_header_leaves_a_named_zero_gap(tmp_path, ct):
    paths = write_series(tmp_path, ct)
    bad = paths[7]
    bad.write_bytes(bad.read_bytes()[:300])
    result, info = _only_series(tmp_path)
    assert any(bad.name in e for e in result.errors)
    volume = vio.load_series(info)
    assert volume.array.shape[0] == len(ct)  # the gap keeps later slices in place
    gap = [w for w in volume.meta.warnings if "missing between" in w]
    assert gap and paths[6].name in gap[0] and paths[8].name in gap[0]
    assert not volume.array[7].any()
    keep = [k for k in range(len(ct)) if k != 7]
    assert np.array_equal(volume.array[keep], ct[keep])
    image = sitk_read(tmp_path, files=[p for p in paths if p != bad])
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(volume.spacing[:2], image.GetSpacing()[:2], atol=1e-3)
    # ITK spreads the 11 remaining slices over the full extent (2.75 mm); the gap keeps 2.5 mm.
    assert volume.spacing[2] == pytest.approx(2.5, abs=1e-4)


def test_monochrome1_is_inverted_and_reported_as_monochrome2(tmp_path, ct):
    write_series(tmp_path, ct, photometric="MONOCHROME1", intercept=-1024, bits_stored=12)
    _, info = _only_series(tmp_path)
    volume = vio.load_series(info)
    assert volume.meta.photometric == "MONOCHROME2"
    # Stored values were written inverted: after reading, the original HU come back.
    assert np.array_equal(volume.array, ct)
    image = sitk_read(tmp_path)  # GDCM inverts MONOCHROME1 over the stored range too
    assert_matches_sitk(volume, image)
    mirror = (0 - 1024) + (4095 - 1024)
    assert volume.meta.window == (mirror - 40.0, 400.0)


def test_two_series_in_one_folder(tmp_path, ct):
    write_series(tmp_path, ct[:6], series_uid="1.2.3.4.100", file_names=[f"a{k}.dcm" for k in range(6)])
    write_series(tmp_path, ct[6:], series_uid="1.2.3.4.200", modality="MR", intercept=0, slope=1,
                 window=None, file_names=[f"b{k}.dcm" for k in range(6)], origin=(0, 0, 0), slice_step=4,
                 bits_stored=16, signed=True)
    result = vio.scan(tmp_path)
    assert sorted(s.key for s in result.series) == ["1.2.3.4.100", "1.2.3.4.200"]
    for info in result.series:
        volume = vio.load_series(info)
        assert_matches_sitk(volume, sitk_read(tmp_path, info.series_uid))
    mr = next(s for s in result.series if s.modality == "MR")
    assert vio.load_series(mr).meta.units == ""


def test_same_uid_two_geometries_are_split(tmp_path, ct):
    write_series(tmp_path / "ax", ct[:5], series_uid="1.2.3.4.300")
    rot = _rotation(np.pi / 2, 0, 0)  # coronal
    write_series(tmp_path / "cor", ct[5:9], series_uid="1.2.3.4.300", orientation=(*rot[:, 0], *rot[:, 1]))
    result = vio.scan(tmp_path)
    assert len(result.series) == 2
    assert len({s.key for s in result.series}) == 2
    assert all(s.key.startswith("1.2.3.4.300#") for s in result.series)
    assert sorted(s.n_slices for s in result.series) == [4, 5]
    assert all(any("different geometries" in w for w in s.warnings) for s in result.series)
    for info, sub in ((s, "ax" if s.n_slices == 5 else "cor") for s in result.series):
        assert_matches_sitk(vio.load_series(info), sitk_read(tmp_path / sub))


def test_progressive_load_middle_first_progress_and_cancel(tmp_path, ct):
    write_series(tmp_path, ct)
    _, info = _only_series(tmp_path)
    seen = {}

    def first(volume):
        seen["complete"] = volume.meta.complete
        seen["array"] = volume.array
        seen["middle"] = volume.array[len(ct) // 2].copy()

    calls: list[tuple[int, int]] = []
    volume = vio.load_series(info, progress=lambda d, t: calls.append((d, t)), on_first_slice=first)
    assert seen["complete"] is False and volume.meta.complete is True
    assert seen["array"] is volume.array  # filled in place: a zero-copy view stays valid
    assert np.array_equal(seen["middle"], ct[len(ct) // 2])
    assert calls[-1] == (len(ct), len(ct))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)

    cancel = threading.Event()
    with pytest.raises(vio.LoadCancelled):
        vio.load_series(info, cancel=cancel, on_first_slice=lambda v: cancel.set())


def test_float_output_for_fractional_rescale(tmp_path, ct):
    write_series(tmp_path, ct, modality="MR", slope=0.5, intercept=-1024.25, window=None, bits_stored=16)
    _, info = _only_series(tmp_path)
    volume = vio.load_series(info)
    assert volume.array.dtype == np.float32
    image = sitk_read(tmp_path)
    assert_matches_sitk(volume, image, values=False)
    np.testing.assert_allclose(volume.array, sitk.GetArrayViewFromImage(image), rtol=0, atol=1e-3)


def test_int16_promoted_to_float32_when_values_overflow(tmp_path, ct):
    values = ct.astype(np.int32) * 10 + 20000  # beyond int16 after rescale, fits signed 16-bit stored
    values = np.clip(values, 0, 52000)
    write_series(tmp_path, values, intercept=20000, bits_stored=16, signed=True)
    _, info = _only_series(tmp_path)
    volume = vio.load_series(info)
    assert volume.array.dtype == np.float32
    assert np.array_equal(volume.array, values)
    assert any("float32" in w for w in volume.meta.warnings)


def test_fast_header_parser_agrees_with_pydicom(tmp_path, ct):
    path = write_series(tmp_path, ct[:1])[0]
    fast = read_header(path)
    slow = _pydicom_parse(path, force=False)
    assert fast.dataset is None and slow.dataset is not None  # really two different paths
    assert fast.pixel_offset == slow.pixel_offset and fast.pixel_length == slow.pixel_length
    for key, value in fast.values.items():
        assert slow.values.get(key) == value, key
    assert set(slow.values) <= set(fast.values) | {"StudyDescription"}
