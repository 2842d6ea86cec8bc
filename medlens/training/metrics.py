"""Metrics of the model cards: Dice, HD95, ROC AUC with a bootstrap CI, ECE, PSNR, SSIM.

Why our own small implementations: the tests compare them against hand-computed values, the
definitions are stated here once (e.g. HD95 in millimetres on the voxel grid, symmetric, over surface
voxels), and they run with numpy/scipy only (SSIM uses scikit-image's reference implementation).
Dice is the corrections store's (one definition in the product).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import ndimage

from medlens.corrections.metrics import dice, surface_voxels

__all__ = ["bootstrap_ci", "dice", "expected_calibration_error", "hd95", "psnr", "reliability_bins",
           "roc_auc", "ssim"]


def hd95(pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float]) -> float:
    """Symmetric 95th-percentile Hausdorff distance (mm) between the surfaces of two masks.

    ``spacing`` is in array order (z, y, x). Distances are from each surface voxel of one mask to
    the nearest surface voxel of the other (Euclidean distance transform), both directions pooled
    (medpy's convention, which the model cards report). MONAI's, used for corrections
    (:func:`medlens.corrections.metrics.hausdorff95`), takes the larger of the two directed
    percentiles instead, so it is never smaller. ``inf`` when exactly one mask is empty, 0 when both are.
    """
    a, b = np.asarray(pred, bool), np.asarray(truth, bool)
    if not a.any() and not b.any():
        return 0.0
    if not a.any() or not b.any():
        return float("inf")
    sa, sb = surface_voxels(a), surface_voxels(b)
    dt_b = ndimage.distance_transform_edt(~sb, sampling=spacing)
    dt_a = ndimage.distance_transform_edt(~sa, sampling=spacing)
    d = np.concatenate([dt_b[sa], dt_a[sb]])
    return float(np.percentile(d, 95))


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve = P(score of a positive > score of a negative), ties count half."""
    s, y = np.asarray(scores, float), np.asarray(labels, bool)
    pos, neg = s[y], s[~y]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    ranks = _average_ranks(np.concatenate([pos, neg]))
    return float((ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def youden_threshold(probs: np.ndarray, labels: np.ndarray) -> float:
    """The threshold (among the probabilities rounded to 4 decimals; flag = ``p >= t``) maximising
    Youden's J = sensitivity + specificity - 1; ties go to the highest such threshold."""
    p, y = np.asarray(probs, float), np.asarray(labels, bool)
    j = [(np.mean(p[y] >= t) + np.mean(p[~y] < t) - 1, t) for t in np.unique(np.round(p, 4))]
    return float(max(j)[1])


def specificity_threshold(probs: np.ndarray, labels: np.ndarray, min_specificity: float) -> float:
    """The lowest threshold (flag = ``p >= t``) at which at least ``min_specificity`` of the negatives
    are below it: the most sensitive operating point with that specificity on these samples.

    Why: Youden's J weighs a missed lesion and a false flag alike whatever their numbers, and on easy
    negatives (synthetic slices) it settles on thresholds that flag most harder (real) negatives; a
    specificity floor states the trade-off a reader accepts directly.
    """
    p, y = np.asarray(probs, float), np.asarray(labels, bool)
    neg = np.sort(p[~y])
    if neg.size == 0:
        raise ValueError("no negatives to set a specificity on")
    k = int(np.ceil(min_specificity * neg.size - 1e-9))  # negatives that must lie below the threshold
    if k <= 0:
        return float(neg[0])
    return float(np.nextafter(neg[k - 1], np.inf))  # just above the k-th lowest negative


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), float)
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def bootstrap_ci(
    statistic: Callable[..., float],
    *arrays: np.ndarray,
    n_boot: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap (1-alpha) CI of ``statistic(*arrays)``, resampling items with replacement.

    With ``groups`` (e.g. the case each slice comes from) whole groups are resampled (cluster
    bootstrap), which is the honest choice when slices of one patient are not independent.
    Resamples where the statistic is undefined (NaN, e.g. no positive drawn) are dropped.
    """
    rng = np.random.default_rng(seed)
    n = len(arrays[0])
    values = []
    if groups is None:
        for _ in range(n_boot):
            idx = rng.integers(0, n, n)
            values.append(statistic(*(a[idx] for a in arrays)))
    else:
        uniq = np.unique(groups)
        members = [np.flatnonzero(groups == g) for g in uniq]
        for _ in range(n_boot):
            pick = rng.integers(0, len(uniq), len(uniq))
            idx = np.concatenate([members[p] for p in pick])
            values.append(statistic(*(a[idx] for a in arrays)))
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(np.percentile(v, 100 * alpha / 2)), float(np.percentile(v, 100 * (1 - alpha / 2)))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> float:
    """ECE: sum over equal-width probability bins of |accuracy - confidence| weighted by bin share.

    Binary form: in each bin, the observed positive rate against the mean predicted probability.
    """
    p, y = np.asarray(probs, float), np.asarray(labels, float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        sel = idx == b
        if sel.any():
            ece += sel.mean() * abs(y[sel].mean() - p[sel].mean())
    return float(ece)


def reliability_bins(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = 10
) -> list[tuple[float, float, int]]:
    """(mean predicted, observed rate, count) per non-empty bin, for a reliability plot."""
    p, y = np.asarray(probs, float), np.asarray(labels, float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    return [(float(p[idx == b].mean()), float(y[idx == b].mean()), int((idx == b).sum()))
            for b in range(n_bins) if (idx == b).any()]


def psnr(estimate: np.ndarray, reference: np.ndarray, data_range: float) -> float:
    """10 log10(range² / MSE) in dB; ``data_range`` is stated per modality in the model card."""
    mse = float(np.mean((np.asarray(estimate, float) - np.asarray(reference, float)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(data_range**2 / mse)


def ssim(
    estimate: np.ndarray, reference: np.ndarray, data_range: float, mask: np.ndarray | None = None
) -> float:
    """Mean SSIM of a 2D image (scikit-image, Gaussian-weighted as Wang et al. 2004); with ``mask``, the
    mean of the SSIM map over the mask, so a score can leave out the air around the patient. Both
    leave out the border scikit-image crops (half the 11 px window), so an all-true mask gives the
    unmasked score."""
    from skimage.metrics import structural_similarity

    mean, smap = structural_similarity(
        np.asarray(reference, np.float64),
        np.asarray(estimate, np.float64),
        data_range=data_range,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    if mask is None:
        return float(mean)
    pad = 5  # (win_size - 1) // 2 for sigma 1.5: scikit-image's mean leaves this border out
    inner = np.zeros(smap.shape, bool)
    inner[pad:-pad, pad:-pad] = True
    return float(smap[inner & np.asarray(mask, bool)].mean())
