"""Island clean-up: keep the largest connected piece of a label, or drop pieces below N voxels.

AI masks often carry specks of false positives away from the structure; these two operations are
what a reader reaches for first. Removed voxels become background (0). Connectivity is scipy's rank
(1 = 6-connected in 3D, 3 = 26-connected).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .box import Box, Edit


def _components(labels: np.ndarray, value: int, connectivity: int) -> tuple[np.ndarray, np.ndarray, int]:
    structure = ndimage.generate_binary_structure(3, min(max(int(connectivity), 1), 3))
    comp, n = ndimage.label(labels == value, structure=structure)
    sizes = np.bincount(comp.ravel(), minlength=n + 1)
    sizes[0] = 0
    return comp, sizes, n


def _removal(labels: np.ndarray, comp: np.ndarray, drop: np.ndarray) -> Edit | None:
    """An edit setting to 0 the voxels of the components flagged in ``drop`` (indexed by component)."""
    if not drop.any():
        return None
    removed = drop[comp]
    box = Box.of_mask(removed)
    if box is None:
        return None
    block = labels[box.slices].copy()
    block[removed[box.slices]] = 0
    return Edit(box, block)


def keep_largest_component_edit(labels: np.ndarray, value: int, connectivity: int = 1) -> Edit | None:
    """Remove every piece of label ``value`` except the largest one (None if there is one piece)."""
    comp, sizes, n = _components(labels, value, connectivity)
    if n <= 1:
        return None
    drop = np.ones(n + 1, bool)
    drop[0] = False
    drop[int(np.argmax(sizes))] = False
    return _removal(labels, comp, drop)


def remove_small_components_edit(
    labels: np.ndarray, value: int, min_voxels: int, connectivity: int = 1
) -> Edit | None:
    """Remove the pieces of label ``value`` smaller than ``min_voxels`` voxels."""
    comp, sizes, n = _components(labels, value, connectivity)
    if n == 0:
        return None
    drop = sizes < int(min_voxels)
    drop[0] = False
    return _removal(labels, comp, drop)


__all__ = ["keep_largest_component_edit", "remove_small_components_edit"]
