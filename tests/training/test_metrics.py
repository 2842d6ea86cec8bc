"""The card metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medlens.training import metrics as M  # noqa: N812


def test_dice_known_values() -> None:
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[0, :2] = True  # 2 px
    b[0, 1:4] = True  # 3 px, overlap 1
    assert M.dice(a, b) == pytest.approx(2 * 1 / 5)
    assert M.dice(a, a) == 1.0
    assert M.dice(np.zeros(3, bool), np.zeros(3, bool)) == 1.0
    assert M.dice(a, np.zeros_like(a)) == 0.0


def test_hd95_shifted_cube_equals_shift_in_mm() -> None:
    a = np.zeros((20, 20, 20), bool)
    a[5:10, 5:10, 5:10] = True
    b = np.roll(a, 3, axis=2)  # shifted 3 voxels along x
    assert M.hd95(a, b, (1.0, 1.0, 2.0)) == pytest.approx(6.0)  # x spacing 2 mm
    assert M.hd95(a, a, (1.0, 1.0, 1.0)) == 0.0
    assert math.isinf(M.hd95(a, np.zeros_like(a), (1.0, 1.0, 1.0)))


def test_auc_matches_pair_counting() -> None:
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4])
    labels = np.array([0, 0, 1, 1, 1])
    # positives 0.35, 0.8, 0.4 against negatives 0.1, 0.4: wins 1+0, 1+1, 1+0.5 -> 4.5 / 6
    assert M.roc_auc(scores, labels) == pytest.approx(4.5 / 6)
    assert M.roc_auc(np.array([0.0, 1.0]), np.array([0, 1])) == 1.0


def test_bootstrap_ci_contains_estimate_and_narrows_with_n() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    s = y + rng.normal(0, 1.0, 400)
    auc = M.roc_auc(s, y)
    lo, hi = M.bootstrap_ci(M.roc_auc, s, y, n_boot=300)
    assert lo < auc < hi
    lo2, hi2 = M.bootstrap_ci(M.roc_auc, s[:60], y[:60], n_boot=300)
    assert (hi2 - lo2) > (hi - lo)


def test_ece_perfect_and_known() -> None:
    p = np.array([0.05, 0.05, 0.95, 0.95])
    y = np.array([0, 0, 1, 1])
    assert M.expected_calibration_error(p, y) == pytest.approx(0.05)
    p2 = np.full(10, 0.75)
    y2 = np.array([1] * 5 + [0] * 5)
    assert M.expected_calibration_error(p2, y2) == pytest.approx(0.25)


def test_psnr_and_ssim() -> None:
    ref = np.zeros((32, 32))
    est = ref + 0.1
    assert M.psnr(est, ref, 1.0) == pytest.approx(20.0)
    img = np.random.default_rng(1).random((64, 64))
    assert M.ssim(img, img, 1.0) == pytest.approx(1.0)
    assert M.ssim(img + np.random.default_rng(2).normal(0, 0.3, img.shape), img, 1.0) < 0.75


def test_masked_ssim_scores_only_the_masked_region() -> None:
    """An all-true mask gives the unmasked score; noise added outside the mask does not lower the
    masked score of the clean half, and noise inside does."""
    img = np.random.default_rng(3).random((64, 64))
    noisy = img + np.random.default_rng(4).normal(0, 0.3, img.shape)
    full = np.ones(img.shape, bool)
    assert M.ssim(noisy, img, 1.0, mask=full) == pytest.approx(M.ssim(noisy, img, 1.0))
    left = np.zeros(img.shape, bool)
    left[:, :24] = True
    half_noisy = img.copy()
    half_noisy[:, 40:] = noisy[:, 40:]  # noise only where the 11 px window cannot reach the left part
    assert M.ssim(half_noisy, img, 1.0, mask=left) == pytest.approx(1.0)
    assert M.ssim(half_noisy, img, 1.0) < 0.9
    assert M.ssim(half_noisy, img, 1.0, mask=~left) < 0.9


def test_operating_thresholds() -> None:
    """Youden's J and a specificity floor on a known sample: 10 negatives 0.0 .. 0.9, positives 0.35
    and 0.8, 0.95. A 0.9 floor must leave 9 negatives below the threshold (so 0.8 is just above the
    9th, flagging 0.95 and the 0.9 negative only); Youden takes 0.8 (sens 2/3, spec 0.8 -> J .467)
    over 0.35 (sens 1, spec 0.4 -> J .4)."""
    neg = np.arange(10) / 10
    p = np.concatenate([neg, [0.35, 0.8, 0.95]])
    y = np.array([0] * 10 + [1] * 3)
    t = M.specificity_threshold(p, y, 0.9)
    assert np.mean(neg < t) == pytest.approx(0.9) and 0.8 < t < 0.8 + 1e-9
    assert M.specificity_threshold(p, y, 0.5) == pytest.approx(0.4)  # just above the 5th lowest, 0.4
    assert M.youden_threshold(p, y) == pytest.approx(0.8)
    assert M.specificity_threshold(p, y, 0.0) == 0.0
    with pytest.raises(ValueError):
        M.specificity_threshold(p[10:], y[10:], 0.9)
