"""Saliency for a plugin on a volume: the same pre-processing as inference, one map per network
input (a slice for 2D models, the volume or a window for 3D ones), back on the source grid, with
the sanity check (:mod:`medlens.inference.saliency.sanity`) computed on the most telling input.

Runs as a job like :func:`medlens.inference.runner.run_plugin`: ``progress(done, total)`` and a
``cancel`` event checked between inputs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medlens.inference.discovery import PluginRegistry, default_registry
from medlens.inference.errors import InferenceError
from medlens.inference.jobs import ProgressFn, check_cancelled
from medlens.inference.manifest import Manifest
from medlens.inference.preprocess import ModelGrid, resample_to_model, resample_to_source
from medlens.inference.runner import (
    RunOptions,
    _resize,
    model_channels,
    normalized_input,
    organ_on_model_grid,
    predict_dense,
    with_organ_channel,
)
from medlens.inference.saliency import sanity as sanity_mod
from medlens.inference.saliency.availability import unavailable_reason
from medlens.inference.saliency.methods import (
    METHOD_NAMES,
    Target,
    attribute,
    blurred_copy,
    make_reduce,
    numpy_forward,
)
from medlens.inference.saliency.sanity import SanityReport
from medlens.inference.saliency.twin import load_twin, twin_spec
from medlens.viewer.model import Heatmap, Volume


@dataclass
class SaliencyResult:
    """One heatmap (float32, source grid) and the sanity check that must be shown with it."""

    heatmap: Heatmap
    method: str
    sanity: SanityReport | None
    slices: list[int] = field(default_factory=list)  # source z indices computed (2D models)
    target: str = ""  # class name or label name explained
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Sample:
    """One network input and where its map goes back on the model grid."""

    x: np.ndarray  # (1, C, *spatial), normalised
    place: Callable[[np.ndarray], None]  # writes a map of x's spatial shape into the model-grid map
    target: Target
    weight: float  # how telling the input is (score / region size): the sanity check uses the max


def _model_slice(grid: ModelGrid, source_z: int) -> int:
    """Model-grid slice holding the centre of source slice ``source_z`` (grids may be reoriented)."""
    _z, y, x = grid.source_shape
    lps = grid.source.index_to_lps([(x - 1) / 2, (y - 1) / 2, source_z])
    return int(np.clip(round(float(grid.model.lps_to_index(lps)[2])), 0, grid.model_shape[0] - 1))


def _ig_baseline(m: Manifest, x: np.ndarray, darkest: float) -> float | Any:
    """What Integrated Gradients integrates from for input ``x``: the darkest normalised value, or a
    blurred copy of ``x``'s image channels, as the manifest's ``saliency_ig_baseline`` says. Other
    methods (Occlusion's patches, the deletion check) always use the darkest value, so the deletion
    check removes pixels the same way for every map it judges."""
    spec = m.saliency_ig_baseline
    if spec.kind == "darkest" or spec.sigma_px is None:
        return darkest
    import torch

    image = x.shape[1] - int(m.input.organ_channel)
    return torch.from_numpy(blurred_copy(x, spec.sigma_px, image))


def _method_label(m: Manifest, method: str) -> str:
    spec = m.saliency_ig_baseline
    if method == "integrated_gradients" and spec.kind == "blur":
        return f"{METHOD_NAMES[method]} from a blurred copy (σ {spec.sigma_px:g} px)"
    return METHOD_NAMES[method]


def _activation(m: Manifest) -> str:
    if m.task == "classification":
        return m.output.activation if m.output.activation != "none" else "softmax"
    return m.output.activation


def _label_channel(m: Manifest, label: int | None) -> tuple[int, str]:
    labels = m.output.labels
    value = labels[0].value if label is None else label
    for i, lab in enumerate(labels):
        if lab.value == value:
            return (i if m.output.activation == "sigmoid" else i + 1), lab.name
    raise InferenceError(f"plugin {m.id} has no label {value}")


def _window(center: Sequence[int], roi: Sequence[int], shape: Sequence[int]) -> tuple[slice, ...]:
    out = []
    for c, r, s in zip(center, roi, shape, strict=True):
        start = int(np.clip(c - r // 2, 0, max(s - r, 0)))
        out.append(slice(start, start + r))
    return tuple(out)


def _pad_to(a: np.ndarray, roi: Sequence[int], value: float) -> np.ndarray:
    pads = [(0, 0)] * (a.ndim - len(roi)) + [
        (0, max(r - s, 0)) for r, s in zip(roi, a.shape[-len(roi) :], strict=True)
    ]
    return np.pad(a, pads, constant_values=value) if any(p[1] for p in pads) else a


def _classification_samples(
    m: Manifest, image: np.ndarray, zs: list[int], out_map: np.ndarray, channel: int, score: Callable
) -> list[_Sample]:
    shape = m.input.spatial_shape
    target = Target("classification", channel, _activation(m))
    samples = []
    inputs = [(None, image)] if m.input.dims == 3 else [(z, image[:, z]) for z in zs]
    for z, img in inputs:
        resized = np.stack([_resize(c, shape) if shape else c for c in img])
        x = resized[None].astype(np.float32)

        def place(a: np.ndarray, z: int | None = z, native: tuple[int, ...] = img.shape[1:]) -> None:
            back = _resize(a.astype(np.float32), native)
            if z is None:
                out_map[...] = back
            else:
                out_map[z] = back

        samples.append(_Sample(x, place, target, float(score(x)[0])))
    return samples


def _segmentation_samples(
    m: Manifest,
    image: np.ndarray,
    zs: list[int],
    out_map: np.ndarray,
    channel: int,
    predict: Callable,
    threshold: float,
    baseline: float,
) -> tuple[list[_Sample], list[str]]:
    """One input per slice (2D) or per volume (3D): a window of the plugin's patch size centred on the
    label's predicted region (found with the inference engine's own sliding windows)."""
    from medlens.inference.postprocess import apply_activation

    opts = RunOptions().resolved(m)
    activation = _activation(m)
    roi = m.input.spatial_shape
    samples: list[_Sample] = []
    notes: list[str] = []
    parts = [(None, image)] if m.input.dims == 3 else [(z, image[:, z : z + 1]) for z in zs]
    for z, img in parts:
        probs = apply_activation(predict_dense(img, m, opts, predict), activation)
        region = probs[channel] > threshold if activation == "sigmoid" else probs.argmax(axis=0) == channel
        spatial = img.shape[1:] if z is None else img.shape[2:]
        region = region if z is None else region[0]
        if not region.any():
            notes.append(
                f"slice {z}: the label was not predicted here; no map"
                if z is not None
                else "the label was not predicted; no map"
            )
            continue
        chans = img if z is None else img[:, 0]
        if roi:
            centre = [round(float(c)) for c in np.argwhere(region).mean(axis=0)]
            win = _window(centre, roi, spatial)
            x = _pad_to(chans[(slice(None), *win)], roi, baseline)[None].astype(np.float32)
            reg = _pad_to(region[win], roi, False)
            if reg.sum() < region.sum():
                notes.append("the region is larger than the plugin's window; the map covers the window")
        else:
            win = tuple(slice(0, s) for s in spatial)
            x, reg = chans[None].astype(np.float32), region

        def place(a: np.ndarray, z: int | None = z, win: tuple[slice, ...] = win) -> None:
            dest = out_map if z is None else out_map[z]
            sizes = tuple(s.stop - s.start for s in win)
            clipped = tuple(slice(s.start, min(s.stop, d)) for s, d in zip(win, dest.shape, strict=True))
            crop = a[tuple(slice(0, min(n, c.stop - c.start)) for n, c in zip(sizes, clipped, strict=True))]
            dest[clipped] = crop

        samples.append(_Sample(x, place, Target("segmentation", channel, activation, reg), float(reg.sum())))
    return samples, notes


def compute_saliency(
    plugin_id: str,
    volume: Volume,
    method: str = "integrated_gradients",
    *,
    slices: Sequence[int] | None = None,
    target: int | None = None,
    label: int | None = None,
    sanity: bool = True,
    randomisation: str = "full",
    n_steps: int = 32,
    seed: int = 0,
    registry: PluginRegistry | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> SaliencyResult:
    """A saliency map of plugin ``plugin_id`` on ``volume``, with its sanity check.

    ``slices``: source z indices for 2D models (default all); ``target``: class index for
    classification (default: the most probable); ``label``: label value for segmentation (default the
    first). ``randomisation``: "full" or "cascading" (top half of the layers). Raises
    :class:`InferenceError` (one line) when the plugin has no TorchScript twin and a gradient method is
    asked for; Occlusion runs on ONNX alone.
    """
    registry = registry or default_registry()
    m = registry.manifest(plugin_id)
    reason = unavailable_reason(m, method)
    if reason is not None:
        raise InferenceError(f"plugin {m.id} {reason}")
    import torch

    module = load_twin(m) if twin_spec(m) is not None else None
    if module is not None:

        def run_np(batch: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                out = module(torch.from_numpy(np.ascontiguousarray(batch, np.float32)))
            return out.numpy()
    else:
        run_np = registry.open_session(plugin_id, None, "cpu").run
    forward = numpy_forward(run_np)

    array, grid = resample_to_model(
        volume, m.input.spacing, m.input.orientation, keep_z_spacing=m.input.dims == 2
    )
    warnings: list[str] = []
    norm, _, organ = normalized_input(m, volume, array, grid, warnings, cancel)
    image = np.ascontiguousarray(model_channels(norm, m.input), np.float32)
    if m.input.organ_channel:  # the mask the score is bounded by: given, never attributed or removed
        if organ is None:
            organ = organ_on_model_grid(m, volume, array, grid, warnings, cancel)
        image = with_organ_channel(image, organ)
    fixed = int(m.input.organ_channel)
    baseline = float(norm.min())
    nz = volume.array.shape[0]
    source_zs = list(range(nz)) if slices is None else sorted({int(z) for z in slices})
    if any(not 0 <= z < nz for z in source_zs):
        raise InferenceError(f"slice index out of range 0..{nz - 1}")
    zs = sorted({_model_slice(grid, z) for z in source_zs})
    out_map = np.zeros(grid.model_shape, np.float32)

    if m.task == "classification":
        names = list(m.output.class_names)
        if target is None:
            first = image[:, zs[0]] if m.input.dims == 2 else image
            shape = m.input.spatial_shape
            probe = np.stack([_resize(c, shape) if shape else c for c in first])[None]
            target = int(np.argmax(run_np(probe.astype(np.float32)).reshape(1, -1)[0]))
            target = 0 if len(names) == 1 else target
        if not 0 <= target < len(names):
            raise InferenceError(f"plugin {m.id} has classes 0..{len(names) - 1}, not {target}")
        reduce_logit = make_reduce(Target("classification", target, _activation(m)))
        samples = _classification_samples(
            m,
            image,
            zs,
            out_map,
            target,
            lambda x: reduce_logit(torch.from_numpy(run_np(x))).numpy(),
        )
        explained = names[target]
    else:
        channel, explained = _label_channel(m, label)
        samples, notes = _segmentation_samples(
            m, image, zs, out_map, channel, run_np, m.options.threshold, baseline
        )
        warnings += notes
    check_cancelled(cancel)
    total = len(samples) + (2 if sanity and samples else 0)
    layer = m.gradcam_layers
    maps: list[np.ndarray] = []
    for i, s in enumerate(samples):
        check_cancelled(cancel)
        a = attribute(
            method,
            torch.from_numpy(s.x),
            forward,
            make_reduce(s.target),
            module=module,
            layer=layer,
            baseline=_ig_baseline(m, s.x, baseline) if method == "integrated_gradients" else baseline,
            n_steps=n_steps,
            evidence=m.saliency_evidence,
            channel=s.target.channel,
            fixed_channels=fixed,
        )
        maps.append(a)
        s.place(a)
        if progress:
            progress(i + 1, total)
    if method == "gradcam" and (empty := sum(float(a.max()) <= 0.0 for a in maps)):
        warnings.append(_empty_gradcam_note(empty, len(maps), layer, bool(m.saliency_evidence)))

    report: SanityReport | None = None
    if sanity and samples:
        best = int(np.argmax([s.weight for s in samples]))
        report = _sanity(
            m,
            samples[best],
            maps[best],
            method,
            module,
            forward,
            baseline,
            layer,
            n_steps,
            seed,
            randomisation,
            registry,
            progress,
            cancel,
            total,
        )
        if m.input.dims == 2 and len(samples) > 1:
            report = _with_note(report, f"checked on the most telling slice ({best + 1} of {len(samples)})")
    elif not samples:
        warnings.append("nothing to explain: no map computed")

    heat = resample_to_source(out_map, grid).astype(np.float32)
    name = f"{m.name}: {_method_label(m, method)} ({explained})"
    return SaliencyResult(
        Heatmap(heat, volume.geometry, name=name, kind="saliency"),
        method,
        report,
        source_zs if m.input.dims == 2 else [],
        explained,
        warnings,
    )


def _empty_gradcam_note(empty: int, total: int, layers: Sequence[str], evidence: bool) -> str:
    """Why a GradCAM map can be empty, for the user who would read a blank overlay as "nothing seen".

    GradCAM keeps only the positive part of the gradient-weighted sum of the layer's channels. Where
    that sum is negative at every pixel (on a one-channel logit layer: every logit of a weakly scored
    slice is below zero) the map is all zeros although the model did score the input."""
    where = "the input" if total == 1 else f"{empty} of {total} slices"
    other = "Integrated Gradients shows"
    if evidence:
        other = "Integrated Gradients or the model's evidence map show"
    at = ", ".join(map(repr, layers))
    return (
        f"GradCAM is empty on {where}: at {at} nothing raises the score there, which does not mean the "
        f"model saw nothing; {other} what it used"
    )


def _with_note(report: SanityReport, text: str) -> SanityReport:
    from dataclasses import replace

    return replace(report, note=f"{report.note}; {text}")


def _sanity(
    m: Manifest,
    s: _Sample,
    amap: np.ndarray,
    method: str,
    module: Any,
    forward: Callable,
    baseline: float,
    layer: Sequence[str],
    n_steps: int,
    seed: int,
    randomisation: str,
    registry: PluginRegistry,
    progress: ProgressFn | None,
    cancel: threading.Event | None,
    total: int,
) -> SanityReport:
    import torch

    check_cancelled(cancel)
    x = torch.from_numpy(s.x)
    fixed = int(m.input.organ_channel)  # the organ mask: held, never randomised away or deleted
    fraction = 0.5 if randomisation == "cascading" else 1.0
    if module is not None:
        rnd = sanity_mod.randomized_copy(module, seed=seed, cascade_fraction=fraction)
        rnd_forward = numpy_forward(lambda b: rnd(torch.from_numpy(b)).detach().numpy())
    else:
        rnd = None
        rnd_forward = numpy_forward(sanity_mod.randomized_onnx(str(m.weights_path), seed=seed))
    rmap = attribute(
        method,
        x,
        rnd_forward,
        make_reduce(s.target),
        module=rnd,
        layer=layer,
        baseline=_ig_baseline(m, s.x, baseline) if method == "integrated_gradients" else baseline,
        n_steps=n_steps,
        evidence=m.saliency_evidence,
        channel=s.target.channel,
        fixed_channels=fixed,
    )
    inside = sanity_mod.bounding_organ(s.x[0, -1] > 0.5) if fixed else None
    similarity, ssim = sanity_mod.randomisation_similarities(amap, rmap, inside)
    if progress:
        progress(total - 1, total)
    check_cancelled(cancel)
    prob = make_reduce(s.target, probability=True)

    def score(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return prob(forward(torch.from_numpy(batch))).numpy()

    auc, random_auc = sanity_mod.deletion_aucs(
        s.x, amap, score, baseline=baseline, normalise=s.target.task == "segmentation", seed=seed,
        fixed_channels=fixed,
    )
    passed, note = sanity_mod.judge(similarity, auc, random_auc)
    if inside is not None:
        note += "; maps compared inside the organ the model is bounded by"
    if progress:
        progress(total, total)
    return SanityReport(similarity, auc, random_auc, passed, note, ssim, randomisation)
