"""``medlens infer --plugin ID DICOM_SERIES --out seg.dcm``: a DICOM SEG that references the input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

sys.path.insert(0, str(Path(__file__).parent / "inference"))
from infer_helpers import TinyThreshold3d, ball_volume, write_plugin

from medlens.app.cli import main
from medlens.viewer.io import load_series, scan
from medlens.viewer.io.dicom_seg import read_dicom_seg
from medlens.viewer.io.dicom_write import SeriesIdentity, write_dicom_series
from medlens.viewer.model import Volume, VolumeMeta

PATCHED = (
    'spatial_shape = [8, 8, 8]\noverlap = 0.5\nbatch_size = 2\nspacing = [1.0, 1.0, 2.0]\norientation = "LPS"'
)


@pytest.fixture
def plugin_env(tmp_path: Path, monkeypatch):
    import medlens.inference.discovery as discovery
    from medlens.inference.runner import RESULT_CACHE

    write_plugin(tmp_path / "plugins", "thresh", TinyThreshold3d(), input_extra=PATCHED)
    monkeypatch.setenv("MEDLENS_PLUGIN_PATH", str(tmp_path / "plugins"))
    monkeypatch.setattr(discovery, "_default", None)  # rediscover with the test plugin
    RESULT_CACHE.clear()
    yield
    RESULT_CACHE.clear()


def ball_series(folder: Path) -> Volume:
    ball = ball_volume()
    arr = np.rint(ball.array * 1000).astype(np.int16)  # 0 / 1000 "HU"
    write_dicom_series(
        Volume(arr, ball.geometry, VolumeMeta(modality="CT")), folder, SeriesIdentity(seed="inf")
    )
    return load_series(scan(folder).series[0])


def test_infer_writes_a_dicom_seg_referencing_the_series(tmp_path: Path, plugin_env, capsys) -> None:
    import highdicom as hd

    series = tmp_path / "ct"
    vol = ball_series(series)
    out = tmp_path / "out" / "seg.dcm"
    # normalization "none" sees raw HU: anything > 0.5 is foreground, i.e. the ball
    assert main(["infer", "--plugin", "thresh", str(series), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "lesion:" in printed
    ds = pydicom.dcmread(out)
    assert ds.Modality == "SEG" and ds.FrameOfReferenceUID == vol.meta.frame_of_reference_uid
    assert [s.SeriesInstanceUID for s in ds.ReferencedSeriesSequence] == [vol.meta.series_uid]
    refs = {i.ReferencedSOPInstanceUID for i in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert refs == set(vol.meta.sop_instance_uids)
    assert {str(s.SegmentAlgorithmType) for s in ds.SegmentSequence} == {"AUTOMATIC"}
    assert ds.SegmentSequence[0].SegmentAlgorithmName.startswith("Thresh")
    seg = hd.seg.segread(out)
    assert seg.get_segment_numbers() == [1]
    back = read_dicom_seg(out, vol)
    np.testing.assert_array_equal(back.array == 1, vol.array > 0)
    assert [(lab.value, lab.name) for lab in back.labels] == [(1, "lesion")]


def test_infer_dicom_seg_needs_a_dicom_series(tmp_path: Path, plugin_env, capsys) -> None:
    import SimpleITK as sitk

    vol = ball_volume()
    src = tmp_path / "ball.nrrd"
    image = vol.to_sitk()
    image.SetMetaData("0008|0060", "CT")
    sitk.WriteImage(image, str(src))
    code = main(["infer", "--plugin", "thresh", str(src), "--out", str(tmp_path / "seg.dcm")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "DICOM series" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "seg.dcm").exists()


def test_infer_classification_writes_a_dicom_sr(tmp_path: Path, plugin_env, capsys) -> None:
    """A slice-wise classifier on a DICOM series, ``--out ai.dcm``: an SR pointing at the top slice."""
    from infer_helpers import SLICE_DETECTOR, TinyClassifier

    from medlens.viewer.io.dicom_sr import read_classification_sr

    write_plugin(tmp_path / "plugins", "cls2d", TinyClassifier(), **SLICE_DETECTOR)
    series = tmp_path / "ct"
    arr = np.zeros((5, 12, 12), np.int16)
    arr[3] = 2  # "bright" only on slice 3 (normalisation none: raw values; surer than "normal" anywhere)
    write_dicom_series(Volume(arr, meta=VolumeMeta(modality="CT")), series, SeriesIdentity(seed="sr-cli"))
    vol = load_series(scan(series).series[0])
    out = tmp_path / "ai.dcm"
    assert main(["infer", "--plugin", "cls2d", str(series), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    report = read_classification_sr(out)
    assert report.plugin == "cls2d" and report.predicted == "bright"
    assert report.referenced_series_uid == vol.meta.series_uid
    assert report.peak_slice_sop_uid == vol.meta.sop_instance_uids[3]
    assert report.agree is None  # the AI alone: no reader verdict yet
