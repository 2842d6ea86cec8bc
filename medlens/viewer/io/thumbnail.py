"""Small previews for the study browser.

Why not a Qt scaler: thumbnails are made on worker threads for dozens of series, so this is pure
NumPy — the middle slice, windowed with the file's window (or robust percentiles), sampled to a
square with the physical aspect ratio kept (letterboxed in black).
"""

from __future__ import annotations

import numpy as np

from ..model import Volume


def thumbnail(volume: Volume, size: int = 96) -> np.ndarray:
    """uint8 ``(size, size)`` image of the middle slice, default window, aspect kept."""
    slice_ = np.asarray(volume.array[volume.array.shape[0] // 2])
    rows, cols = slice_.shape
    if volume.meta.window is not None:
        centre, width = volume.meta.window
        lo, hi = centre - width / 2, centre + width / 2
    else:
        sample = slice_[:: max(1, rows // 128), :: max(1, cols // 128)]
        lo, hi = (float(v) for v in np.percentile(sample, (1, 99))) if sample.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1
    height_mm = rows * volume.spacing[1]
    width_mm = cols * volume.spacing[0]
    scale = size / max(height_mm, width_mm)
    out_h = max(1, min(size, round(height_mm * scale)))
    out_w = max(1, min(size, round(width_mm * scale)))
    ys = np.minimum(((np.arange(out_h) + 0.5) * rows / out_h).astype(int), rows - 1)
    xs = np.minimum(((np.arange(out_w) + 0.5) * cols / out_w).astype(int), cols - 1)
    sampled = slice_[np.ix_(ys, xs)].astype(np.float32)
    scaled = np.clip((sampled - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
    out = np.zeros((size, size), np.uint8)
    top, left = (size - out_h) // 2, (size - out_w) // 2
    out[top : top + out_h, left : left + out_w] = scaled
    return out


__all__ = ["thumbnail"]
