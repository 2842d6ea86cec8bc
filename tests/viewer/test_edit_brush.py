"""Brush, eraser and threshold paint on known arrays: exactly the voxels a disc/sphere in mm covers."""

from __future__ import annotations

import numpy as np
import pytest

from medlens.viewer.edit import SegmentationEditor, apply_edit, brush_edit, stroke_mask
from medlens.viewer.model import Geometry, Label, LabelMap

SPACING = (0.7, 0.9, 2.5)  # anisotropic on purpose: x, y, z


def disc_expected(shape, centre_ijk, radius_mm, spacing, slice_axis=None):
    """Brute force: every voxel centre within radius_mm (measured in mm) of the centre."""
    z, y, x = np.indices(shape, dtype=float)
    c = np.asarray(centre_ijk, float)
    d = [(x - c[0]) * spacing[0], (y - c[1]) * spacing[1], (z - c[2]) * spacing[2]]
    if slice_axis is not None:
        k = int(np.floor(c[slice_axis] + 0.5))
        on_slice = (x, y, z)[slice_axis] == k
        d[slice_axis] = 0 * d[slice_axis]
    dist2 = d[0] ** 2 + d[1] ** 2 + d[2] ** 2
    mask = dist2 <= radius_mm**2 + 1e-9
    if slice_axis is not None:
        mask &= on_slice
    nearest = tuple(int(np.floor(v + 0.5)) for v in c[::-1])
    if slice_axis is not None:
        nearest = list(nearest)
        nearest[2 - slice_axis] = k
        nearest = tuple(nearest)
    mask[nearest] = True
    return mask


@pytest.mark.parametrize("slice_axis", [2, 1, 0, None])
def test_disc_and_sphere_follow_mm_not_voxels(slice_axis) -> None:
    shape = (12, 30, 40)
    labels = np.zeros(shape, np.uint8)
    centre = (20.3, 14.6, 5.2)
    edit = brush_edit(labels, centre, None, 4.0, SPACING, 3, slice_axis=slice_axis)
    apply_edit(labels, edit)
    expected = disc_expected(shape, centre, 4.0, SPACING, slice_axis)
    np.testing.assert_array_equal(labels == 3, expected)
    assert labels.max() == 3 and set(np.unique(labels)) == {0, 3}
    # the returned box holds every changed voxel and nothing outside the grid
    outside = labels.copy()
    outside[edit.box.slices] = 0
    assert not outside.any()
    if slice_axis == 2:  # axial disc: wider in x voxels than in y (0.7 vs 0.9 mm)
        row = expected[5, 15]
        col = expected[5, :, 20]
        assert row.sum() > col.sum()


def test_stroke_segment_has_no_gaps() -> None:
    """A fast stroke (two far-apart positions) covers everything the discs in between cover."""
    shape = (3, 60, 80)
    p0, p1 = np.array([5.0, 8.0, 1.0]), np.array([70.0, 50.0, 1.0])
    box, mask = stroke_mask(p0, p1, 2.0, SPACING, shape, slice_axis=2)
    full = np.zeros(shape, bool)
    full[box.slices] = mask
    union = np.zeros(shape, bool)
    for t in np.linspace(0, 1, 2000):
        union |= disc_expected(shape, p0 + t * (p1 - p0), 2.0, SPACING, 2)
    assert not (union & ~full).any(), "a disc between the mouse positions was not painted"
    bigger = np.zeros(shape, bool)
    for t in np.linspace(0, 1, 2000):
        bigger |= disc_expected(shape, p0 + t * (p1 - p0), 2.05, SPACING, 2)
    assert not (full & ~bigger).any(), "painted beyond the brush radius"
    assert not full[0].any() and not full[2].any()  # stays on its slice


def test_brush_smaller_than_a_voxel_still_paints() -> None:
    labels = np.zeros((4, 10, 10), np.uint8)
    apply_edit(labels, brush_edit(labels, (3.2, 4.9, 2.0), None, 0.1, SPACING, 1, slice_axis=2))
    assert labels.sum() == 1 and labels[2, 5, 3] == 1


def test_brush_off_the_grid_is_clipped() -> None:
    labels = np.zeros((4, 10, 10), np.uint8)
    assert brush_edit(labels, (-50.0, -50.0, 2.0), None, 2.0, SPACING, 1, slice_axis=2) is None
    edit = brush_edit(labels, (0.0, 0.0, 2.0), None, 3.0, SPACING, 1, slice_axis=2)
    assert edit.box.x[0] == 0 and edit.box.y[0] == 0


def _editor(shape=(6, 40, 50)) -> SegmentationEditor:
    lm = LabelMap(np.zeros(shape, np.uint8), Geometry(SPACING), [Label(1, "a"), Label(2, "b")])
    return SegmentationEditor(lm)


def test_eraser_clears_the_active_label_only_unless_erase_all() -> None:
    ed = _editor()
    arr = ed.label_map.array
    arr[2, 10:30, 10:20] = 1
    arr[2, 10:30, 20:30] = 2
    ed.active_value = 1
    ed.radius_mm = 30.0
    ed.paint_stroke([(20.0, 20.0, 2.0)], slice_axis=2, erase=True)
    assert not (arr == 1).any() and (arr == 2).sum() == 200
    ed.undo()
    assert (arr == 1).sum() == 200
    ed.erase_all = True
    ed.paint_stroke([(20.0, 20.0, 2.0)], slice_axis=2, erase=True)
    assert not arr.any()


def test_threshold_paint_only_within_the_range() -> None:
    from medlens.viewer.model import Volume

    ed = _editor()
    image = np.full(ed.label_map.array.shape, -900, np.int16)  # air
    image[:, :, 25:] = 40  # soft tissue on the right half
    image[:, 18:22, 30:35] = 700  # bone in it
    ed.image = Volume(image, ed.label_map.geometry)
    ed.threshold = (-100.0, 200.0)
    ed.radius_mm = 100.0
    ed.paint_stroke([(25.0, 20.0, 3.0), (26.0, 20.0, 3.0)], slice_axis=2)
    painted = ed.label_map.array[3] == 1
    tissue = (image[3] >= -100) & (image[3] <= 200)
    np.testing.assert_array_equal(painted, tissue)
    assert not ed.label_map.array[[0, 1, 2, 4, 5]].any()
