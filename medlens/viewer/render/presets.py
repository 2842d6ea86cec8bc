"""Window/level presets, automatic windowing and 3D transfer-function presets (no VTK here).

Windows are ``(centre, width)`` throughout, matching DICOM Window Center / Window Width. The
issue lists the CT presets as width/centre ("brain 80/40"); they are stored here as
(centre, width).

3D presets are plain lists of control points, built by :func:`volume_preset_points` and turned
into VTK transfer functions by :mod:`.volume_view`. CT presets are in Hounsfield units -- tissue
densities are physical constants, so they must not be stretched to the data range -- but they
are clamped into the data range so a CT without rescale still shows something. The MR preset is
scaled to each volume's 2nd/99.5th percentiles, because MR intensities have no absolute meaning.
"""

from __future__ import annotations

import numpy as np

#: name -> (centre, width) in HU.
CT_PRESETS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "soft tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (480.0, 2500.0),
    "liver": (90.0, 150.0),
}

VOLUME_PRESETS = ("CT bone", "CT soft tissue", "MR")

#: Voxels looked at when estimating percentiles; a strided sample keeps auto-windowing ~ms.
_SAMPLE_VOXELS = 1_000_000


def is_ct(volume) -> bool:
    """True for volumes in Hounsfield units (CT modality or rescale applied to HU)."""
    meta = volume.meta
    return meta.modality.upper() == "CT" or meta.units.upper() == "HU"


def sample_values(array: np.ndarray, max_voxels: int = _SAMPLE_VOXELS) -> np.ndarray:
    """A strided, copy-light sample of ``array`` (every n-th voxel along each axis)."""
    n = array.size
    if n <= max_voxels:
        return np.asarray(array).ravel()
    step = int(np.ceil((n / max_voxels) ** (1.0 / 3.0)))
    return np.asarray(array[::step, ::step, ::step]).ravel()


def percentile_window(array: np.ndarray, low: float = 1.0, high: float = 99.0) -> tuple[float, float]:
    """(centre, width) spanning the ``low``..``high`` percentiles of a sample of ``array``."""
    sample = sample_values(array)
    if sample.size == 0:
        return (0.0, 1.0)
    lo, hi = (float(v) for v in np.percentile(sample, (low, high)))
    if hi <= lo:  # constant or nearly constant images: widen so the mapping stays defined
        lo, hi = float(sample.min()), float(sample.max())
        if hi <= lo:
            hi = lo + 1.0
    return ((lo + hi) / 2.0, hi - lo)


def auto_window(volume) -> tuple[float, float]:
    """The window to open a volume with, as (centre, width).

    CT: the file's window if it has one, else the soft-tissue preset. Everything else (MR, PET,
    projection images): the 1st..99th percentile of a strided sample -- robust to the few very
    bright voxels that make a min/max window useless -- even when the file carries a window,
    because MR file windows are often stale after reconstruction.
    """
    if is_ct(volume):
        if volume.meta.window is not None and volume.meta.window[1] > 0:
            c, w = volume.meta.window
            return (float(c), float(w))
        return CT_PRESETS["soft tissue"]
    return percentile_window(volume.array)


def volume_preset_points(name: str, volume) -> dict[str, list]:
    """Transfer-function control points for a 3D preset, scaled to ``volume``.

    Returns ``{"opacity": [(value, alpha), ...], "color": [(value, r, g, b), ...],
    "shade": bool}``; values are in the volume's units.
    """
    sample = sample_values(volume.array, 250_000)
    dmin, dmax = (float(sample.min()), float(sample.max())) if sample.size else (0.0, 1.0)
    if dmax <= dmin:
        dmax = dmin + 1.0

    def clamp(v: float) -> float:
        return float(min(max(v, dmin), dmax))

    if name == "CT bone":
        pts_o = [(-1000, 0.0), (150, 0.0), (300, 0.15), (700, 0.6), (1500, 0.85), (3000, 0.9)]
        pts_c = [(-1000, 0, 0, 0), (150, 0.55, 0.25, 0.15), (300, 0.9, 0.82, 0.66), (1000, 1.0, 1.0, 0.95)]
        shade = True
    elif name == "CT soft tissue":
        pts_o = [(-1000, 0.0), (-400, 0.0), (-100, 0.05), (40, 0.15), (150, 0.2), (300, 0.5), (1000, 0.8)]
        pts_c = [
            (-1000, 0, 0, 0),
            (-400, 0.55, 0.25, 0.15),
            (40, 0.85, 0.45, 0.35),
            (300, 1.0, 0.95, 0.85),
            (1000, 1, 1, 1),
        ]
        shade = True
    elif name == "MR":
        lo, hi = (float(v) for v in np.percentile(sample, (2.0, 99.5))) if sample.size else (dmin, dmax)
        if hi <= lo:
            lo, hi = dmin, dmax
        span = hi - lo
        pts_o = [(lo, 0.0), (lo + 0.15 * span, 0.0), (lo + 0.5 * span, 0.2), (hi, 0.6)]
        pts_c = [(lo, 0, 0, 0), (lo + 0.3 * span, 0.6, 0.55, 0.5), (hi, 1, 1, 1)]
        return {"opacity": pts_o, "color": pts_c, "shade": True}
    else:
        raise ValueError(f"unknown 3D preset {name!r}; choose from {VOLUME_PRESETS}")
    # CT presets: physical HU; drop points outside the data so ramps stay monotonic, keep ends.
    opacity = _clamped_points(pts_o, clamp)
    color = _clamped_points(pts_c, clamp)
    return {"opacity": opacity, "color": color, "shade": shade}


def _clamped_points(points: list[tuple], clamp) -> list[tuple]:
    """Clamp x-values into the data range, keeping one point per x (the last one wins)."""
    out: dict[float, tuple] = {}
    for p in points:
        x = clamp(float(p[0]))
        out[x] = (x, *p[1:])
    return [out[x] for x in sorted(out)]
