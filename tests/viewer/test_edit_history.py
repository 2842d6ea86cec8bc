"""Undo/redo: bit-for-bit restores, one step per stroke, and memory that follows the edit."""

from __future__ import annotations

import numpy as np

from medlens.viewer.edit import EditHistory, SegmentationEditor
from medlens.viewer.model import Geometry, Label, LabelMap


def make_editor(shape=(20, 64, 72), seed=0) -> SegmentationEditor:
    rng = np.random.default_rng(seed)
    arr = np.zeros(shape, np.uint8)
    arr[rng.random(shape) < 0.02] = 1  # speckle so undo must restore non-zero old values
    arr[5:12, 20:40, 20:50] = 2
    arr[15:17, 50:53, 60:63] = 2  # a second, smaller island of label 2
    lm = LabelMap(arr, Geometry((0.8, 0.8, 2.0)), [Label(1, "one"), Label(2, "two"), Label(3, "three")])
    return SegmentationEditor(lm)


def test_undo_redo_bit_for_bit_across_every_operation() -> None:
    ed = make_editor()
    arr = ed.label_map.array
    states = [arr.copy()]
    tables = [list(ed.label_map.labels)]

    def step() -> None:
        assert len(ed.history) == len(states), "each operation here changes something"
        states.append(arr.copy())
        tables.append(list(ed.label_map.labels))

    ed.active_value = 3
    ed.radius_mm = 4.0
    ed.paint_stroke([(5.0, 5.0, 3.0), (60.0, 50.0, 3.0), (10.0, 60.0, 3.0)], slice_axis=2)
    step()
    ed.sphere = True
    ed.paint_stroke([(30.0, 30.0, 8.0), (35.0, 33.0, 9.0)], slice_axis=2)
    step()
    ed.sphere = False
    ed.paint_stroke([(30.0, 30.0, 8.0)], slice_axis=2, erase=True)
    step()
    ed.fill((1.0, 1.0, 15.0), slice_axis=None, value=3)
    step()
    ed.keep_largest(2)
    step()
    ed.remove_label(3)
    step()
    lab = ed.add_label("new")
    step()
    ed.rename_label(lab.value, "renamed")
    step()
    ed.recolor_label(lab.value, (1, 2, 3))
    step()
    assert [x.name for x in ed.label_map.labels][-1] == "renamed"

    # undo everything: each recorded state comes back exactly, labels too
    for n in range(len(states) - 1, 0, -1):
        ed.undo()
        assert np.array_equal(arr, states[n - 1]), f"undo to state {n - 1}"
        assert ed.label_map.labels == tables[n - 1]
    assert not ed.history.can_undo
    while ed.history.can_redo:
        ed.redo()
    assert np.array_equal(arr, states[-1]) and ed.label_map.labels == tables[-1]


def test_a_stroke_is_one_undo_step_and_new_edits_drop_redo() -> None:
    ed = make_editor()
    before = ed.label_map.array.copy()
    ed.stroke_begin((10.0, 10.0, 4.0), slice_axis=2)
    for x in range(11, 50, 3):
        ed.stroke_to((float(x), 12.0, 4.0))
    box = ed.stroke_end()
    assert box is not None and box.z == (4, 5)
    assert len(ed.history) == 1
    ed.undo()
    assert np.array_equal(ed.label_map.array, before)
    ed.paint_stroke([(30.0, 30.0, 2.0)], slice_axis=2)
    assert not ed.history.can_redo


def test_no_change_makes_no_step() -> None:
    ed = make_editor()
    ed.active_value = 2
    ed.paint_stroke([(30.0, 30.0, 8.0)], slice_axis=2)  # inside the label-2 block already
    assert len(ed.history) == 0


def test_undo_memory_of_ten_strokes_is_at_most_twice_the_changed_bytes() -> None:
    shape = (40, 256, 256)
    lm = LabelMap(np.zeros(shape, np.uint8), Geometry((0.7, 0.7, 2.5)), [Label(1, "x")])
    ed = SegmentationEditor(lm)
    ed.radius_mm = 4.0
    rng = np.random.default_rng(3)
    changed = 0
    for s in range(10):
        before = lm.array.copy()
        pts = np.cumsum(rng.normal(0, 6, size=(25, 3)), axis=0) + np.array([128.0, 128.0, 0.0])
        pts[:, 2] = 3 + s * 3
        ed.paint_stroke([tuple(p) for p in np.clip(pts, 0, 255)], slice_axis=2)
        changed += int((before != lm.array).sum()) * lm.array.itemsize
    assert len(ed.history) == 10
    assert changed > 0
    assert ed.history.nbytes <= 2 * changed, (ed.history.nbytes, changed)
    # and far less than a volume copy per step (the naive undo)
    assert ed.history.nbytes < lm.array.nbytes / 100


def test_history_trims_oldest_steps_beyond_its_budget() -> None:
    lm = LabelMap(np.zeros((4, 32, 32), np.uint8), Geometry(), [Label(1, "x")])
    h = EditHistory(lm, max_steps=3)
    ed = SegmentationEditor(lm)
    ed.history = h
    for x in range(6):
        ed.paint_stroke([(4.0 + 4 * x, 5.0, 1.0)], slice_axis=2)
    assert len(h) == 3
