"""DICOM SEG round trips on real DICOM series: same voxels, same labels, the right references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from medlens.viewer.io import LoadError, load_series, scan
from medlens.viewer.io.dicom_seg import read_dicom_seg, write_dicom_seg
from medlens.viewer.io.dicom_write import SeriesIdentity, write_dicom_series
from medlens.viewer.model import Geometry, Label, LabelMap, Volume, VolumeMeta


def small_series(folder: Path, seed: str = "seg-test", direction: tuple[float, ...] | None = None) -> Volume:
    rng = np.random.default_rng(1)
    arr = rng.integers(-200, 300, size=(7, 24, 20)).astype(np.int16)
    geom = Geometry((0.8, 0.9, 2.5), (-10.0, 20.0, 30.0), direction or (1, 0, 0, 0, 1, 0, 0, 0, 1))
    write_dicom_series(Volume(arr, geom, VolumeMeta(modality="CT")), folder, SeriesIdentity(seed=seed))
    [info] = scan(folder).series
    return load_series(info)


def blobs(volume: Volume) -> LabelMap:
    lab = np.zeros(volume.array.shape, np.uint8)
    lab[1:4, 3:10, 4:12] = 3
    lab[4:6, 12:20, 2:8] = 7
    lab[2, 0, 0] = 7  # a single voxel at the corner
    return LabelMap(
        lab,
        volume.geometry,
        [Label(3, "lesion", (255, 40, 40)), Label(7, "liver", (40, 200, 90))],
        name="AI lesions",
    )


def test_round_trip_same_voxels_labels_and_references(tmp_path: Path) -> None:
    vol = small_series(tmp_path / "ct")
    labels = blobs(vol)
    out = write_dicom_seg(labels, vol, tmp_path / "seg.dcm", algorithm_name="Test net")
    back = read_dicom_seg(out, vol)
    np.testing.assert_array_equal(back.array, labels.array)
    assert [(lab.value, lab.name) for lab in back.labels] == [(3, "lesion"), (7, "liver")]
    for got, want in zip(back.labels, labels.labels, strict=True):
        assert np.abs(np.subtract(got.color, want.color)).max() <= 2  # through CIELab and back

    ds = pydicom.dcmread(out)
    assert ds.Modality == "SEG"
    assert ds.FrameOfReferenceUID == vol.meta.frame_of_reference_uid
    assert [s.SeriesInstanceUID for s in ds.ReferencedSeriesSequence] == [vol.meta.series_uid]
    referenced = {
        i.ReferencedSOPInstanceUID for i in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    }
    assert referenced == set(vol.meta.sop_instance_uids)
    assert {str(s.SegmentAlgorithmType) for s in ds.SegmentSequence} == {"AUTOMATIC"}
    assert ds.SegmentSequence[0].SegmentAlgorithmName == "Test net"
    # each frame is derived from the slice it lies on
    for item in ds.PerFrameFunctionalGroupsSequence:
        sop = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        k = vol.meta.sop_instance_uids.index(sop)
        pos = np.array(item.PlanePositionSequence[0].ImagePositionPatient, float)
        np.testing.assert_allclose(pos, vol.index_to_lps((0, 0, k)), atol=1e-3)


def test_highdicom_reads_what_we_wrote(tmp_path: Path) -> None:
    import highdicom as hd

    vol = small_series(tmp_path / "ct")
    labels = blobs(vol)
    out = write_dicom_seg(labels, vol, tmp_path / "seg.dcm", manual=True)
    seg = hd.seg.segread(out)
    assert seg.get_segment_numbers() == [1, 2]
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=vol.meta.sop_instance_uids,
        combine_segments=True,
        relabel=False,
        assert_missing_frames_are_empty=True,
    )
    expected = np.select([labels.array == 3, labels.array == 7], [1, 2], 0)
    np.testing.assert_array_equal(pixels, expected)
    assert {str(d.SegmentAlgorithmType) for d in seg.SegmentSequence} == {"MANUAL"}


def test_oblique_series_by_position_only(tmp_path: Path) -> None:
    """A SEG whose frames carry no instance references still maps by plane position."""
    c, s = np.cos(0.3), np.sin(0.3)
    vol = small_series(tmp_path / "ct", direction=(c, -s, 0, s, c, 0, 0, 0, 1))
    labels = blobs(vol)
    out = write_dicom_seg(labels, vol, tmp_path / "seg.dcm")
    ds = pydicom.dcmread(out)
    for item in ds.PerFrameFunctionalGroupsSequence:
        del item.DerivationImageSequence
    ds.save_as(tmp_path / "noref.dcm")
    np.testing.assert_array_equal(read_dicom_seg(tmp_path / "noref.dcm", vol).array, labels.array)


def test_wrong_series_is_refused(tmp_path: Path) -> None:
    vol = small_series(tmp_path / "a", seed="series-a")
    other = small_series(tmp_path / "b", seed="series-b")
    out = write_dicom_seg(blobs(vol), vol, tmp_path / "seg.dcm")
    with pytest.raises(LoadError, match="another"):
        read_dicom_seg(out, other)


def test_empty_label_map_is_refused(tmp_path: Path) -> None:
    vol = small_series(tmp_path / "ct")
    with pytest.raises(ValueError, match="empty"):
        write_dicom_seg(LabelMap.empty_like(vol), vol, tmp_path / "seg.dcm")


def test_sample_chest_ct_round_trip(sample_study: Path, tmp_path: Path) -> None:
    [info] = [s for s in scan(sample_study).series if s.n_slices > 1][:1]
    vol = load_series(info)
    lab = np.zeros(vol.array.shape, np.uint8)
    lab[vol.array > 200] = 1  # bone-ish
    lab[vol.array.shape[0] // 2, 100:140, 100:140] = 2
    labels = LabelMap(lab, vol.geometry, [Label(1, "bone", (230, 230, 200)), Label(2, "box", (0, 0, 255))])
    out = write_dicom_seg(labels, vol, tmp_path / "seg.dcm", algorithm_name="threshold")
    np.testing.assert_array_equal(read_dicom_seg(out, vol).array, lab)
