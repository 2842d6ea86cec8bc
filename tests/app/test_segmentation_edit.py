"""Accept / edit / undo / save / recover in the real window, driven by real Qt mouse and key events."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from medlens.app.tools import Tool
from medlens.viewer.model import Label, LabelMap


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDLENS_DATA_DIR", str(tmp_path / "data"))


def ai_mask(volume) -> LabelMap:
    arr = np.zeros(volume.array.shape, np.uint8)
    arr[10:14, 20:30, 50:60] = 1
    return LabelMap(arr, volume.geometry, [Label(1, "lesion", (255, 0, 0))], name="AI lesions")


def setup_editing(window, volume):
    window.resize(1500, 900)
    window.set_layout("axial")  # one big pane: room for strokes next to the dock
    window.show_volume(volume)
    window.ai.ai_label_map = ai_mask(volume)  # as the AI panel leaves a segmentation result
    panel = window.segmentation
    assert panel.accept()
    QApplication.processEvents()
    pane = window.panes["axial"]
    assert pane.width() > 300 and pane.height() > 300, (pane.width(), pane.height())
    return panel


def display_of(pane, p: QPoint) -> tuple[int, int]:
    """What the pane hands its controller for widget point ``p`` (see Pane.display_xy)."""
    scale = pane._getPixelRatio()
    return round(p.x() * scale), round((pane.height() - p.y() - 1) * scale)


def ijk_of(pane, p: QPoint) -> np.ndarray:
    view = pane.view
    lps = view.display_to_lps(*display_of(pane, p))
    assert lps is not None, "test point is off the image"
    ijk = np.asarray(view.volume.lps_to_index(lps), float)
    ijk[view.axes.slice_axis] = view.slice_index
    return ijk


def disc(shape, ijk, r_mm, spacing, slice_axis) -> np.ndarray:
    """Brute-force expected disc: voxel centres on the slice within r_mm (in mm) of ``ijk``."""
    z, y, x = np.indices(shape, dtype=float)
    grids = [x, y, z]
    k = int(np.floor(ijk[slice_axis] + 0.5))
    d2 = sum(((grids[a] - ijk[a]) * spacing[a]) ** 2 for a in range(3) if a != slice_axis)
    mask = (d2 <= r_mm**2 + 1e-9) & (grids[slice_axis] == k)
    near = [int(np.floor(v + 0.5)) for v in ijk]
    mask[near[2], near[1], near[0]] = True
    return mask


def test_brush_stroke_paints_exactly_the_expected_voxels_and_undo_redo(window, ct_volume, qtbot) -> None:
    panel = setup_editing(window, ct_volume)
    ai_before = window.ai.ai_label_map.array.copy()
    lm = panel.label_map
    assert lm is not window.ai.ai_label_map and np.array_equal(lm.array, ai_before)
    start = lm.array.copy()
    window.set_tool(Tool.BRUSH)
    panel.set_brush_radius(3.0)
    assert panel.editor.radius_mm == 3.0
    pane = window.panes["axial"]
    view = pane.view
    sp = ct_volume.geometry.spacing
    c = QPoint(pane.width() // 2, pane.height() // 2)

    # a single dab: press + release at one point = exactly the disc under the cursor
    ijk0 = ijk_of(pane, c)
    QTest.mousePress(pane, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, c)
    QTest.mouseRelease(pane, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, c)
    expected = start.copy()
    expected[disc(start.shape, ijk0, 3.0, sp, view.axes.slice_axis)] = 1
    np.testing.assert_array_equal(lm.array, expected)
    after_dab = lm.array.copy()

    # a fast stroke: three far-apart mouse positions, no gaps between them
    pts = [c + QPoint(-60, -30), c + QPoint(10, 25), c + QPoint(70, -10)]
    QTest.mousePress(pane, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pts[0])
    for p in pts[1:]:
        # QTest keeps the pressed button in the move event; checked to arrive on the offscreen
        # platform (the controller only paints moves of a drag it saw start)
        QTest.mouseMove(pane, p)
    assert lm.array[tuple(int(np.floor(v + 0.5)) for v in ijk_of(pane, pts[1])[::-1])] == 1
    QTest.mouseRelease(pane, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pts[-1])
    ijks = [ijk_of(pane, p) for p in pts]
    after_stroke = lm.array.copy()
    painted = (lm.array == 1) & (after_dab == 0)
    inner = np.zeros(start.shape, bool)
    outer = np.zeros(start.shape, bool)
    for a, b in itertools.pairwise(ijks):
        for t in np.linspace(0, 1, 400):
            inner |= disc(start.shape, a + t * (b - a), 3.0, sp, 2)
            outer |= disc(start.shape, a + t * (b - a), 3.1, sp, 2)
    newly_expected = inner & (after_dab == 0)
    assert not (newly_expected & ~painted).any(), "gap in the stroke"
    assert not (painted & ~outer).any(), "painted outside the brush"
    assert len(panel.editor.history) == 2  # the dab and the stroke: one step each

    # Ctrl+Z twice: back to the accepted AI mask bit for bit; Ctrl+Shift+Z redoes
    window.activateWindow()
    pane.setFocus()
    QTest.keyClick(pane, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(pane, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(lm.array, start)
    QTest.keyClick(
        pane, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert np.array_equal(lm.array, after_dab)
    panel.redo()
    assert np.array_equal(lm.array, after_stroke)
    np.testing.assert_array_equal(window.ai.ai_label_map.array, ai_before)  # the AI output is untouched

    # [ and ] change the brush size
    r = panel.brush_radius_mm
    QTest.keyClick(pane, Qt.Key.Key_BracketRight)
    assert panel.brush_radius_mm > r
    QTest.keyClick(pane, Qt.Key.Key_BracketLeft)
    QTest.keyClick(pane, Qt.Key.Key_BracketLeft)
    assert panel.brush_radius_mm < r


def test_eraser_fill_islands_and_labels_in_the_window(window, ct_volume, qtbot) -> None:
    panel = setup_editing(window, ct_volume)
    lm = panel.label_map
    pane = window.panes["axial"]
    k = pane.view.slice_index
    lm.array[k, 20:30, 50:60] = 1  # make sure the mask lies on the displayed slice
    panel.editor.history.clear()
    window.set_tool(Tool.ERASER)
    panel.set_brush_radius(50.0)
    c = QPoint(pane.width() // 2, pane.height() // 2)
    QTest.mouseClick(pane, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, c)
    assert not lm.array[k].any() and lm.array[k - 1 : k - 0].sum() == lm.array[k - 1].sum()
    panel.undo()
    assert lm.array[k].sum() == 100

    # fill: a new label, clicked in the background of the slice -> everything but the square
    lab = panel.add_label("background fill")
    assert panel.editor.active_value == lab.value == 2
    assert panel.label_list.count() == 2
    window.set_tool(Tool.FILL)
    corner = QPoint(pane.width() // 2 - 5, pane.height() // 2 - 5)
    ijk = ijk_of(pane, corner)
    assert lm.array[k, round(ijk[1]), round(ijk[0])] == 0
    QTest.mouseClick(pane, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, corner)
    assert (lm.array[k] == 2).sum() == lm.array[k].size - 100
    assert not (lm.array[k + 1] == 2).any()  # 2D fill stays on its slice
    panel.undo()

    # islands: a speck of label 1 disappears with "remove small"
    panel.editor.active_value = 1
    lm.array[0, 0, 0] = 1
    panel.editor.history.clear()
    panel.remove_small(5)
    assert lm.array[0, 0, 0] == 0 and (lm.array == 1).sum() > 0
    panel.remove_label(2)
    assert [x.value for x in lm.labels] == [1]


def test_save_and_load_nifti_and_dicom_seg_from_the_window(window, tmp_path: Path) -> None:
    from medlens.viewer.io import load_series, scan
    from medlens.viewer.io.dicom_write import SeriesIdentity, write_dicom_series
    from medlens.viewer.model import Geometry, Volume, VolumeMeta

    arr = np.random.default_rng(2).integers(-100, 200, size=(24, 64, 80)).astype(np.int16)
    src = Volume(arr, Geometry((0.8, 0.8, 2.0)), VolumeMeta(modality="CT"))
    write_dicom_series(src, tmp_path / "ct", SeriesIdentity(seed="win"))
    vol = load_series(scan(tmp_path / "ct").series[0])
    panel = setup_editing(window, vol)
    panel.editor.paint_stroke([(40.0, 30.0, 12.0)], slice_axis=2)
    out = panel.save_to(tmp_path / "edited.dcm")
    assert out is not None and not panel.dirty, window.last_message
    import pydicom

    ds = pydicom.dcmread(out)
    assert {str(s.SegmentAlgorithmType) for s in ds.SegmentSequence} == {"MANUAL"}
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == vol.meta.series_uid
    saved = panel.label_map.array.copy()
    assert panel.save_to(tmp_path / "edited.nii.gz") is not None
    panel.reject()
    assert panel.editor is None
    assert panel.load_from(tmp_path / "edited.dcm")
    np.testing.assert_array_equal(panel.label_map.array, saved)
    assert panel.load_from(tmp_path / "edited.nii.gz")
    np.testing.assert_array_equal(panel.label_map.array, saved)


def test_autosave_and_recovery_bar(window, ct_volume, qtbot, tmp_path: Path) -> None:
    ct_volume.meta.series_uid = "1.2.826.0.1.3680043.8.498.77"  # autosaves are found by series
    panel = setup_editing(window, ct_volume)
    panel.editor.paint_stroke([(40.0, 30.0, 12.0), (60.0, 40.0, 12.0)], slice_axis=2)
    record = panel.autosave_now()
    assert record is not None and record.image_path.parent == tmp_path / "data" / "autosave"
    edited = panel.label_map.array.copy()
    # "crash": the editing session goes away without saving; the series is opened again
    panel.editor = None
    window.show_volume(ct_volume)
    bar = window.recovery_bar
    assert bar.isVisible() and "unsaved segmentation" in bar.label.text()
    qtbot.mouseClick(bar.recover_button, Qt.MouseButton.LeftButton)
    assert panel.editor is not None and not bar.isVisible()
    np.testing.assert_array_equal(panel.label_map.array, edited)
    assert panel.save_to(tmp_path / "kept.nrrd") is not None
    assert not any((tmp_path / "data" / "autosave").iterdir())  # cleaned up after a save


def test_quitting_with_unsaved_edits_keeps_them_for_the_next_start(window, ct_volume, tmp_path: Path) -> None:
    from medlens.viewer.edit.autosave import list_autosaves, load_autosave

    ct_volume.meta.series_uid = "1.2.826.0.1.3680043.8.498.78"
    panel = setup_editing(window, ct_volume)
    panel.editor.paint_stroke([(40.0, 30.0, 12.0), (60.0, 40.0, 12.0)], slice_axis=2)
    edited = panel.label_map.array.copy()
    assert not list_autosaves()  # the 30 s timer has not fired yet
    window.close()  # a plain quit, no save
    records = list_autosaves()
    assert len(records) == 1 and records[0].series_uid == ct_volume.meta.series_uid
    np.testing.assert_array_equal(load_autosave(records[0], ct_volume).array, edited)


def test_classification_verdict_saved_as_json(window, ct_volume, tmp_path: Path) -> None:
    import json
    from types import SimpleNamespace

    window.show_volume(ct_volume)
    window.ai.last_result = SimpleNamespace(
        task="classification",
        plugin_id="cls",
        probabilities={"normal": 0.2, "bright": 0.8},
        class_names=["normal", "bright"],
    )
    panel = window.segmentation
    panel.ai_result_ready(window.ai.last_result)
    assert panel.decision_button.isEnabled() and "bright" in panel.prediction_label.text()
    out = panel.save_decision_to(tmp_path / "verdict.json", agree=False, corrected_class="normal")
    payload = json.loads(out.read_text())
    assert payload["predicted"] == "bright" and payload["final_class"] == "normal"
    assert payload["plugin"] == "cls" and payload["agree"] is False


def test_classification_verdict_saved_as_dicom_sr(window, ct_volume, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from medlens.viewer.io import load_series, scan
    from medlens.viewer.io.dicom_sr import read_classification_sr
    from medlens.viewer.io.dicom_write import SeriesIdentity, write_dicom_series

    write_dicom_series(ct_volume, tmp_path / "ct", SeriesIdentity(seed="verdict-sr"))
    dicom = load_series(scan(tmp_path / "ct").series[0])
    window.show_volume(dicom)
    n = dicom.array.shape[0]
    scores = np.full((n, 2), 0.5)
    scores[:, 1] = np.linspace(0.1, 0.6, n)
    scores[n // 2, 1] = 0.95  # the most suspicious slice
    window.ai.last_result = SimpleNamespace(
        task="classification",
        plugin_id="cls",
        probabilities={"normal": 0.05, "bright": 0.95},
        class_names=["normal", "bright"],
        slice_probabilities=scores,
    )
    panel = window.segmentation
    panel.ai_result_ready(window.ai.last_result)
    out = panel.save_decision_to(tmp_path / "verdict.dcm", agree=True)
    report = read_classification_sr(out)
    assert report.predicted == "bright" and report.agree is True and report.final_class == "bright"
    assert report.peak_slice_sop_uid == dicom.meta.sop_instance_uids[n // 2]
    assert report.referenced_series_uid == dicom.meta.series_uid
    # a volume that was not read from DICOM cannot carry an SR: a message, nothing written
    window.show_volume(ct_volume)
    panel.ai_result_ready(window.ai.last_result)
    assert panel.save_decision_to(tmp_path / "other.dcm", agree=True) is None
    assert not (tmp_path / "other.dcm").exists()
