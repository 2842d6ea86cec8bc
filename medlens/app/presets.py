"""Which window/level and 3D presets apply to which study (Qt-free).

The numbers themselves belong to the render layer (``CT_PRESETS``); this module only decides which
ones make sense for a modality and what the viewer opens with, so the rules can be tested alone.
A few fallbacks are kept here so the menus still work while the render layer is incomplete.
"""

from __future__ import annotations

import numpy as np

from medlens.viewer.model import Volume

AUTO = "Auto"

# Order of the menu; names match the keys of ``medlens.viewer.render.CT_PRESETS``.
CT_WINDOW_ORDER = ("brain", "soft tissue", "lung", "bone", "liver")

_FALLBACK_CT = {
    "brain": (40.0, 80.0),
    "soft tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
    "liver": (60.0, 160.0),
}

VOLUME_PRESETS = ("CT bone", "CT soft tissue", "MR")


def ct_presets() -> dict[str, tuple[float, float]]:
    """CT presets by name, from the render layer when it has them."""
    try:
        from medlens.viewer.render import CT_PRESETS
    except ImportError:
        return dict(_FALLBACK_CT)
    merged = {k.lower(): (float(c), float(w)) for k, (c, w) in CT_PRESETS.items()}
    return {**_FALLBACK_CT, **merged}


def ct_preset_names() -> list[str]:
    names = list(ct_presets())
    return sorted(names, key=lambda n: CT_WINDOW_ORDER.index(n) if n in CT_WINDOW_ORDER else 99)


def is_ct(volume: Volume | None) -> bool:
    """CT presets are in HU, so they only make sense on rescaled CT."""
    if volume is None:
        return False
    return volume.meta.modality.upper() == "CT" or volume.meta.units == "HU"


def window_presets_for(volume: Volume | None) -> list[str]:
    """Menu entries that apply: the CT presets for CT, otherwise only the automatic window."""
    return [*ct_preset_names(), AUTO] if is_ct(volume) else [AUTO]


def preset_label(name: str) -> str:
    return AUTO if name == AUTO else f"CT {name}"


def auto_window(volume: Volume) -> tuple[float, float]:
    """Percentile window; uses the render layer's rule when available."""
    try:
        from medlens.viewer.render import auto_window as render_auto
    except ImportError:
        render_auto = None
    if render_auto is not None:
        c, w = render_auto(volume)
        return float(c), float(w)
    return percentile_window(volume.array)


def percentile_window(array: np.ndarray, lo: float = 1.0, hi: float = 99.0) -> tuple[float, float]:
    """(centre, width) spanning the lo..hi percentiles; subsampled so big volumes stay fast."""
    flat = np.asarray(array).ravel()
    step = max(1, flat.size // 1_000_000)
    a, b = np.percentile(flat[::step], [lo, hi])
    width = max(float(b - a), 1.0)
    return float(a) + width / 2.0, width


def preset_window(name: str, volume: Volume) -> tuple[float, float]:
    if name == AUTO:
        return auto_window(volume)
    return ct_presets()[name]


def initial_window(
    volume: Volume, partial_slice: int | None = None
) -> tuple[str | None, tuple[float, float]]:
    """Window to open a study with, and the preset it came from (None = the file's own window).

    While a progressive load is running only one slice holds data; ``partial_slice`` restricts the
    automatic window to it, otherwise the empty slices would drag the percentiles to zero.
    """
    if volume.meta.window is not None and volume.meta.window[1] > 0:
        c, w = volume.meta.window
        return None, (float(c), float(w))
    if is_ct(volume):
        return "soft tissue", ct_presets()["soft tissue"]
    if partial_slice is not None:
        k = int(np.clip(partial_slice, 0, volume.array.shape[0] - 1))
        return AUTO, percentile_window(volume.array[k])
    return AUTO, auto_window(volume)


def volume_preset_for(volume: Volume | None) -> str:
    """The 3D preset to open with: bone for CT (what a 3D view is mostly used for), MR otherwise."""
    return "CT bone" if is_ct(volume) else "MR"


def drag_window(
    centre: float, width: float, dx: float, dy: float, sensitivity: float | None = None
) -> tuple[float, float]:
    """Window after a right-drag of (dx, dy) screen pixels (dy > 0 = mouse moved up).

    Horizontal changes the width, vertical the centre, like most PACS. The step scales with the
    current width so a narrow brain window and a wide bone window both feel the same.
    """
    step = sensitivity if sensitivity is not None else max(width, 10.0) / 250.0
    new_width = max(1.0, width + dx * step)
    new_centre = centre - dy * step
    return new_centre, new_width
