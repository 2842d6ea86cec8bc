"""Flip test-time augmentation: average predictions over mirrored inputs, keep their spread.

The spread (standard deviation across flips) is an honest, cheap uncertainty signal: where the
network changes its mind when the image is mirrored, its answer should not be trusted blindly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

AXES = {"z": 0, "y": 1, "x": 2}  # spatial array axes of a (z, y, x) volume


def flip_variants(n_spatial: int, axes: tuple[str, ...] | None = None) -> list[tuple[int, ...]]:
    """No flip, then each spatial axis alone: 1 + n passes (all 2^n combinations cost too much in 3D).
    ``axes`` ("z", "y", "x"; ``options.tta_axes``) limits them to the flips a model was trained on."""
    if axes is None:
        return [(), *((axis,) for axis in range(n_spatial))]
    return [(), *((AXES[a],) for a in axes)]


def flip_tta(
    image: np.ndarray,
    run: Callable[[np.ndarray, int], np.ndarray],
    axes: Sequence[tuple[int, ...]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of ``run`` over flipped copies of ``image`` ``(C, *spatial)``.

    ``run(image, pass_index)`` returns ``(C_out, *spatial)`` (e.g. sliding-window probabilities);
    each output is flipped back before averaging. Spatial axes are counted after the channel axis.
    """
    axes = list(axes) if axes is not None else flip_variants(image.ndim - 1)
    total: np.ndarray | None = None
    total_sq: np.ndarray | None = None
    for i, flip in enumerate(axes):
        dims = tuple(a + 1 for a in flip)
        pred = run(np.flip(image, dims) if dims else image, i)
        pred = np.ascontiguousarray(np.flip(pred, dims) if dims else pred, dtype=np.float32)
        if total is None:
            total, total_sq = pred.copy(), pred * pred
        else:
            assert total_sq is not None
            total += pred
            total_sq += pred * pred
    assert total is not None and total_sq is not None
    n = np.float32(len(axes))
    mean = total / n
    std = np.sqrt(np.maximum(total_sq / n - mean * mean, 0.0)).astype(np.float32)
    return mean, std
