"""Flood fill (2D/3D, connectivity, intensity bounds), islands and the label table on known arrays."""

from __future__ import annotations

import numpy as np
import pytest

from medlens.viewer.edit import (
    SegmentationEditor,
    apply_edit,
    flood_fill_edit,
    keep_largest_component_edit,
    remove_small_components_edit,
)
from medlens.viewer.edit import labels as table
from medlens.viewer.model import Geometry, Label, LabelMap


def ring_volume() -> np.ndarray:
    """A square outline (label 1) on every slice; inside and outside are background."""
    arr = np.zeros((5, 20, 20), np.uint8)
    arr[:, 4, 4:16] = arr[:, 15, 4:16] = 1
    arr[:, 4:16, 4] = arr[:, 4:16, 15] = 1
    return arr


def test_fill_2d_fills_inside_the_outline_on_that_slice_only() -> None:
    arr = ring_volume()
    edit = flood_fill_edit(arr, (10, 10, 2), 2, slice_axis=2)
    apply_edit(arr, edit)
    assert (arr[2, 5:15, 5:15] == 2).all() and (arr == 2).sum() == 100
    assert edit.box == ((2, 3), (5, 15), (5, 15))


def test_fill_2d_along_other_axes() -> None:
    arr = np.zeros((6, 7, 8), np.uint8)
    arr[:, 3, :] = 1  # a wall at y = 3
    apply_edit(arr, flood_fill_edit(arr, (2, 1, 4), 5, slice_axis=0))  # sagittal slice x = 2
    assert (arr[:, :3, 2] == 5).all() and (arr == 5).sum() == 6 * 3


def test_fill_3d_goes_through_every_slice_and_connectivity_matters() -> None:
    arr = ring_volume()
    apply_edit(arr, flood_fill_edit(arr, (10, 10, 2), 2, slice_axis=None))
    assert (arr[:, 5:15, 5:15] == 2).all() and (arr == 2).sum() == 500

    diag = np.zeros((1, 4, 4), np.uint8)
    diag[0, 0, 0] = diag[0, 1, 1] = 3  # touching only at a corner
    d1 = diag.copy()
    assert apply_edit(d1, flood_fill_edit(d1, (0, 0, 0), 4, slice_axis=2)) is not None
    assert (d1 == 4).sum() == 1
    d2 = diag.copy()
    apply_edit(d2, flood_fill_edit(d2, (0, 0, 0), 4, slice_axis=2, connectivity=2))
    assert (d2 == 4).sum() == 2


def test_fill_bounded_by_intensity() -> None:
    arr = np.zeros((3, 10, 10), np.uint8)
    image = np.zeros(arr.shape, np.int16)
    image[:, :, 6:] = 300  # contrast-filled region on the right
    edit = flood_fill_edit(arr, (8, 5, 1), 1, slice_axis=None, image=image, value_range=(150, 600))
    apply_edit(arr, edit)
    assert (arr == 1).sum() == 3 * 10 * 4 and not arr[:, :, :6].any()
    # a seed outside the range fills nothing
    assert flood_fill_edit(arr, (1, 5, 1), 1, slice_axis=None, image=image, value_range=(150, 600)) is None


def test_fill_with_the_same_value_or_outside_does_nothing() -> None:
    arr = ring_volume()
    assert flood_fill_edit(arr, (4, 4, 0), 1, slice_axis=2) is None
    assert flood_fill_edit(arr, (40, 4, 0), 2, slice_axis=2) is None


def islands() -> np.ndarray:
    arr = np.zeros((6, 20, 20), np.uint8)
    arr[1:5, 2:10, 2:10] = 1  # 256 voxels
    arr[1:3, 14:17, 14:17] = 1  # 18 voxels
    arr[5, 18, 18] = 1  # 1 voxel
    arr[0, 0, 0:3] = 2  # another label, untouched
    return arr


def test_keep_largest_component() -> None:
    arr = islands()
    edit = keep_largest_component_edit(arr, 1)
    apply_edit(arr, edit)
    assert (arr == 1).sum() == 256 and (arr == 2).sum() == 3
    assert keep_largest_component_edit(arr, 1) is None


def test_remove_small_components() -> None:
    arr = islands()
    apply_edit(arr, remove_small_components_edit(arr, 1, 10))
    assert (arr == 1).sum() == 256 + 18
    apply_edit(arr, remove_small_components_edit(arr, 1, 100))
    assert (arr == 1).sum() == 256
    assert remove_small_components_edit(arr, 1, 100) is None


def test_label_table_and_remove_clears_voxels_undoably() -> None:
    lm = LabelMap(islands(), Geometry(), [Label(1, "lesion", (255, 0, 0)), Label(2, "vessel")])
    ed = SegmentationEditor(lm)
    before = lm.array.copy()
    lab = ed.add_label("  ")
    assert lab.value == 3 and lab.name == "label 3" and ed.active_value == 3
    ed.rename_label(1, "tumour")
    ed.recolor_label(1, (0, 255, 0))
    assert lm.label(1) == Label(1, "tumour", (0, 255, 0))
    box = ed.remove_label(1)
    assert box is not None and not (lm.array == 1).any() and lm.label(1) is None
    ed.undo()
    assert np.array_equal(lm.array, before) and lm.label(1) == Label(1, "tumour", (0, 255, 0))
    with pytest.raises(ValueError):
        table.add_label(lm.labels, "dup", value=2)
    with pytest.raises(KeyError):
        table.rename_label(lm.labels, 99, "x")
    assert table.next_value([Label(1, "a"), Label(3, "c")]) == 2
