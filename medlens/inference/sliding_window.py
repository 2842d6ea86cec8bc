"""Sliding-window inference with overlap and Gaussian importance blending, windows batched.

Window placement and the Gaussian map follow MONAI's ``sliding_window_inference`` exactly (same
scan interval, same last-window clamping, same sigma and floor), so a plugin trained and validated
with MONAI gives the same numbers here. Unlike MONAI it needs no torch: the predictor is any
``batch -> batch`` callable, e.g. an onnxruntime session.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Sequence

import numpy as np

from medlens.inference.errors import InferenceCancelled

Predictor = Callable[[np.ndarray], np.ndarray]
ProgressFn = Callable[[int, int], None]


def gaussian_importance_map(roi: Sequence[int], sigma_scale: float = 0.125) -> np.ndarray:
    """Weights that fall off towards a window's border, where a network sees least context."""
    weights: np.ndarray | None = None
    for n in roi:
        x = np.arange(-(n - 1) / 2.0, (n - 1) / 2.0 + 1, dtype=np.float32)
        g = np.exp(x**2 / np.float32(-2 * (n * sigma_scale) ** 2)).astype(np.float32)
        weights = g if weights is None else weights[..., None] * g
    assert weights is not None
    floor = max(float(weights.min()), 1e-3)
    return np.maximum(weights, np.float32(floor)).astype(np.float32)


def window_starts(size: Sequence[int], roi: Sequence[int], overlap: float) -> list[tuple[int, ...]]:
    """Start index of every window, last one clamped to the border (MONAI's ``dense_patch_slices``)."""
    per_axis = []
    for n, r in zip(size, roi, strict=True):
        interval = r if r == n else max(int(r * (1 - overlap)), 1)
        count = next((d for d in range(math.ceil(n / interval)) if d * interval + r >= n), 0) + 1
        per_axis.append([min(d * interval, n - r) for d in range(count)])
    return list(itertools.product(*per_axis))


def sliding_window_inference(
    image: np.ndarray,
    roi: Sequence[int],
    predict: Predictor,
    *,
    overlap: float = 0.25,
    batch_size: int = 4,
    blend: str = "gaussian",
    sigma_scale: float = 0.125,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """Run ``predict`` over ``image`` ``(C, *spatial)`` window by window; returns ``(C_out, *spatial)``.

    Images smaller than ``roi`` are zero-padded symmetrically (and cropped back). ``cancel`` is
    checked before every batch, so a cancelled job stops within one batch of windows.
    """
    spatial = image.shape[1:]
    if len(roi) != len(spatial):
        raise ValueError(f"roi {tuple(roi)} does not match the image's {len(spatial)} spatial axes")
    pads = [
        (max(r - n, 0) // 2, max(r - n, 0) - max(r - n, 0) // 2) for n, r in zip(spatial, roi, strict=True)
    ]
    if any(p != (0, 0) for p in pads):
        image = np.pad(image, [(0, 0), *pads], mode="constant")
    size = image.shape[1:]
    roi = tuple(min(int(r), n) for r, n in zip(roi, size, strict=True))
    starts = window_starts(size, roi, overlap)
    weight_map = (
        gaussian_importance_map(roi, sigma_scale) if blend == "gaussian" else np.ones(roi, np.float32)
    )
    out: np.ndarray | None = None
    count = np.zeros(size, np.float32)
    total = len(starts)
    if progress:
        progress(0, total)
    for first in range(0, total, batch_size):
        if cancel is not None and cancel.is_set():
            raise InferenceCancelled()
        chunk = starts[first : first + batch_size]
        slices = [tuple(slice(s, s + r) for s, r in zip(st, roi, strict=True)) for st in chunk]
        batch = np.stack([image[(slice(None), *sl)] for sl in slices]).astype(np.float32, copy=False)
        pred = np.asarray(predict(batch), dtype=np.float32)
        if pred.shape[0] != len(chunk) or pred.shape[2:] != roi:
            raise ValueError(f"the model returned {pred.shape} for windows of {(len(chunk), -1, *roi)}")
        if out is None:
            out = np.zeros((pred.shape[1], *size), np.float32)
        for p, sl in zip(pred, slices, strict=True):
            p *= weight_map
            out[(slice(None), *sl)] += p
            count[sl] += weight_map
        if progress:
            progress(min(first + batch_size, total), total)
    assert out is not None
    out /= count
    if any(p != (0, 0) for p in pads):
        crop = tuple(slice(b, n - a) for (b, a), n in zip(pads, size, strict=True))
        out = out[(slice(None), *crop)]
    return out
