"""Sliding windows: placement and blending exact, equal to whole-image inference where they must be."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from infer_helpers import TinySeg3d, torch

from medlens.inference.errors import InferenceCancelled
from medlens.inference.sliding_window import gaussian_importance_map, sliding_window_inference, window_starts


def torch_predictor(model: torch.nn.Module):
    model.eval()

    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(batch)).numpy()

    return predict


def test_pointwise_network_equals_whole_image() -> None:
    torch.manual_seed(0)
    net = TinySeg3d(kernel=1)  # receptive field of one voxel: every window covers it
    image = np.random.default_rng(0).random((1, 23, 31, 17), dtype=np.float32)
    whole = torch_predictor(net)(image[None])[0]
    windowed = sliding_window_inference(image, (8, 12, 10), torch_predictor(net), overlap=0.4, batch_size=3)
    np.testing.assert_allclose(windowed, whole, atol=1e-5)


def test_conv_network_equals_whole_image_away_from_window_seams() -> None:
    """A 3x3x3 + 3x3x3 net sees 2 voxels around; where every window holding a voxel covers that
    neighbourhood inside the image, the blended result must equal whole-image inference."""
    torch.manual_seed(1)
    net = TinySeg3d(kernel=3)
    image = np.random.default_rng(1).random((1, 20, 26, 18), dtype=np.float32)
    roi, overlap, reach = (12, 14, 12), 0.5, 2
    whole = torch_predictor(net)(image[None])[0]
    windowed = sliding_window_inference(image, roi, torch_predictor(net), overlap=overlap, batch_size=4)
    exact = np.ones(image.shape[1:], bool)
    size = image.shape[1:]
    for start in window_starts(size, roi, overlap):
        inside = np.zeros(size, bool)
        seam = np.zeros(size, bool)
        inside[tuple(slice(s, s + r) for s, r in zip(start, roi, strict=True))] = True
        for axis, (s, r, n) in enumerate(zip(start, roi, size, strict=True)):
            idx = [slice(None)] * 3
            if s > 0:
                idx[axis] = slice(s, s + reach)
                seam[tuple(idx)] = True
            if s + r < n:
                idx[axis] = slice(s + r - reach, s + r)
                seam[tuple(idx)] = True
        exact &= ~(inside & seam)
    assert exact.mean() > 0.3
    np.testing.assert_allclose(windowed[:, exact], whole[:, exact], atol=1e-5)
    assert np.abs(windowed - whole).max() > 1e-4  # seams really differ: the check above is not vacuous


def test_window_as_large_as_image_is_one_pass() -> None:
    net = TinySeg3d(kernel=3)
    image = np.random.default_rng(2).random((1, 9, 10, 11), dtype=np.float32)
    calls: list[int] = []

    def predict(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return torch_predictor(net)(batch)

    out = sliding_window_inference(image, image.shape[1:], predict)
    np.testing.assert_allclose(out, torch_predictor(net)(image[None])[0], atol=1e-6)
    assert calls == [1]


def test_image_smaller_than_window_is_padded_and_cropped() -> None:
    net = TinySeg3d(kernel=1)
    image = np.random.default_rng(3).random((1, 5, 7, 6), dtype=np.float32)
    out = sliding_window_inference(image, (8, 8, 8), torch_predictor(net))
    assert out.shape == (2, 5, 7, 6)
    np.testing.assert_allclose(out, torch_predictor(net)(image[None])[0], atol=1e-5)


def test_cancel_stops_within_one_window() -> None:
    cancel = threading.Event()
    calls: list[int] = []

    def predict(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        cancel.set()  # the user presses Cancel while the first window runs
        return np.zeros((len(batch), 1, *batch.shape[2:]), np.float32)

    image = np.zeros((1, 40, 40, 40), np.float32)
    assert len(window_starts((40, 40, 40), (10, 10, 10), 0.25)) > 50
    with pytest.raises(InferenceCancelled):
        sliding_window_inference(image, (10, 10, 10), predict, batch_size=1, cancel=cancel)
    assert calls == [1]


def test_progress_counts_windows() -> None:
    seen: list[tuple[int, int]] = []
    image = np.zeros((1, 20, 20, 20), np.float32)
    sliding_window_inference(
        image, (10, 10, 10), lambda b: b, overlap=0.0, batch_size=3, progress=lambda d, t: seen.append((d, t))
    )
    assert seen == [(0, 8), (3, 8), (6, 8), (8, 8)]


def test_matches_monai_placement_weights_and_output() -> None:
    monai = pytest.importorskip("monai")
    from monai.data.utils import compute_importance_map, dense_patch_slices
    from monai.inferers import sliding_window_inference as monai_swi
    from monai.inferers.utils import _get_scan_interval

    roi, size, overlap = (10, 12, 9), (23, 30, 19), 0.3
    np.testing.assert_allclose(
        gaussian_importance_map(roi), compute_importance_map(roi, mode="gaussian").numpy(), rtol=1e-6
    )
    interval = _get_scan_interval(size, roi, 3, (overlap,) * 3)
    theirs = sorted(tuple(s.start for s in sl) for sl in dense_patch_slices(size, roi, interval))
    assert sorted(window_starts(size, roi, overlap)) == theirs
    torch.manual_seed(4)
    net = TinySeg3d(kernel=3).eval()
    image = np.random.default_rng(4).random((1, *size), dtype=np.float32)
    ours = sliding_window_inference(image, roi, torch_predictor(net), overlap=overlap, batch_size=2)
    with torch.no_grad():
        ref = monai_swi(torch.from_numpy(image[None]), roi, 2, net, overlap=overlap, mode="gaussian")[
            0
        ].numpy()
    assert monai.__version__
    np.testing.assert_allclose(ours, ref, atol=1e-5)
