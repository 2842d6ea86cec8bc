"""Colour tables for overlays: per-label lookup tables and heatmap colour maps (no matplotlib).

Why hand-made tables: matplotlib is a large import for a handful of colour ramps, and the app must
start fast. The ramps below are matplotlib's, sampled at 9 evenly spaced points and linearly
interpolated, which is visually indistinguishable at overlay opacities.

Label lookup tables are *indexed by value*: entry ``v`` is label ``v``'s colour, the table range is
``(-0.5, n - 0.5)`` so VTK's linear index ``floor((v + 0.5) * n / n)`` lands exactly on ``v`` for
every integer value (a plain ``(0, n - 1)`` range drifts by one entry for large values).
Background (0), hidden labels and values without a table entry are fully transparent.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from vtkmodules.vtkCommonCore import vtkLookupTable

from ..model import Label

COLORMAPS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "inferno": (
        (0, 0, 4), (33, 12, 74), (87, 16, 110), (138, 34, 106), (188, 55, 84),
        (228, 90, 49), (249, 142, 9), (249, 203, 53), (252, 255, 164),
    ),
    "magma": (
        (0, 0, 4), (29, 17, 71), (81, 18, 124), (131, 38, 129), (183, 55, 121),
        (231, 82, 99), (252, 137, 97), (254, 196, 136), (252, 253, 191),
    ),
    "viridis": (
        (68, 1, 84), (71, 45, 123), (59, 82, 139), (44, 114, 142), (33, 145, 140),
        (40, 174, 128), (94, 201, 98), (173, 220, 48), (253, 231, 37),
    ),
    "hot": (
        (11, 0, 0), (95, 0, 0), (179, 0, 0), (255, 8, 0), (255, 92, 0),
        (255, 176, 0), (255, 255, 7), (255, 255, 133), (255, 255, 255),
    ),
    "jet": (
        (0, 0, 128), (0, 0, 255), (0, 128, 255), (22, 255, 225), (125, 255, 122),
        (228, 255, 19), (255, 148, 0), (255, 30, 0), (128, 0, 0),
    ),
}

# Colours for labels that a LabelMap lists without one (or values it does not list at all).
DEFAULT_LABEL_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 64, 64), (64, 200, 64), (64, 128, 255), (255, 200, 40), (200, 64, 255),
    (40, 220, 220), (255, 128, 0), (255, 105, 180),
)

HEATMAP_TABLE_SIZE = 256


def colormap_rgb(name: str, n: int = HEATMAP_TABLE_SIZE) -> np.ndarray:
    """``(n, 3)`` float RGB in [0, 1] of colour map ``name`` sampled from its low to its high end."""
    if name not in COLORMAPS:
        raise ValueError(f"unknown colour map {name!r}; choose from {sorted(COLORMAPS)}")
    anchors = np.asarray(COLORMAPS[name], dtype=float) / 255.0
    xs = np.linspace(0.0, 1.0, len(anchors))
    t = np.linspace(0.0, 1.0, max(int(n), 2))
    return np.column_stack([np.interp(t, xs, anchors[:, c]) for c in range(3)])


def label_color(label: Label | None, value: int) -> tuple[int, int, int]:
    """A label's own colour, or a stable default for values the table does not describe."""
    if label is not None and label.color is not None:
        return tuple(int(c) for c in label.color)  # type: ignore[return-value]
    return DEFAULT_LABEL_COLORS[(int(value) - 1) % len(DEFAULT_LABEL_COLORS)]


def label_lookup_table(
    labels: Iterable[Label], max_value: int, hidden: Iterable[int] = ()
) -> vtkLookupTable:
    """An indexed table for label values ``0..max_value``: colours from ``labels``, alpha 0 for
    background and hidden values (see the module docstring for the range convention)."""
    by_value = {int(lab.value): lab for lab in labels}
    hidden_set = {int(v) for v in hidden}
    n = max(int(max_value), max(by_value, default=0), 1) + 1
    rgba = np.zeros((n, 4), dtype=float)
    for value in range(1, n):
        r, g, b = label_color(by_value.get(value), value)
        rgba[value] = (r / 255.0, g / 255.0, b / 255.0, 0.0 if value in hidden_set else 1.0)
    table = vtkLookupTable()
    table.SetNumberOfTableValues(n)
    table.SetTableRange(-0.5, n - 0.5)
    for i, (r, g, b, a) in enumerate(rgba):
        table.SetTableValue(i, r, g, b, a)
    table.SetNanColor(0.0, 0.0, 0.0, 0.0)
    table.UseBelowRangeColorOn()
    table.SetBelowRangeColor(0.0, 0.0, 0.0, 0.0)
    table.UseAboveRangeColorOn()
    table.SetAboveRangeColor(0.0, 0.0, 0.0, 0.0)
    table.Build()
    return table


def heatmap_lookup_table(
    cmap: str, vmin: float, vmax: float, threshold: float | None = None
) -> vtkLookupTable:
    """Colour map over ``[vmin, vmax]``; values below ``threshold`` (when given) are transparent.

    The threshold cut is exact, not rounded to a table entry: the table covers only
    ``[threshold, vmax]`` -- with the colours that part has on the full ``[vmin, vmax]`` ramp, so
    moving the threshold never recolours what stays visible -- and everything below the range is
    the transparent below-range colour.
    """
    vmax = float(vmax) if vmax > vmin else float(vmin) + 1e-6
    lo = float(vmin) if threshold is None else float(min(max(threshold, vmin), vmax))
    rgb = colormap_rgb(cmap, 1024)
    # the slice of the full ramp that [lo, vmax] covers
    first = round((lo - vmin) / (vmax - vmin) * (len(rgb) - 1))
    part = rgb[first:]
    idx = np.linspace(0, len(part) - 1, HEATMAP_TABLE_SIZE).round().astype(int)
    table = vtkLookupTable()
    table.SetNumberOfTableValues(HEATMAP_TABLE_SIZE)
    table.SetTableRange(lo, vmax if vmax > lo else lo + 1e-6)
    for i, k in enumerate(idx):
        table.SetTableValue(i, *part[k], 1.0)
    table.UseBelowRangeColorOn()
    table.SetBelowRangeColor(0.0, 0.0, 0.0, 0.0 if threshold is not None else 1.0)
    if threshold is None:
        table.SetBelowRangeColor(*rgb[0], 1.0)
    table.UseAboveRangeColorOn()
    table.SetAboveRangeColor(*rgb[-1], 1.0)
    table.SetNanColor(0.0, 0.0, 0.0, 0.0)
    table.Build()
    return table


def full_range_table(cmap: str, vmin: float, vmax: float) -> vtkLookupTable:
    """The whole ramp over ``[vmin, vmax]``, opaque: what a colour bar shows."""
    table = vtkLookupTable()
    rgb = colormap_rgb(cmap)
    table.SetNumberOfTableValues(len(rgb))
    table.SetTableRange(float(vmin), float(vmax) if vmax > vmin else float(vmin) + 1e-6)
    for i, c in enumerate(rgb):
        table.SetTableValue(i, *c, 1.0)
    table.Build()
    return table
