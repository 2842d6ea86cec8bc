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


def test_local_contrast_stem_states_relative_contrast() -> None:
    """``LocalContrast``: flat tissue reads 0 everywhere, the window's border included (the padding is not
    averaged in); a small patch 20 % brighter than the tissue around it reads close to +0.2 at its centre
    whether the tissue is dark or bright, which is what intensities alone do not say."""
    from medlens.training.nets import LocalContrast

    stem = LocalContrast(15, eps=0.0)
    for level in (0.2, 0.6):
        x = torch.full((1, 1, 48, 48), level)
        out = stem(x)
        assert out.shape == (1, 2, 48, 48)
        assert torch.equal(out[:, :1], x)
        assert float(out[:, 1].abs().max()) < 1e-5
        x[..., 22:25, 22:25] = level * 1.2
        c = float(stem(x)[0, 1, 23, 23])
        mean = level * (1 + 0.2 * 9 / 225)
        assert abs(c - (level * 1.2 - mean) / mean) < 1e-5


def test_unet_without_the_stem_is_the_network_it_was() -> None:
    """``contrast_px=0`` builds the same parameters under the same names as before the option existed (the
    archived members load into it); with the stem only the first convolution sees twice the channels."""
    from medlens.training.nets import UNet2d

    plain = UNet2d(in_ch=3, base=4)
    stem = UNet2d(in_ch=3, base=4, contrast_px=15)
    assert plain.stem is None
    a, b = plain.state_dict(), stem.state_dict()
    assert a.keys() == b.keys()
    differ = [k for k in a if a[k].shape != b[k].shape]
    assert differ == ["down.0.0.weight"] and b["down.0.0.weight"].shape[1] == 6


def test_unet_contrast_stem_onnx_twin(tmp_path: Path) -> None:
    """The stem exports inside the graph: the engine hands the ONNX file the same three channels, and it
    matches torch on sizes it was not traced with (the average pool's border handling included)."""
    from medlens.training.nets import UNet2d

    torch.manual_seed(0)
    net = UNet2d(in_ch=3, base=4, contrast_px=15).eval()
    path = tmp_path / "stem.onnx"
    export_onnx(net, torch.zeros(1, 3, 64, 64), path, dynamic_hw=True, spatial_output=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(3).random((2, 3, 40, 72)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
