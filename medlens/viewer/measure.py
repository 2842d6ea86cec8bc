"""Measurement maths: distances and elliptical ROI statistics (numpy only, no VTK).

Distances are Euclidean in LPS millimetres, so anisotropic spacing and oblique grids are handled
by converting indices with :meth:`Geometry.index_to_lps` first.

Elliptical ROIs live on one displayed slice. Panes show voxel-grid planes (see
:mod:`medlens.viewer.render.orientation`), so an ROI's axes are the two in-plane grid axes and
``radii_mm = (horizontal, vertical)`` are measured along screen right and screen up of that pane.
A voxel is inside when its *centre* is inside the ellipse -- the same rule as most PACS -- so
``n`` voxels are averaged; ``area_mm2`` is the geometric ellipse area pi * a * b (what the user
drew), and ``voxel_area_mm2`` is n times the in-plane voxel area (what was averaged). ``sd`` is the
population standard deviation (ddof = 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .model import Volume
from .render.orientation import plane_axes


def distance_mm(p_lps: Sequence[float] | np.ndarray, q_lps: Sequence[float] | np.ndarray) -> float:
    """Euclidean distance between two LPS points, in mm."""
    return float(np.linalg.norm(np.asarray(p_lps, dtype=float) - np.asarray(q_lps, dtype=float)))


def distance_between_indices(volume: Volume, a_ijk, b_ijk) -> float:
    """Distance in mm between two (continuous) voxel indices of ``volume``."""
    return distance_mm(volume.index_to_lps(a_ijk), volume.index_to_lps(b_ijk))


def ellipse_mask(
    volume: Volume, orientation: str, slice_index: int, centre_ijk, radii_mm
) -> tuple[np.ndarray, tuple[slice, slice, slice]]:
    """Boolean mask of the voxels of one slice whose centres lie inside the ellipse.

    Returns ``(mask, where)``; ``volume.array[where][mask]`` are the ROI voxels. Only the
    ellipse's bounding box is evaluated, so large slices cost nothing extra.
    """
    axes = plane_axes(volume.direction, orientation, volume.meta.is_2d)
    shape_xyz = volume.shape_xyz
    spacing = volume.spacing
    centre = np.asarray(centre_ijk, dtype=float)
    ru, rv = (float(r) for r in radii_mm)
    if ru <= 0 or rv <= 0:
        raise ValueError(f"ellipse radii must be positive, got {radii_mm}")
    if not 0 <= slice_index < shape_xyz[axes.slice_axis]:
        raise IndexError(f"slice {slice_index} outside 0..{shape_xyz[axes.slice_axis] - 1}")
    lo_hi = []
    for axis, r in ((axes.u_axis, ru), (axes.v_axis, rv)):
        half = r / spacing[axis]
        lo = max(0, math.ceil(centre[axis] - half))
        hi = min(shape_xyz[axis], math.floor(centre[axis] + half) + 1)
        lo_hi.append((lo, max(lo, hi)))
    (u0, u1), (v0, v1) = lo_hi
    du = (np.arange(u0, u1) - centre[axes.u_axis]) * spacing[axes.u_axis] / ru
    dv = (np.arange(v0, v1) - centre[axes.v_axis]) * spacing[axes.v_axis] / rv
    inside_uv = du[:, None] ** 2 + dv[None, :] ** 2 <= 1.0  # indexed [u, v]

    # build the (z, y, x) selection and put the mask in the same axis order as the array slice
    index = [slice(None)] * 3
    index[axes.slice_axis] = slice(slice_index, slice_index + 1)
    index[axes.u_axis] = slice(u0, u1)
    index[axes.v_axis] = slice(v0, v1)
    where = (index[2], index[1], index[0])  # array order (z, y, x)
    # array axes are reversed grid axes; the mask is [u, v] -> reorder to the array's in-plane order
    mask = inside_uv if axes.u_axis > axes.v_axis else inside_uv.T
    mask = np.expand_dims(mask, axis=2 - axes.slice_axis)
    return mask, where


def ellipse_roi_stats(volume: Volume, orientation: str, slice_index: int, centre_ijk, radii_mm) -> dict:
    """Statistics of the voxels of one slice inside an ellipse (see module docstring).

    ``centre_ijk`` is a continuous (i, j, k) index (its component along the slice axis is
    ignored: ``slice_index`` says which slice); ``radii_mm`` = (along screen right, along screen up).
    Returns ``dict(mean, sd, min, max, area_mm2, n, voxel_area_mm2)``; statistics are NaN when no
    voxel centre falls inside.
    """
    mask, where = ellipse_mask(volume, orientation, slice_index, centre_ijk, radii_mm)
    values = np.asarray(volume.array[where], dtype=np.float64)[mask]
    axes = plane_axes(volume.direction, orientation, volume.meta.is_2d)
    pixel_area = volume.spacing[axes.u_axis] * volume.spacing[axes.v_axis]
    n = int(values.size)
    nan = float("nan")
    return {
        "mean": float(values.mean()) if n else nan,
        "sd": float(values.std()) if n else nan,
        "min": float(values.min()) if n else nan,
        "max": float(values.max()) if n else nan,
        "area_mm2": float(math.pi * float(radii_mm[0]) * float(radii_mm[1])),
        "n": n,
        "voxel_area_mm2": float(n * pixel_area),
    }


def format_distance(mm: float) -> str:
    """Ruler label, e.g. "12.3 mm" (cm are not used: radiology reports in mm)."""
    return f"{mm:.1f} mm"


def format_stats(stats: dict, units: str = "") -> str:
    """Ellipse label: mean +/- sd, min/max and area, in the volume's units."""
    u = f" {units}" if units else ""
    if not stats["n"]:
        return f"no voxels\n{stats['area_mm2']:.1f} mm²"
    return (
        f"mean {stats['mean']:.1f} ± {stats['sd']:.1f}{u}\n"
        f"min {stats['min']:.1f}  max {stats['max']:.1f}\n"
        f"area {stats['area_mm2']:.1f} mm²  (n={stats['n']})"
    )
