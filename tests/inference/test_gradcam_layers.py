"""GradCAM's graph split finds the right layer even where TorchScript's record is ambiguous.

TorchScript names a call by its last attribute only, so in a U-Net ``down[2]`` and ``dec[2]`` (both
``nn.Sequential`` in ``nn.ModuleList``s) look alike; the built-in plugins' target layer is such a
block. Every module of a traced U-Net, and of the same U-Net wrapped in a classifier whose
``forward`` calls another method (like the built-in slice classifier), must yield exactly the
activations a forward hook sees on the eager network.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from medlens.inference.errors import InferenceError
from medlens.inference.saliency.gradcam import split_at_layer, to_input_grid
from medlens.inference.saliency.methods import Target, attribute, make_reduce
from medlens.training.nets import UNet2d


class _Wrapper(nn.Module):
    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def evidence(self, x: torch.Tensor) -> torch.Tensor:
        return self.unet(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.evidence(x).amax(dim=(2, 3))


def _keep_first(seen: dict[str, torch.Tensor], name: str, _m: object, _i: object, out: torch.Tensor) -> None:
    seen.setdefault(name, out.detach().clone())


def _first_outputs(net: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each leaf/Sequential module's output at its first call, by a hook on the eager network."""
    seen: dict[str, torch.Tensor] = {}
    handles = []
    for name, mod in net.named_modules():
        if name and not isinstance(mod, nn.ModuleList):
            handles.append(mod.register_forward_hook(partial(_keep_first, seen, name)))
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    return seen


@pytest.mark.parametrize("wrapped", [False, True])
def test_every_layer_of_a_traced_unet_is_found(wrapped: bool) -> None:
    torch.manual_seed(0)
    unet = UNet2d(in_ch=1, base=4).eval()
    net = _Wrapper(unet).eval() if wrapped else unet
    x = torch.rand(1, 1, 32, 32)
    scripted = torch.jit.trace_module(net, {"forward": x}) if wrapped else torch.jit.trace(net, x)
    expected = _first_outputs(net, x)
    assert {"down.2", "dec.2", "up.2"} <= {k.removeprefix("unet.") for k in expected}
    # A layer whose output the next layer overwrites in place (BatchNorm before ReLU(inplace=True))
    # is read after that overwrite, in the graph as in any hook that does not copy: left out.
    modules = dict(net.named_modules())
    overwritten = {
        name for name in expected
        if (nxt := modules.get(name[: -1] + str(int(name[-1]) + 1) if name[-1].isdigit() else ""))
        is not None and getattr(nxt, "inplace", False)
    }
    assert overwritten  # the U-Net has such layers: the rule above is exercised
    failed = []
    for name, want in expected.items():
        if name in overwritten:
            continue
        out, act = split_at_layer(scripted, name)(x)
        torch.testing.assert_close(out, scripted(x))
        if act.shape != want.shape or not torch.allclose(act, want, atol=1e-5):
            failed.append(name)
    assert not failed

def test_unknown_layer_is_one_clear_error() -> None:
    unet = UNet2d(in_ch=1, base=4).eval()
    scripted = torch.jit.trace(unet, torch.rand(1, 1, 32, 32))
    with pytest.raises(InferenceError, match=r"dec\.7"):
        split_at_layer(scripted, "dec.7")


def test_a_padded_layer_is_cropped_not_stretched() -> None:
    """A network that pads a 13 x 21 input to 16 x 24 (the built-in U-Nets pad to a multiple of 8, at
    the end) has layers covering the padded input: a map feature stays at its input position."""
    full = torch.zeros(1, 1, 16, 24)
    full[0, 0, 12, 20] = 1.0  # a full-resolution layer: hot at input pixel (12, 20)
    out = to_input_grid(full, (13, 21))
    assert out.shape == (1, 1, 13, 21) and tuple(divmod(int(out.argmax()), 21)) == (12, 20)
    coarse = torch.zeros(1, 1, 4, 6)  # 1/4 resolution: its cell (3, 5) covers input rows 12-15, cols 20-23
    coarse[0, 0, 3, 5] = 1.0
    out = to_input_grid(coarse, (13, 21))
    assert out.shape == (1, 1, 13, 21) and float(out[0, 0, 12, 20]) == float(out.max()) == 1.0
    odd = to_input_grid(torch.rand(1, 1, 3, 3), (10, 10))  # not an integer factor: resized as before
    assert odd.shape == (1, 1, 10, 10)


def test_gradcam_over_several_layers_is_the_sum_of_their_maps() -> None:
    """An ensemble names one block per member (``saliency_target_layer`` as a list): the maps add."""
    torch.manual_seed(0)
    net = _Wrapper(UNet2d(in_ch=1, base=4)).eval()
    x = torch.rand(1, 1, 32, 32)
    scripted = torch.jit.trace_module(net, {"forward": x})
    reduce = make_reduce(Target("classification", 0, "sigmoid"))
    layers = ["unet.dec.1", "unet.dec.2"]
    maps = [attribute("gradcam", x, scripted, reduce, module=scripted, layer=name) for name in layers]
    both = attribute("gradcam", x, scripted, reduce, module=scripted, layer=layers)
    assert maps[0].max() > 0 and maps[1].max() > 0
    np.testing.assert_allclose(both, maps[0] + maps[1], rtol=1e-5, atol=1e-7)
