"""Saving/loading edited segmentations (NIfTI, DICOM SEG), autosave + recovery, decisions JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from medlens.viewer.edit import SegmentationEditor
from medlens.viewer.edit.autosave import (
    Autosaver,
    autosave_dir,
    find_autosave,
    list_autosaves,
    load_autosave,
    write_autosave,
)
from medlens.viewer.edit.decisions import ClassificationDecision, load_decision, save_decision
from medlens.viewer.edit.seg_files import load_segmentation, save_segmentation
from medlens.viewer.io import LoadError, load_series, scan
from medlens.viewer.io.dicom_write import SeriesIdentity, write_dicom_series
from medlens.viewer.model import Geometry, Label, LabelMap, Volume, VolumeMeta


def dicom_series(folder: Path) -> Volume:
    rng = np.random.default_rng(7)
    arr = rng.integers(-200, 300, size=(6, 24, 20)).astype(np.int16)
    geom = Geometry((0.8, 0.9, 2.5), (-10.0, 20.0, 30.0))
    write_dicom_series(Volume(arr, geom, VolumeMeta(modality="CT")), folder, SeriesIdentity(seed="edit"))
    [info] = scan(folder).series
    return load_series(info)


def edited(volume: Volume) -> SegmentationEditor:
    lm = LabelMap(
        np.zeros(volume.array.shape, np.uint8), volume.geometry, [Label(1, "lesion", (250, 10, 10))]
    )
    lm.array[1:3, 5:9, 4:10] = 1  # "the AI output"
    ed = SegmentationEditor(lm, volume)
    ed.radius_mm = 2.0
    ed.paint_stroke([(12.0, 15.0, 4.0), (16.0, 18.0, 4.0)], slice_axis=2)
    ed.add_label("cyst", (20, 200, 30))
    ed.paint_stroke([(4.0, 20.0, 0.0)], slice_axis=2)
    return ed


def test_dicom_seg_of_an_edit_references_the_series_and_reloads(tmp_path: Path) -> None:
    import highdicom as hd

    vol = dicom_series(tmp_path / "ct")
    ed = edited(vol)
    out = save_segmentation(ed.label_map, vol, tmp_path / "edited.dcm", manual=True)
    ds = pydicom.dcmread(out)
    assert ds.Modality == "SEG"
    assert [s.SeriesInstanceUID for s in ds.ReferencedSeriesSequence] == [vol.meta.series_uid]
    refs = {i.ReferencedSOPInstanceUID for i in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert refs == set(vol.meta.sop_instance_uids)
    assert {str(s.SegmentAlgorithmType) for s in ds.SegmentSequence} == {"MANUAL"}
    seg = hd.seg.segread(out)
    assert seg.get_segment_numbers() == [1, 2]
    back = load_segmentation(out, vol)
    np.testing.assert_array_equal(back.array, ed.label_map.array)
    assert [(lab.value, lab.name) for lab in back.labels] == [(1, "lesion"), (2, "cyst")]


def test_dicom_seg_needs_a_dicom_series(tmp_path: Path) -> None:
    vol = Volume(np.zeros((3, 8, 8), np.int16), Geometry())
    lm = LabelMap(np.ones((3, 8, 8), np.uint8), vol.geometry, [Label(1, "x")])
    with pytest.raises(LoadError, match="DICOM series"):
        save_segmentation(lm, vol, tmp_path / "x.dcm")


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_image_file_round_trip_with_label_table(tmp_path: Path, suffix: str) -> None:
    vol = Volume(np.zeros((5, 12, 14), np.int16), Geometry((0.7, 0.8, 3.0), (1.0, -2.0, 5.0)))
    lm = LabelMap(np.zeros(vol.array.shape, np.uint8), vol.geometry, [Label(4, "nodule", (1, 2, 3))], "mine")
    lm.array[2, 3:7, 4:9] = 4
    out = save_segmentation(lm, vol, tmp_path / f"seg{suffix}")
    back = load_segmentation(out, vol)
    np.testing.assert_array_equal(back.array, lm.array)
    assert back.labels == lm.labels and back.name == "mine"
    assert back.geometry is vol.geometry


def test_image_file_on_another_grid_is_refused(tmp_path: Path) -> None:
    vol = Volume(np.zeros((5, 12, 14), np.int16), Geometry((0.7, 0.8, 3.0)))
    lm = LabelMap(np.ones((5, 12, 14), np.uint8), Geometry((0.7, 0.8, 3.0), (30.0, 0.0, 0.0)), [])
    out = save_segmentation(lm, None, tmp_path / "moved.nii.gz")
    with pytest.raises(LoadError, match="grid"):
        load_segmentation(out, vol)
    small = Volume(np.zeros((4, 12, 14), np.int16), vol.geometry)
    with pytest.raises(LoadError, match="voxels"):
        load_segmentation(out, small)


def test_autosave_writes_atomically_and_recovery_restores(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEDLENS_DATA_DIR", str(tmp_path / "data"))
    assert autosave_dir() == tmp_path / "data" / "autosave"
    vol = dicom_series(tmp_path / "ct")
    ed = edited(vol)
    saver = Autosaver(vol, interval_s=30.0)
    t0 = saver.last_write
    assert saver.tick(ed.label_map, ed.generation, now=t0 + 5) is None  # too early
    rec = saver.tick(ed.label_map, ed.generation, now=t0 + 31)
    assert rec is not None and rec.image_path.exists()
    assert saver.tick(ed.label_map, ed.generation, now=t0 + 90) is None  # nothing new
    side = json.loads(rec.sidecar_path.read_text())
    assert side["series_uid"] == vol.meta.series_uid and side["source_path"] == str(tmp_path / "ct")
    leftovers = [p.name for p in rec.image_path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    # "restart": find it for this series and restore the same voxels and labels
    found = find_autosave(vol)
    assert found is not None and found.key == rec.key
    back = load_autosave(found, vol)
    np.testing.assert_array_equal(back.array, ed.label_map.array)
    assert back.labels == ed.label_map.labels
    other = Volume(np.zeros((6, 24, 20), np.int16), vol.geometry, VolumeMeta(series_uid="1.2.3"))
    assert find_autosave(other) is None
    saver.saved_by_user(ed.generation)
    assert list_autosaves() == []


def test_autosave_overwrite_keeps_one_pair(tmp_path: Path) -> None:
    vol = Volume(np.zeros((2, 4, 4), np.int16), Geometry(), VolumeMeta(source_files=["/x/a.nii.gz"]))
    lm = LabelMap(np.zeros((2, 4, 4), np.uint8), vol.geometry, [Label(1, "a")])
    write_autosave(lm, vol, tmp_path)
    lm.array[0, 0, 0] = 1
    write_autosave(lm, vol, tmp_path)
    assert len(list(tmp_path.iterdir())) == 2
    [rec] = list_autosaves(tmp_path)
    assert rec.source_path == "/x/a.nii.gz" and load_autosave(rec, vol).array[0, 0, 0] == 1


def test_classification_decision_json(tmp_path: Path) -> None:
    d = ClassificationDecision(
        "cls", "bright", agree=False, corrected_class="normal", probabilities={"bright": 0.8}
    )
    out = save_decision(d, tmp_path / "decision.json")
    payload = json.loads(out.read_text())
    assert payload["final_class"] == "normal" and payload["agree"] is False
    assert load_decision(out).corrected_class == "normal"
    with pytest.raises(ValueError):
        ClassificationDecision("cls", "bright", agree=False)
