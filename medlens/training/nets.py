"""The small networks of the built-in plugins, sized for CPU training and ONNX export.

Why these shapes: every model must train in minutes on two CPU cores and export to a single ONNX file
well below 20 MB, and all must accept any slice size the engine hands them (the U-Net runs on fixed
sliding windows; the classifier and the denoiser are fully convolutional with no size-dependent layer).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    """The 2D unit every network here is built of: 3 x 3 convolution, batch norm, ReLU."""
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(*_conv_bn_relu(cin, cout), *_conv_bn_relu(cout, cout))


class _UNet(nn.Module):
    """The U-Net both shapes share; ``block``, ``up`` and ``conv1`` make one shape's layers (the
    2D and the 3D patch network differ in nothing else)."""

    def __init__(self, in_ch: int, out_ch: int, base: int, depth: int, prior: float,
                 block: Callable[[int, int], nn.Module], up: Callable[[int, int], nn.Module],
                 conv1: Callable[[int, int], nn.Module], pool: nn.Module) -> None:
        super().__init__()
        chans = [base * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        c = in_ch
        for ch in chans[:-1]:
            self.down.append(block(c, ch))
            c = ch
        self.bottom = block(chans[-2], chans[-1])
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for ch in reversed(chans[:-1]):
            self.up.append(up(ch * 2, ch))
            self.dec.append(block(ch * 2, ch))
        self.head = conv1(chans[0], out_ch)
        nn.init.constant_(self.head.bias, float(torch.logit(torch.tensor(prior))))
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips), strict=True):
            x = dec(torch.cat([up(x), skip], dim=1))
        return self.head(x)


class LocalContrast(nn.Module):
    """Each input channel beside its contrast against its own ``px`` x ``px`` neighbourhood mean,
    ``(x - m) / (m + eps)`` clipped to [-``clip``, ``clip``]: (N, C, H, W) -> (N, 2C, H, W).

    Why: a faintly enhancing tumour is 5-35 % brighter than the tissue around it, while bright
    structures elsewhere in the brain are brighter in absolute terms; a small network fed the
    intensities alone learnt "lesion = bright" (``lesion_seg/crop_kinds.py``). This states relative
    contrast outright. It has no weights and exports to ONNX as an average pool, so the plugin
    contract (the engine's input channels) does not change. The neighbourhood mean leaves the padding
    out, so a window's border is not darkened by zeros that are not there.
    """

    def __init__(self, px: int, eps: float = 0.02, clip: float = 2.0) -> None:
        super().__init__()
        if px < 3 or px % 2 == 0:
            raise ValueError(f"the contrast window must be odd and >= 3 px, got {px}")
        self.px, self.eps, self.clip = px, eps, clip
        self.mean = nn.AvgPool2d(px, stride=1, padding=px // 2, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.mean(x)
        return torch.cat([x, ((x - m) / (m + self.eps)).clamp(-self.clip, self.clip)], dim=1)


class UNet2d(_UNet):
    """A plain 2D U-Net (``depth`` poolings); input sides must be multiples of ``2**depth``.

    Returns one logit map per output channel (sigmoid is applied by the engine). ``prior`` is the
    initial foreground probability: starting the output bias at logit(prior) instead of 0 spares
    the hundreds of CPU steps a network otherwise spends learning that lesions are rare (the
    focal-loss initialisation of Lin et al. 2017). ``contrast_px`` > 0 puts a :class:`LocalContrast`
    stem in front (a study option: ``lesion_seg/input_pilot.py``); 0 builds the network exactly as
    before, with the same parameter names.
    """

    def __init__(self, in_ch: int = 1, out_ch: int = 1, base: int = 16, depth: int = 3,
                 prior: float = 0.02, contrast_px: int = 0) -> None:
        super().__init__(in_ch * (2 if contrast_px else 1), out_ch, base, depth, prior, _block,
                         lambda cin, cout: nn.ConvTranspose2d(cin, cout, 2, stride=2),
                         lambda cin, cout: nn.Conv2d(cin, cout, 1), nn.MaxPool2d(2))
        self.stem = LocalContrast(contrast_px) if contrast_px else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x if self.stem is None else self.stem(x))


def _block3d(cin: int, cout: int) -> nn.Sequential:
    """A (3, 3, 3) convolution then an in-plane (1, 3, 3) one: the second sees no more slices, which
    halves the cost of a plain 3D block on thick-slice data."""
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
        nn.Conv3d(cout, cout, (1, 3, 3), padding=(0, 1, 1), bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
    )


class UNet3dAniso(_UNet):
    """A 3D U-Net for thick-slice patches (z, y, x): it pools in-plane only.

    Why anisotropic: the real cases have 5-6.5 mm slices and 1 mm pixels, so a patch of a few slices
    already spans 25-35 mm in z; pooling z as well would leave one slice after the first level.
    ``depth`` in-plane poolings (sides must be multiples of ``2**depth``); any number of slices. Same
    widths and output-bias prior as :class:`UNet2d`, so the two differ only in seeing several slices
    at once and labelling them all.
    """

    def __init__(self, in_ch: int = 1, out_ch: int = 1, base: int = 8, depth: int = 3,
                 prior: float = 0.02) -> None:
        super().__init__(in_ch, out_ch, base, depth, prior, _block3d,
                         lambda cin, cout: nn.ConvTranspose3d(cin, cout, (1, 2, 2), stride=(1, 2, 2)),
                         lambda cin, cout: nn.Conv3d(cin, cout, 1), nn.MaxPool3d((1, 2, 2)))


class MeanLogits(nn.Module):
    """Several networks of one shape as one: the mean of their logit maps.

    Why: with one or two chest CTs per training set a single U-Net's choice among its candidate
    regions varies from run to run; averaging the cross-validation fold models and the all-anatomy
    model (the usual k-fold ensemble) steadies it. Exported as one ONNX / TorchScript graph.
    """

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(dim=0)


class SliceClassifier(nn.Module):
    """"Lesion present" for a slice of any size: a small CNN, a logit map, then global max pooling.

    Not shipped: trained on synthetic crops it did not learn within the CPU budget (see the
    ``lesion_cls`` model card); kept so that finding can be reproduced with more compute.

    Why max pooling: trained on crops, the same network scores a whole slice by its most suspicious
    place, so training and inference agree whatever the slice size, and the evidence map
    (:meth:`evidence`) says where the score came from.
    """

    def __init__(self, in_ch: int = 1, widths: tuple[int, ...] = (16, 32, 48, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_ch
        for i, w in enumerate(widths):
            layers.append(_block(c, w))
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            c = w
        self.features = nn.Sequential(*layers)
        self.logit_map = nn.Conv2d(c, 1, 1)

    def evidence(self, x: torch.Tensor) -> torch.Tensor:
        """Per-location logits at 1/8 resolution, shape (N, 1, H/8, W/8)."""
        return self.logit_map(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.amax(self.evidence(x), dim=(2, 3))  # (N, 1) logit


def _plain_body(cin: int, width: int, depth: int, cout: int) -> nn.Sequential:
    """DnCNN's stack: conv + ReLU, ``depth - 2`` x (conv, batch norm, ReLU), conv to ``cout``."""
    layers: list[nn.Module] = [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(inplace=True)]
    for _ in range(depth - 2):
        layers += _conv_bn_relu(width, width)
    layers.append(nn.Conv2d(width, cout, 3, padding=1))
    return nn.Sequential(*layers)


class DnCNN(nn.Module):
    """Residual denoiser (Zhang et al. 2017, shallower): predicts the noise and subtracts it.

    The denoiser of versions 0.1-0.2; replaced by :class:`UNetDenoiser`, kept so the card's
    comparison can be reproduced (``train.py --arch dncnn``)."""

    def __init__(self, depth: int = 8, width: int = 32) -> None:
        super().__init__()
        self.body = _plain_body(1, width, depth, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.body(x)


class FFDNetBlind(nn.Module):
    """Blind FFDNet-like denoiser: works at half resolution and estimates the noise level itself.

    Tried after version 0.2 of the denoiser and not shipped: on validation slices it lost to the DnCNN by
    0.6-3.8 dB (plugins/denoise/MODEL_CARD.md); kept so that result can be reproduced
    (``train.py --arch ffdnet``). The idea: the DnCNN above sees 17 x 17 pixels and must guess
    the noise level from them, so it settles on an average amount of smoothing. Here the slice is
    split into four half-resolution sub-images (pixel unshuffle, as FFDNet does), which doubles the
    receptive field for the same cost, and a small branch pools learnt noise features over the
    *whole* slice into a few channels that every pixel sees, in place of FFDNet's user-given noise
    map. The user still sets nothing. Odd sides are padded by one replicated row/column and cropped.
    """

    def __init__(self, depth: int = 12, width: int = 48, context: int = 8) -> None:
        super().__init__()
        self.estimator = nn.Sequential(
            nn.Conv2d(4, 16, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(inplace=True),
        )
        self.context = nn.Linear(16, context)
        self.body = _plain_body(4 + context, width, depth, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        xp = nn.functional.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
        sub = nn.functional.pixel_unshuffle(xp, 2)
        feats = self.estimator(sub).mean(dim=(2, 3))
        ctx = self.context(feats)[:, :, None, None].expand(-1, -1, sub.shape[2], sub.shape[3])
        est = nn.functional.pixel_shuffle(self.body(torch.cat([sub, ctx], dim=1)), 2)
        return x - est[..., :h, :w]


class UNetDenoiser(nn.Module):
    """Residual multi-scale denoiser: a two-level U-Net that predicts the noise and subtracts it.

    Why: on CT the DnCNN of versions 0.1-0.2 (17 x 17 px receptive field) removed only about half of
    80 HU of correlated noise in soft tissue, where oracle non-local means removed two thirds
    (plugins/denoise/MODEL_CARD.md). Band-passed CT noise needs averaging over a wider area than
    17 px; pooling twice widens the view to ~55 px for about 1.8x the DnCNN's time per step.
    Batch norm as in DnCNN: without it the network stayed at the identity for 300 steps.
    Any slice size: pooling rounds up and each upsampling is resized to its skip's exact size.
    """

    def __init__(self, base: int = 32) -> None:
        super().__init__()
        b = base
        self.enc0 = nn.Sequential(nn.Conv2d(1, b, 3, padding=1), nn.ReLU(inplace=True), *_conv_bn_relu(b, b))
        self.enc1 = _block(b, 2 * b)
        self.bottom = nn.Sequential(*_block(2 * b, 4 * b), *_conv_bn_relu(4 * b, 4 * b))
        self.up1 = nn.Conv2d(4 * b, 2 * b, 1)
        self.dec1 = _block(4 * b, 2 * b)
        self.up0 = nn.Conv2d(2 * b, b, 1)
        self.dec0 = _block(2 * b, b)
        self.out = nn.Conv2d(b, 1, 3, padding=1)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)

    @staticmethod
    def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(x, size=like.shape[-2:], mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e0 = self.enc0(x)
        e1 = self.enc1(self.pool(e0))
        m = self.bottom(self.pool(e1))
        d1 = self.dec1(torch.cat([self.up1(self._up(m, e1)), e1], dim=1))
        d0 = self.dec0(torch.cat([self.up0(self._up(d1, e0)), e0], dim=1))
        return x - self.out(d0)
