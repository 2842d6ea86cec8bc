"""Flood fill on one slice (2D) or through the volume (3D).

The region grown from the seed is every voxel connected to it that carries the seed's label (the
"paint bucket" rule: clicking inside an outline fills the inside, clicking background around a
structure fills the background up to it) and, when ``value_range`` is given, whose image value lies
in that range (e.g. fill a contrast-filled vessel between 150 and 600 HU). Connectivity is scipy's
rank: 1 = faces only (4 in 2D, 6 in 3D), 2 = also edges (8 / 18), 3 = also corners (26).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from .box import Box, Edit


def _candidates(
    labels: np.ndarray, seed_value: int, image: np.ndarray | None, value_range: tuple[float, float] | None
) -> np.ndarray:
    mask = labels == seed_value
    if image is not None and value_range is not None:
        lo, hi = sorted(float(v) for v in value_range)
        mask &= (image >= lo) & (image <= hi)
    return mask


def flood_fill_edit(
    labels: np.ndarray,
    seed_ijk: Sequence[int],
    value: int,
    *,
    slice_axis: int | None = None,
    connectivity: int = 1,
    image: np.ndarray | None = None,
    value_range: tuple[float, float] | None = None,
) -> Edit | None:
    """Fill the region connected to ``seed_ijk`` = (i, j, k) = (x, y, z) with ``value``.

    ``slice_axis`` (0 = x, 1 = y, 2 = z grid axis) keeps the fill on the seed's slice; None fills
    in 3D. Returns None when the seed is outside the grid, outside ``value_range``, or the region
    already has ``value``.
    """
    i, j, k = (int(v) for v in seed_ijk)
    nz, ny, nx = labels.shape
    if not (0 <= i < nx and 0 <= j < ny and 0 <= k < nz):
        return None
    seed_value = int(labels[k, j, i])
    restricted = image is not None and value_range is not None
    if seed_value == value and not restricted:
        return None
    if slice_axis is None:
        region_box = Box.full(labels.shape)
    else:
        zyx_axis = 2 - slice_axis
        bounds = [(0, nz), (0, ny), (0, nx)]
        pos = (k, j, i)[zyx_axis]
        bounds[zyx_axis] = (pos, pos + 1)
        region_box = Box(*bounds)  # type: ignore[arg-type]
    sl = region_box.slices
    cand = _candidates(labels[sl], seed_value, None if image is None else image[sl], value_range)
    seed_local = (k - region_box.z[0], j - region_box.y[0], i - region_box.x[0])
    if not cand[seed_local]:
        return None
    # label in the slice's own 2D (so connectivity means 4/8 there), then back to 3D
    squeeze = None if slice_axis is None else 2 - slice_axis
    work = cand if squeeze is None else np.squeeze(cand, axis=squeeze)
    structure = ndimage.generate_binary_structure(work.ndim, min(max(int(connectivity), 1), work.ndim))
    comp, _n = ndimage.label(work, structure=structure)
    seed_work = seed_local if squeeze is None else tuple(v for a, v in enumerate(seed_local) if a != squeeze)
    region = comp == comp[seed_work]
    del comp
    if squeeze is not None:
        region = np.expand_dims(region, axis=squeeze)
    local = Box.of_mask(region)
    assert local is not None  # the seed itself is in the region
    box = Box(
        (local.z[0] + region_box.z[0], local.z[1] + region_box.z[0]),
        (local.y[0] + region_box.y[0], local.y[1] + region_box.y[0]),
        (local.x[0] + region_box.x[0], local.x[1] + region_box.x[0]),
    )
    block = labels[box.slices].copy()
    block[region[local.slices]] = value
    return Edit(box, block)


__all__ = ["flood_fill_edit"]
