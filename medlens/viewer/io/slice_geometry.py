"""Stacking single slices into a grid: sort order, spacing, direction, gaps and gantry tilt.

Why this is its own module: every DICOM flavour (classic series, enhanced multi-frame) ends up as
"frames with a position and an orientation", and the rules for turning those into a regular grid
must be the same everywhere and agree with SimpleITK/GDCM:

* slices are sorted by the projection of ImagePositionPatient on the slice normal
  (row cosines x column cosines) — never by InstanceNumber or file name;
* the third direction column is that normal, so positions increase along it, and the origin is the
  position of the first slice after sorting;
* the z spacing is the mean step between consecutive slices along the normal (first to last over
  n-1, as ITK does). With a gantry tilt SimpleITK instead uses the Euclidean distance between slice
  origins, which stretches the volume by 1/cos(tilt); we keep the distance along the normal.

Irregular stacks are *not* resampled: interpolating diagnostic data behind the user's back is
worse than a clear warning. What we do instead:

* a gap that is a whole multiple of the usual step (a missing or unreadable file) is filled with
  zero-valued slices so everything after it stays in place, and a warning names the gap;
* any other unevenness is reported in the warnings with the largest deviation, and the slices are
  stacked at the mean step (voxel positions may then be off by up to that deviation);
* a gantry tilt (slice positions not moving along the normal) is reported with its angle; the grid
  stays orthogonal (like SimpleITK), so anatomy appears sheared by that angle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..model import Geometry


@dataclass
class StackLayout:
    """Where each input frame goes along z; ``None`` slots are gaps filled with zeros."""

    order: list[int | None]  # input index per output slice
    geometry: Geometry
    warnings: list[str] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)  # inputs left out (duplicate positions)


def slice_normal(orientation: Sequence[float]) -> np.ndarray:
    row = np.asarray(orientation[:3], dtype=float)
    col = np.asarray(orientation[3:6], dtype=float)
    normal = np.cross(row, col)
    norm = np.linalg.norm(normal)
    return normal / norm if norm > 0 else np.array([0.0, 0.0, 1.0])


def orientation_key(orientation: Sequence[float] | None) -> tuple[float, ...]:
    """Orientation rounded for grouping (scanners jitter in the last digits)."""
    if orientation is None:
        return ()
    return tuple(round(float(v), 3) + 0.0 for v in orientation[:6])


def stack(
    positions: Sequence[Sequence[float]],
    orientation: Sequence[float],
    pixel_spacing: tuple[float, float],
    tie_break: Sequence[Any] | None = None,
    labels: Sequence[str] | None = None,
    fallback_thickness: float | None = None,
) -> StackLayout:
    """Sort frames along the slice normal and derive the grid (see the module docstring).

    ``fallback_thickness`` is the z spacing of a one-slice stack (DICOM's SpacingBetweenSlices,
    as GDCM uses; 1 mm without it)."""
    row = np.asarray(orientation[:3], dtype=float)
    col = np.asarray(orientation[3:6], dtype=float)
    row /= np.linalg.norm(row) or 1.0
    col /= np.linalg.norm(col) or 1.0
    normal = slice_normal(orientation)
    pos = np.asarray(positions, dtype=float).reshape(-1, 3)
    n = len(pos)
    dist = pos @ normal
    ties = list(tie_break) if tie_break is not None else [0] * n
    order = sorted(range(n), key=lambda i: (round(float(dist[i]), 4), _sortable(ties[i]), i))
    warnings: list[str] = []
    dropped: list[int] = []
    # Frames at the same position (repeats, multi-echo) cannot share a grid: keep the first.
    kept: list[int] = []
    for i in order:
        if kept and abs(dist[i] - dist[kept[-1]]) < 1e-3:
            dropped.append(i)
            continue
        kept.append(i)
    if dropped:
        warnings.append(
            f"{len(dropped)} slice(s) share a position with another slice (repeated or multi-echo "
            "acquisition?); only the first at each position is shown"
        )
    label = (lambda i: labels[i]) if labels is not None else (lambda i: f"slice {i}")
    xy = (float(pixel_spacing[1]), float(pixel_spacing[0]))  # (column step, row step) = (x, y)
    if len(kept) == 1:
        dz = float(fallback_thickness) if fallback_thickness and fallback_thickness > 0 else 1.0
        direction = np.column_stack([row, col, normal])
        geo = Geometry((xy[0], xy[1], dz), tuple(pos[kept[0]]), direction)
        return StackLayout(list(kept), geo, warnings, dropped)

    d = dist[kept]
    steps = np.diff(d)
    median = float(np.median(steps))
    slots: list[int | None] = [kept[0]]
    tol = max(1e-3, 0.01 * median)
    uneven = False
    for a, b, step in zip(kept[:-1], kept[1:], steps, strict=True):
        ratio = step / median
        m = round(ratio)
        if m >= 2 and abs(step - m * median) <= max(tol, 0.05 * median):
            slots.extend([None] * (m - 1))
            warnings.append(
                f"{m - 1} slice(s) missing between {label(a)} (z={dist[a]:.2f} mm) and {label(b)} "
                f"(z={dist[b]:.2f} mm); the gap is filled with zeros"
            )
        elif abs(step - median) > tol:
            uneven = True
        slots.append(b)
    dz = float((d[-1] - d[0]) / (len(slots) - 1))
    if uneven:
        slot_of = np.array([k for k, i in enumerate(slots) if i is not None], dtype=float)
        worst = float(np.max(np.abs(d - (d[0] + dz * slot_of))))
        warnings.append(
            f"uneven slice spacing: steps from {steps.min():.3f} to {steps.max():.3f} mm; slices are "
            f"shown at the mean step of {dz:.3f} mm (first and last in place, not resampled), so "
            f"positions along z can be off by up to {worst:.2f} mm"
        )
    # Gantry tilt: the stacking direction leaves the normal.
    travel = pos[kept[-1]] - pos[kept[0]]
    if np.linalg.norm(travel) > 0:
        cos = abs(float(travel @ normal)) / float(np.linalg.norm(travel))
        angle = float(np.degrees(np.arccos(min(1.0, cos))))
        if angle > 0.05:
            warnings.append(
                f"gantry tilt of {angle:.1f}° detected (slices are not stacked along their normal); "
                "the grid is kept orthogonal, so anatomy appears sheared by that angle"
            )
    direction = np.column_stack([row, col, normal])
    if dz <= 0:
        dz = 1.0
    geo = Geometry((xy[0], xy[1], dz), tuple(pos[kept[0]]), direction)
    return StackLayout(slots, geo, warnings, dropped)


def _sortable(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


__all__ = ["StackLayout", "orientation_key", "slice_normal", "stack"]
