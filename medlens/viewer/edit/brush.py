"""Brush and eraser: a disc on one slice (2D) or a sphere (3D), dragged along a stroke.

Why a capsule: a mouse reports positions tens of pixels apart on a fast stroke. Painting a disc at
each reported position leaves gaps; painting every voxel within ``radius`` mm of the *segment*
between two positions (a capsule) is the exact union of all the discs in between, costs one
vectorised distance computation over the segment's bounding box, and so never has gaps.

Distances are measured in millimetres, ``(index difference) * spacing`` per axis, so a 5 mm brush
is round on screen even when voxels are 0.7 x 0.7 x 2.5 mm (the direction matrix is orthonormal and
does not change lengths). Points are continuous grid indices ``(i, j, k)`` = ``(x, y, z)``, as
:meth:`medlens.viewer.model.Geometry.lps_to_index` returns them; arrays are ``(z, y, x)``.

Threshold paint (``value_range``) only changes voxels whose image value lies in the range, e.g.
painting a lesion with a wide brush while skipping air and bone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .box import Box, Edit

Point = Sequence[float] | np.ndarray


def _nearest(p: np.ndarray, shape_xyz: np.ndarray) -> np.ndarray | None:
    q = np.floor(p + 0.5).astype(int)
    return q if bool(np.all((q >= 0) & (q < shape_xyz))) else None


def stroke_mask(
    p0: Point,
    p1: Point | None,
    radius_mm: float,
    spacing: Sequence[float],
    shape_zyx: Sequence[int],
    slice_axis: int | None = None,
) -> tuple[Box, np.ndarray] | None:
    """Voxels within ``radius_mm`` of the segment ``p0``-``p1`` (a single point when ``p1`` is None).

    ``slice_axis`` (0 = x, 1 = y, 2 = z grid axis, as ``SliceView.axes.slice_axis``) restricts the
    brush to the slice through ``p0`` along that axis (a 2D disc); ``None`` paints a 3D sphere.
    Returns the box and a boolean mask of the box's shape, or None when nothing lies inside the grid.
    The voxels nearest to ``p0`` and ``p1`` are always included, so a brush smaller than a voxel
    still paints.
    """
    p0 = np.asarray(p0, dtype=float).copy()
    p1 = p0.copy() if p1 is None else np.asarray(p1, dtype=float).copy()
    s = np.asarray(spacing, dtype=float)
    shape_xyz = np.array([shape_zyx[2], shape_zyx[1], shape_zyx[0]])
    r = max(float(radius_mm), 0.0)
    reach = r / s
    lo = np.floor(np.minimum(p0, p1) - reach).astype(int)
    hi = np.ceil(np.maximum(p0, p1) + reach).astype(int) + 1
    if slice_axis is not None:
        k = int(np.floor(p0[slice_axis] + 0.5))
        p0[slice_axis] = p1[slice_axis] = k
        lo[slice_axis], hi[slice_axis] = k, k + 1
    lo = np.clip(lo, 0, shape_xyz)
    hi = np.clip(hi, 0, shape_xyz)
    if np.any(hi <= lo):
        return None
    # mm offsets of the voxel centres from p0, one open grid per axis, broadcast to (z, y, x)
    gx = ((np.arange(lo[0], hi[0]) - p0[0]) * s[0])[None, None, :]
    gy = ((np.arange(lo[1], hi[1]) - p0[1]) * s[1])[None, :, None]
    gz = ((np.arange(lo[2], hi[2]) - p0[2]) * s[2])[:, None, None]
    d = (p1 - p0) * s
    dd = float(d @ d)
    if dd > 0:
        t = np.clip((gx * d[0] + gy * d[1] + gz * d[2]) / dd, 0.0, 1.0)
        dist2 = (gx - t * d[0]) ** 2 + (gy - t * d[1]) ** 2 + (gz - t * d[2]) ** 2
    else:
        dist2 = gx**2 + gy**2 + gz**2
    mask = dist2 <= r * r * (1 + 1e-9) + 1e-12
    for p in (p0, p1):
        q = _nearest(p, shape_xyz)
        if q is not None and np.all(q >= lo) and np.all(q < hi):
            mask[q[2] - lo[2], q[1] - lo[1], q[0] - lo[0]] = True
    box = Box((int(lo[2]), int(hi[2])), (int(lo[1]), int(hi[1])), (int(lo[0]), int(hi[0])))
    return box, mask


def brush_edit(
    labels: np.ndarray,
    p0: Point,
    p1: Point | None,
    radius_mm: float,
    spacing: Sequence[float],
    value: int,
    *,
    slice_axis: int | None = None,
    erase: bool = False,
    image: np.ndarray | None = None,
    value_range: tuple[float, float] | None = None,
) -> Edit | None:
    """New values for one brush (or eraser) segment; apply with the history, see :mod:`.history`.

    Painting writes ``value`` over whatever label was there; erasing writes 0 (only over ``value``
    when ``value`` is non-zero, so erasing one structure spares its neighbours; ``value=0`` erases
    every label). ``image`` + ``value_range`` (inclusive, e.g. HU) restricts the stroke to voxels
    whose image value lies in the range.
    """
    found = stroke_mask(p0, p1, radius_mm, spacing, labels.shape, slice_axis)
    if found is None:
        return None
    box, mask = found
    block = labels[box.slices].copy()
    if image is not None and value_range is not None:
        lo, hi = sorted(float(v) for v in value_range)
        pixels = image[box.slices]
        mask &= (pixels >= lo) & (pixels <= hi)
    if erase:
        if value:
            mask &= block == value
        block[mask] = 0
    else:
        block[mask] = value
    return Edit(box, block)


def threshold_paint_edit(
    labels: np.ndarray,
    image: np.ndarray,
    p0: Point,
    p1: Point | None,
    radius_mm: float,
    spacing: Sequence[float],
    value: int,
    value_range: tuple[float, float],
    *,
    slice_axis: int | None = None,
) -> Edit | None:
    """A brush segment that only paints voxels whose ``image`` value lies within ``value_range``."""
    return brush_edit(
        labels, p0, p1, radius_mm, spacing, value, slice_axis=slice_axis, image=image, value_range=value_range
    )


__all__ = ["brush_edit", "stroke_mask", "threshold_paint_edit"]
