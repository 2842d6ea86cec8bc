"""Post-processing steps: activations, probabilities to labels, connected-component clean-up."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
from scipy import ndimage

from medlens.inference.region_ranker import RegionRanker


def apply_activation(logits: np.ndarray, activation: str, axis: int = 0) -> np.ndarray:
    """``softmax`` / ``sigmoid`` over ``axis`` (channels), or the values unchanged for ``none``."""
    x = np.asarray(logits, dtype=np.float32)
    if activation == "softmax":
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)
    if activation == "sigmoid":
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)
    return x


def argmax_labels(probabilities: np.ndarray, label_values: Sequence[int] | None = None) -> np.ndarray:
    """Channel of highest probability per voxel; channel ``c`` becomes ``label_values[c]`` (0 for c=0)."""
    index = np.argmax(probabilities, axis=0)
    dtype = np.uint8 if probabilities.shape[0] <= 256 else np.uint16
    if label_values is None:
        return index.astype(dtype)
    lut = np.asarray([0, *label_values], dtype=dtype)[: probabilities.shape[0]]
    return lut[index]


def threshold_labels(
    probabilities: np.ndarray, threshold: float = 0.5, label_values: Sequence[int] | None = None
) -> np.ndarray:
    """Sigmoid outputs to labels: channel ``c`` (no background channel) is label ``label_values[c]``
    where its probability exceeds ``threshold``; overlaps go to the most probable channel."""
    n = probabilities.shape[0]
    values = list(label_values) if label_values is not None else list(range(1, n + 1))
    dtype = np.uint8 if max(values, default=0) < 256 else np.uint16
    best = np.argmax(probabilities, axis=0)
    above = np.take_along_axis(probabilities, best[None], axis=0)[0] > threshold
    lut = np.asarray(values, dtype=dtype)
    return np.where(above, lut[best], 0).astype(dtype)


def keep_largest_component(labels: np.ndarray, values: Sequence[int] | None = None) -> np.ndarray:
    """Per label value, keep only the largest 26-connected component (removes speckle false positives)."""
    if values is None:
        return select_component(labels, None, "size")
    out = labels.copy()
    for value in values:
        out = select_component(out, None, "size", value)
    return out


def _regions(
    labels: np.ndarray, value: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per label value (``value`` only, or every non-zero one): its mask, its 26-connected
    components and their indices 1..n."""
    structure = np.ones((3,) * labels.ndim, dtype=bool)
    for v in [value] if value is not None else [int(u) for u in np.unique(labels) if u != 0]:
        mask = labels == v
        components, n = ndimage.label(mask, structure)
        yield mask, components, np.arange(1, n + 1)


ComponentRule = Literal["size", "mass", "mean", "peak", "learned"]
# the fixed rules (a study compares them); "learned" also needs a RegionRanker's weights
COMPONENT_RULES: tuple[ComponentRule, ...] = ("size", "mass", "mean", "peak")


def select_component(
    labels: np.ndarray,
    scores: np.ndarray | None,
    rule: ComponentRule = "size",
    value: int | None = None,
    ranker: RegionRanker | None = None,
    spacing_zyx: Sequence[float] = (1.0, 1.0, 1.0),
) -> np.ndarray:
    """Keep one 26-connected component of label ``value`` (every value when None), chosen by ``rule``.

    Why more than "largest": a detector that leaves a few false regions beside the lesion is
    better reduced by confidence than by size when its false regions are big and lukewarm.
    ``size`` = voxel count; ``mass`` = summed ``scores``; ``mean`` = mean score (components of
    fewer than 10 voxels are never chosen by it: a single confident voxel is speckle);
    ``peak`` = highest score, exact ties broken by ``mass``; ``learned`` = ``ranker``'s score of the
    region's features (:mod:`medlens.inference.region_ranker`, lengths from ``spacing_zyx`` in mm).
    ``scores`` (the label's probability, same grid) is needed for all but ``size``.

    Why the tie-break: a confident network's float32 sigmoid saturates at exactly 1.0 in several
    regions of one series, and ``argmax`` then keeps the first in label order - the lowest slice
    index, a position, not evidence. Among regions equally sure of their best voxel, the one with the
    most summed confidence is the better bet (decided on synthetic volumes: ``tie_break_study.py``).
    """
    if rule != "size" and scores is None:
        raise ValueError(f"component rule {rule!r} needs a probability map")
    if rule == "learned" and ranker is None:
        raise ValueError('component rule "learned" needs a region ranker')
    out = labels.copy()
    for mask, components, index in _regions(labels, value):
        if index.size <= 1:
            continue
        if rule == "learned":
            assert ranker is not None and scores is not None
            out[mask & (components != ranker.choose(components, index, scores, spacing_zyx))] = 0
            continue
        size = ndimage.sum_labels(mask, components, index)
        if rule == "size":
            key = size
        elif rule == "mass":
            key = ndimage.sum_labels(scores, components, index)
        elif rule == "mean":
            key = np.where(size >= 10, ndimage.mean(scores, components, index), -1.0)
        else:
            key = np.asarray(ndimage.maximum(scores, components, index), np.float64)
            top = key == key.max()
            if top.sum() > 1:
                key = np.where(top, ndimage.sum_labels(scores, components, index), -np.inf)
        out[mask & (components != int(index[int(np.argmax(key))]))] = 0
    return out


def grow_region(labels: np.ndarray, scores: np.ndarray, low: float, value: int) -> np.ndarray:
    """Grow the voxels of label ``value`` into every voxel 26-connected to them whose score is at
    least ``low`` (hysteresis thresholding), not over other labels.

    Why: a lesion whose probability dips below the threshold on one slice or across its necrotic
    core comes out as several pieces, and keeping one region reports only a piece of it; joining
    the pieces through their lukewarm border reports the lesion whole.
    """
    kept = labels == value
    if not kept.any():
        return labels
    candidate = (scores >= low) & ((labels == 0) | kept)
    components, _ = ndimage.label(candidate | kept, np.ones((3,) * labels.ndim, dtype=bool))
    touching = np.unique(components[kept])
    out = labels.copy()
    out[np.isin(components, touching[touching > 0]) & (labels == 0)] = value
    return out


def restrict_to_organ(labels: np.ndarray, organ: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    """Drop every 26-connected region (per label value) with less than ``fraction`` of its voxels
    in ``organ``: a lung-nodule model has nothing to say about the spleen, however round it looks.
    A region only partly inside (a mass against the chest wall) stays when it is mostly inside."""
    out = labels.copy()
    organ_f = organ.astype(np.float32)
    for mask, components, index in _regions(labels):
        inside = ndimage.mean(organ_f, components, index)
        drop = index[np.asarray(inside) < fraction]
        out[mask & np.isin(components, drop)] = 0
    return out
