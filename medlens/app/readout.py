"""Text for the cursor readout and measurements in the status bar (Qt-free)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def format_value(value: float | None, units: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    v = float(value)
    text = f"{v:.0f}" if v.is_integer() and abs(v) < 1e7 else f"{v:.4g}"
    return f"{text} {units}".rstrip()


def format_readout(readout: Mapping[str, Any] | None) -> str:
    """One line: voxel index, LPS position in mm, value with units (e.g. "HU")."""
    if not readout:
        return ""
    i, j, k = (round(float(v)) for v in readout["ijk"])
    lps = readout.get("lps")
    parts = [f"voxel ({i}, {j}, {k})"]
    if lps is not None:
        x, y, z = (float(v) for v in lps)
        parts.append(f"LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm")
    parts.append(format_value(readout.get("value"), readout.get("units") or ""))
    return "   ".join(parts)


def distance_mm(p: Sequence[float], q: Sequence[float]) -> float:
    return float(np.linalg.norm(np.asarray(q, float) - np.asarray(p, float)))


def format_distance(p: Sequence[float], q: Sequence[float]) -> str:
    return f"Ruler: {distance_mm(p, q):.1f} mm"


def describe_measurement(obj: Any, fallback: str = "") -> str:
    """Text of a measurement object from the render layer, whatever it calls its text."""
    for name in ("label_text", "stats_text", "text", "description"):
        value = getattr(obj, name, None)
        if callable(value):
            try:
                value = value()
            except TypeError:
                value = None
        if isinstance(value, str) and value:
            return " ".join(value.split())
    return fallback
