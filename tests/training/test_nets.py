"""The denoiser network (`medlens.training.nets.UNetDenoiser`): any slice size, in torch and in ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from medlens.training.export import export_onnx
from medlens.training.nets import UNetDenoiser


def _net(seed: int = 0) -> UNetDenoiser:
    torch.manual_seed(seed)
    return UNetDenoiser(base=4).eval()


def test_denoiser_subtracts_its_noise_estimate() -> None:
    """Residual wiring: with the last layer at zero the output is the input, bit for bit; otherwise
    the output is the input minus what the last layer produces."""
    net = _net()
    x = torch.randn(2, 1, 37, 50)
    with torch.no_grad():
        changed = net(x)
        torch.nn.init.zeros_(net.out.weight)
        torch.nn.init.zeros_(net.out.bias)
        same = net(x)
    assert torch.equal(same, x)
    assert float((changed - x).abs().max()) > 0


def test_denoiser_any_size_and_onnx_twin(tmp_path: Path) -> None:
    """Odd sides pool with rounding up and come back at the input's size; the exported graph (one
    dynamic-size file, as the plugin ships) gives the torch output on sizes it was not traced with."""
    net = _net(1)
    path = tmp_path / "den.onnx"
    export_onnx(net, torch.zeros(1, 1, 64, 64), path, dynamic_hw=True, spatial_output=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in [(1, 1, 67, 93), (3, 1, 5, 7), (1, 1, 128, 96)]:
        x = np.random.default_rng(shape[2]).standard_normal(shape).astype(np.float32)
        with torch.no_grad():
            want = net(torch.from_numpy(x)).numpy()
        got = session.run(None, {"image": x})[0]
        assert got.shape == shape
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
