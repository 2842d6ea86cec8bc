"""Agreement between the AI's mask and the corrected one: Dice and the 95% Hausdorff distance in mm.

HD95 follows MONAI's definition (the larger of the two directed 95th percentiles of surface-to-surface
distances), with voxel spacing honoured so anisotropic CT gives millimetres, not voxels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two boolean masks; 1.0 when both are empty (nothing to disagree on)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def surface_voxels(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(mask.ndim, 1))


def hausdorff95(a: np.ndarray, b: np.ndarray, spacing_zyx: Sequence[float]) -> float | None:
    """95% Hausdorff distance (mm) between two boolean masks on a grid of ``spacing_zyx`` mm.

    0.0 when both are empty; None when exactly one is (the distance is undefined, not infinite).
    """
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if not a.any() and not b.any():
        return 0.0
    if not a.any() or not b.any():
        return None
    sa, sb = surface_voxels(a), surface_voxels(b)
    to_b = ndimage.distance_transform_edt(~sb, sampling=spacing_zyx)
    to_a = ndimage.distance_transform_edt(~sa, sampling=spacing_zyx)
    return float(max(np.percentile(to_b[sa], 95), np.percentile(to_a[sb], 95)))
