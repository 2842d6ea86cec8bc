"""Attribution methods on one network input (a tensor ``(1, C, *spatial)``) and the scores they explain.

The network is split into ``model`` (input -> raw output) and a ``reduce`` (raw output -> one scalar
per sample) so every method - gradient or perturbation - explains the same number:

* classification: the logit of the target class (probability for the deletion curve);
* segmentation: the selected label's probability summed inside its predicted region (the region is
  fixed from the unperturbed prediction, so removing evidence can only lower the score).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medlens.inference.errors import InferenceError

METHODS = ("integrated_gradients", "gradcam", "occlusion", "evidence")
GRADIENT_METHODS = ("integrated_gradients", "gradcam")
TWIN_METHODS = (*GRADIENT_METHODS, "evidence")  # need the TorchScript twin
METHOD_NAMES = {
    "integrated_gradients": "Integrated Gradients",
    "gradcam": "GradCAM",
    "occlusion": "Occlusion",
    "evidence": "Model's evidence map",
}
Reduce = Callable[[Any], Any]


@dataclass(frozen=True)
class Target:
    """What is explained: output channel and, for segmentation, the fixed region (numpy bool)."""

    task: str
    channel: int
    activation: str  # "softmax" | "sigmoid" | "none"
    region: np.ndarray | None = None


def _activate(out: Any, activation: str) -> Any:
    import torch

    if activation == "softmax":
        return torch.softmax(out, dim=1)
    if activation == "sigmoid":
        return torch.sigmoid(out)
    return out


def make_reduce(target: Target, probability: bool = False) -> Reduce:
    """The scalar-per-sample function a method explains (see the module docstring)."""
    import torch

    if target.task == "classification":

        def reduce_cls(out: Any) -> Any:
            out = out.reshape(out.shape[0], -1)
            if probability:
                act = target.activation if target.activation != "none" else "softmax"
                return _activate(out, act)[:, target.channel]
            return out[:, target.channel]

        return reduce_cls
    assert target.region is not None
    region = torch.from_numpy(np.ascontiguousarray(target.region, dtype=np.float32))

    def reduce_seg(out: Any) -> Any:
        probs = _activate(out, target.activation)[:, target.channel]
        return (probs * region.to(probs.dtype)).flatten(1).sum(dim=1)

    return reduce_seg


def torch_forward(module: Any) -> Callable[[Any], Any]:
    return lambda x: module(x)


def numpy_forward(run: Callable[[np.ndarray], np.ndarray]) -> Callable[[Any], Any]:
    """A torch-callable forward from a numpy session (ONNX): forward passes only, no gradients."""
    import torch

    def forward(x: Any) -> Any:
        return torch.from_numpy(np.asarray(run(x.detach().cpu().numpy().astype(np.float32)), np.float32))

    return forward


def blurred_copy(x: np.ndarray, sigma_px: float, image_channels: int) -> np.ndarray:
    """``x`` (1, C, *spatial) with its first ``image_channels`` Gaussian-blurred over the spatial axes
    by ``sigma_px`` pixels (the rest, e.g. an organ mask, copied): a "nothing small here" reference
    input for Integrated Gradients (see :class:`medlens.inference.manifest.IGBaselineSpec`)."""
    from scipy import ndimage

    out = np.array(x, dtype=np.float32, copy=True)
    for c in range(image_channels):
        out[0, c] = ndimage.gaussian_filter(out[0, c], sigma_px)
    return out


def occlusion_window(spatial: tuple[int, ...]) -> int:
    """Occluding patch edge: ~1/12 of the smaller side, at least 4 pixels (stride is half of it)."""
    return max(4, min(spatial) // 12)


def attribute(
    method: str,
    x: Any,
    forward: Callable[[Any], Any],
    reduce: Reduce,
    *,
    module: Any = None,
    layer: str | Sequence[str] | None = None,
    baseline: Any = 0.0,
    n_steps: int = 32,
    evidence: str | None = None,
    channel: int = 0,
    fixed_channels: int = 0,
) -> np.ndarray:
    """Attribution map of ``reduce(forward(x))`` for one input ``(1, C, *spatial)``, shape ``spatial``.

    Channels are summed. The last ``fixed_channels`` are not image (the organ mask of a plugin with
    ``input.organ_channel``): their baseline is their own value, so Integrated Gradients neither
    attributes them nor walks the mask from empty to full, and Occlusion leaves them in place.
    Integrated Gradients and GradCAM need ``module`` (a differentiable torch module); Occlusion needs
    only ``forward`` (an ONNX session does). "evidence" is not an attribution:
    it is the map the model itself pools into its score (the twin's method named ``evidence``, output
    ``channel``), for models built that way (a max- or mean-pooled logit map).
    """
    import torch

    base: Any = baseline
    if fixed_channels or isinstance(base, torch.Tensor):
        base = base.clone() if isinstance(base, torch.Tensor) else torch.full_like(x, baseline)
        if fixed_channels:
            base[:, -fixed_channels:] = x[:, -fixed_channels:]
    if method == "evidence":
        if module is None or not evidence or not hasattr(module, evidence):
            raise InferenceError("the model's evidence map needs a twin with a saliency_evidence method")
        with torch.no_grad():
            ev = getattr(module, evidence)(x)[:, channel : channel + 1].float()
        if tuple(ev.shape[2:]) != tuple(x.shape[2:]):  # coarser maps (a CNN's last stage): upsample
            from medlens.inference.saliency.gradcam import to_input_grid

            ev = to_input_grid(ev, tuple(int(v) for v in x.shape[2:]))
        ev = ev[0, 0].numpy().astype(np.float32)
        return ev - ev.min()  # logits, shifted so the least evidence is 0 (maps and checks rank by size)

    if method == "integrated_gradients":
        from captum.attr import IntegratedGradients

        if module is None:
            raise InferenceError("Integrated Gradients needs a differentiable graph")
        ig = IntegratedGradients(lambda t: reduce(module(t)))
        attr = ig.attribute(
            x,
            baselines=base,
            n_steps=n_steps,
            internal_batch_size=min(n_steps, 8),
            method="riemann_trapezoid",
        )
        return attr.detach().sum(dim=1)[0].numpy().astype(np.float32)
    if method == "gradcam":
        from medlens.inference.saliency.gradcam import grad_cam

        if module is None:
            raise InferenceError("GradCAM needs a differentiable graph")
        if not layer:
            raise InferenceError("GradCAM needs saliency_target_layer in the plugin manifest")
        maps, _ = grad_cam(module, layer, x, reduce)  # several layers: their maps summed
        return maps[0].numpy().astype(np.float32)
    if method == "occlusion":
        from captum.attr import Occlusion

        spatial = tuple(int(s) for s in x.shape[2:])
        w = occlusion_window(spatial)
        stride = max(1, w // 2)
        occ = Occlusion(lambda t: reduce(forward(t)))
        with torch.no_grad():
            attr = occ.attribute(
                x,
                sliding_window_shapes=(x.shape[1], *([w] * len(spatial))),
                strides=(x.shape[1], *([stride] * len(spatial))),
                baselines=base,
                perturbations_per_eval=16,
            )
        return attr.detach().sum(dim=1)[0].numpy().astype(np.float32)
    raise InferenceError(f"unknown saliency method {method!r}; MedLens knows {', '.join(METHODS)}")
