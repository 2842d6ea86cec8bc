"""Running a plugin on a volume: checks, pre-processing, windows, TTA, post-processing, caching.

One entry point, :func:`run_plugin`, for every task; results always come back on the *source* grid
(``LabelMap`` / ``Heatmap`` / derived ``Volume`` with the source geometry), never overwrite the
source, and carry warnings (e.g. "ran out of GPU memory, finished on the CPU") instead of failing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import ndimage

from medlens.inference.cache import ResultCache, volume_hash
from medlens.inference.discovery import PluginRegistry, default_registry
from medlens.inference.errors import InferenceCancelled, InferenceError, OutOfMemory
from medlens.inference.jobs import ProgressFn, check_cancelled, scaled_progress
from medlens.inference.manifest import InputSpec, Manifest
from medlens.inference.postprocess import (
    apply_activation,
    argmax_labels,
    grow_region,
    keep_largest_component,
    restrict_to_organ,
    select_component,
    threshold_labels,
)
from medlens.inference.preprocess import (
    IntensityMap,
    denormalize_intensity,
    normalize_intensity,
    resample_to_model,
    resample_to_source,
)
from medlens.inference.runtimes import DevicePreference, Session, is_out_of_memory
from medlens.inference.sliding_window import sliding_window_inference
from medlens.inference.tta import flip_tta, flip_variants
from medlens.viewer.model import Heatmap, Label, LabelMap, Volume


@dataclass(frozen=True)
class RunOptions:
    """Per-run choices; ``None`` means "the manifest's default"."""

    tta_flips: bool | None = None
    keep_largest_component: bool | None = None
    threshold: float | None = None
    overlap: float | None = None
    batch_size: int | None = None
    device: DevicePreference = "auto"
    check_modality: bool = True
    use_cache: bool = True

    def resolved(self, m: Manifest) -> RunOptions:
        """These options with every ``None`` replaced by the manifest's value."""
        return replace(
            self,
            tta_flips=m.options.tta_flips if self.tta_flips is None else self.tta_flips,
            keep_largest_component=(
                m.options.keep_largest_component
                if self.keep_largest_component is None
                else self.keep_largest_component
            ),
            threshold=m.options.threshold if self.threshold is None else self.threshold,
            overlap=m.input.overlap if self.overlap is None else self.overlap,
            batch_size=m.input.batch_size if self.batch_size is None else self.batch_size,
        )

    def cache_key(self) -> tuple[Any, ...]:
        return (
            self.tta_flips,
            self.keep_largest_component,
            self.threshold,
            self.overlap,
            self.batch_size,
            self.device,
        )


@dataclass
class InferenceResult:
    """What a plugin produced, on the source grid, with what the user should know about the run."""

    plugin_id: str
    task: str
    device: str = ""
    warnings: list[str] = field(default_factory=list)
    label_map: LabelMap | None = None
    heatmaps: list[Heatmap] = field(default_factory=list)
    volume: Volume | None = None  # denoising: a derived volume, source geometry
    class_names: list[str] = field(default_factory=list)
    probabilities: dict[str, float] = field(default_factory=dict)  # classification, whole study
    slice_probabilities: np.ndarray | None = None  # classification by a 2D model: (z, classes)
    # 2.5D classification: slices at each end seen with padded neighbours (left out of the study score)
    padded_end_slices: int = 0
    elapsed_s: float = 0.0
    cached: bool = False


class SafePredictor:
    """A session call that survives running out of memory.

    GPU out of memory: reopen the model on the CPU and go on. Host out of memory: halve the batch
    until one window at a time; only then give up with an :class:`OutOfMemory` the user can act on.
    Each fallback adds one warning to ``warnings`` (shown with the result).
    """

    def __init__(
        self,
        open_session: Callable[[DevicePreference], Session],
        device: DevicePreference,
        warnings: list[str],
        plugin_id: str = "",
    ) -> None:
        self._open = open_session
        self.session = open_session(device)
        self.warnings = warnings
        self.plugin_id = plugin_id
        self.max_batch: int | None = None

    @property
    def device(self) -> str:
        return self.session.device

    def _warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        step = self.max_batch or len(batch)
        if step < len(batch):
            return np.concatenate([self(batch[i : i + step]) for i in range(0, len(batch), step)])
        try:
            return self.session.run(batch)
        except InferenceError:
            raise
        except Exception as exc:
            if not is_out_of_memory(exc):
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise InferenceError(f"plugin {self.plugin_id} failed while running: {first}") from exc
            if self.session.on_gpu:
                self.session = self._open("cpu")
                self._warn("ran out of GPU memory; finished on the CPU (slower)")
                return self(batch)
            if len(batch) > 1:
                self.max_batch = max(1, len(batch) // 2)
                stale = "ran out of memory; continued"
                self.warnings[:] = [w for w in self.warnings if not w.startswith(stale)]
                self._warn(f"ran out of memory; continued with {self.max_batch} window(s) at a time")
                return self(batch)
            raise OutOfMemory(
                f"not enough memory to run plugin {self.plugin_id} even one window at a time; "
                "close other studies or applications and try again"
            ) from exc


@dataclass
class PipelineContext:
    """What an adapter pipeline (a plugin with ``pipeline = "..."``) gets to do its own processing."""

    volume: Volume
    manifest: Manifest
    options: RunOptions
    predictor: Callable[[str | None], SafePredictor]  # weights key (None = main) -> predictor
    warnings: list[str]
    progress: ProgressFn | None
    cancel: threading.Event | None


RESULT_CACHE = ResultCache()
# Organ masks of the series being worked on (1 byte a voxel), with the notes made computing them: a
# classifier run, its saliency maps and the segmenter on one series share one lung field / brain
# instead of recomputing it (the lung field of a chest CT takes seconds). Apart from RESULT_CACHE,
# so an organ never pushes one of the user's results out.
ORGAN_MASKS = ResultCache(max_entries=2)


def check_modality(manifest: Manifest, volume: Volume) -> list[str]:
    """Refuse a series of the wrong modality; warn when the file does not say (NIfTI, NRRD)."""
    accepted = manifest.input.modality
    modality = (volume.meta.modality or "").upper()
    if not modality:
        return [
            f"the series does not state its modality; assumed {'/'.join(accepted)} "
            f"as plugin {manifest.id} expects"
        ]
    if modality not in accepted:
        raise InferenceError(f"plugin {manifest.id} accepts {', '.join(accepted)}, this series is {modality}")
    return []


def organ_modality(manifest: Manifest, volume: Volume, array: np.ndarray) -> str:
    """The modality whose ``options.organ`` applies: the series' own, else the only one the plugin
    accepts, else CT when the intensities hold air in Hounsfield units (a tenth of the voxels at or
    below -500), MR otherwise.

    Why: NIfTI / NRRD files do not state a modality; without this a CT-and-MR plugin would bound
    nothing and report findings in the scalp or the bowel.
    """
    stated = (volume.meta.modality or "").upper()
    accepted = [a.upper() for a in manifest.input.modality]
    if stated or len(accepted) <= 1:
        return stated or (accepted[0] if accepted else "")
    if "CT" in accepted and float(np.mean(array <= -500.0)) >= 0.1:
        return "CT"
    return "MR" if "MR" in accepted else accepted[0]


def run_plugin(
    plugin_id: str,
    volume: Volume,
    options: RunOptions | None = None,
    *,
    registry: PluginRegistry | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> InferenceResult:
    """Run plugin ``plugin_id`` on ``volume``; raises :class:`InferenceError` for user errors and
    :class:`~medlens.inference.errors.InferenceCancelled` when ``cancel`` is set."""
    registry = registry or default_registry()
    manifest = registry.manifest(plugin_id)
    opts = (options or RunOptions()).resolved(manifest)
    warnings: list[str] = check_modality(manifest, volume) if opts.check_modality else []
    key = (manifest.id, manifest.version, manifest.weights.sha256, volume_hash(volume), opts.cache_key())
    if opts.use_cache and (hit := RESULT_CACHE.get(key)) is not None:
        if progress:
            progress(1, 1)
        return replace(hit, cached=True, warnings=list(hit.warnings))
    start = time.perf_counter()

    def make_predictor(weights_key: str | None) -> SafePredictor:
        return SafePredictor(
            lambda dev: registry.open_session(plugin_id, weights_key, dev), opts.device, warnings, plugin_id
        )

    if manifest.pipeline:
        from medlens.inference.adapters import get_pipeline

        ctx = PipelineContext(volume, manifest, opts, make_predictor, warnings, progress, cancel)
        result = get_pipeline(manifest.pipeline)(ctx)
    else:
        predictor = make_predictor(None)
        if manifest.task == "classification":
            result = _classify(manifest, volume, opts, predictor, progress, cancel)
        else:
            result = _dense(manifest, volume, opts, predictor, progress, cancel)
        result.device = predictor.device
    result.warnings = warnings + [w for w in result.warnings if w not in warnings]
    result.elapsed_s = time.perf_counter() - start
    if opts.use_cache:
        RESULT_CACHE.put(key, result)
    return result


# -- dense tasks: segmentation and denoising ------------------------------------------------------
def model_channels(array: np.ndarray, spec: InputSpec) -> np.ndarray:
    """(z, y, x) -> (C, z, y, x) as the model was trained: for a 2.5D model (``slice_context``)
    the slice and its neighbours, the end slices repeated (as in training); otherwise a scalar
    series repeated for models trained on ``num_channels`` channels.

    Read-only views: the 2.5D channels are windows over one edge-padded copy (1x the volume, not
    2c+1 copies)."""
    c = spec.slice_context
    if c:
        padded = np.pad(array, ((c, c), (0, 0), (0, 0)), mode="edge")
        return np.moveaxis(np.lib.stride_tricks.sliding_window_view(padded, 2 * c + 1, axis=0), -1, 0)
    n = spec.image_channels
    return np.broadcast_to(array[None], (n, *array.shape)) if n > 1 else array[None]


def with_organ_channel(channels: np.ndarray, organ: np.ndarray | None) -> np.ndarray:
    """``channels`` (C, *spatial) with the organ mask (*spatial, bool) appended as channel C: 1 inside,
    0 outside; all ones when ``organ`` is None (the plugin names no organ for this modality), so
    the model's bound then is the whole slice. For plugins with ``input.organ_channel``."""
    mask = np.ones(channels.shape[1:], np.float32) if organ is None else organ.astype(np.float32)
    return np.concatenate([np.asarray(channels, np.float32), mask[None]])


def predict_dense(
    image: np.ndarray,
    manifest: Manifest,
    opts: RunOptions,
    predict: Callable[[np.ndarray], np.ndarray],
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    part: int = 0,
    parts: int = 1,
) -> np.ndarray:
    """Raw network output ``(C_out, z, y, x)`` for a normalised ``(C, z, y, x)`` image.

    3D models: sliding windows over the volume (one window when no patch size is declared).
    2D models: slice by slice - batches of whole slices, or 2D sliding windows per slice.
    """
    roi = manifest.input.spatial_shape
    batch = opts.batch_size or 1
    overlap = opts.overlap or 0.0
    if manifest.input.dims == 3:
        return sliding_window_inference(
            image,
            roi or image.shape[1:],
            predict,
            overlap=overlap,
            batch_size=batch,
            progress=scaled_progress(progress, part, parts),
            cancel=cancel,
        )
    nz = image.shape[1]
    outputs: list[np.ndarray] = []
    if roi is None:
        for first in range(0, nz, batch):
            check_cancelled(cancel)
            chunk = np.moveaxis(image[:, first : first + batch], 1, 0)  # (n, C, y, x)
            outputs.extend(np.asarray(predict(np.ascontiguousarray(chunk)), np.float32))
            if progress:
                progress(part * nz + min(first + batch, nz), parts * nz)
    else:
        for z in range(nz):
            outputs.append(
                sliding_window_inference(
                    image[:, z], roi, predict, overlap=overlap, batch_size=batch, cancel=cancel
                )
            )
            if progress:
                progress(part * nz + z + 1, parts * nz)
    return np.stack(outputs, axis=1)


def ranking_scores(probability: np.ndarray, slice_context: int) -> np.ndarray:
    """The probabilities a component rule ranks regions by: those of a 2.5D model's first and last
    ``slice_context`` slices count as 0.

    Why: there the model's neighbour channels are padded copies, an input it never sees inside a
    series, and its confidence on them is the least trustworthy (a lung base on the first slice of a
    chest CT outranked the nodule). A region only on those slices is still reported when it is the
    only one; the label itself is not changed.
    """
    c = padded_end_slices(probability.shape[0], slice_context)
    if c == 0:
        return probability
    ranked = probability.copy()
    ranked[:c] = 0.0
    ranked[-c:] = 0.0
    return ranked


def padded_end_slices(n_slices: int, slice_context: int) -> int:
    """How many slices at each end of a series a 2.5D model sees with padded neighbours and does
    not get to judge the series by (0 for 2D models and for series too short to have an interior)."""
    return slice_context if 0 < 2 * slice_context < n_slices else 0


def segmentation_labels(
    out: np.ndarray, m: Manifest, opts: RunOptions, grid: Any, organ: np.ndarray | None = None
) -> np.ndarray:
    """Label values on the source grid from activated network output on the model ``grid``.

    Threshold (sigmoid) or arg-max; regions mostly outside ``organ`` (model grid, see
    :func:`organ_on_model_grid`) dropped; back to the source grid (nearest), then the optional
    keep-one-component (by size, or on the model grid by the label's probability when the
    manifest's ``component_rule`` says so, then grown by hysteresis to ``grow_threshold`` when
    set); fine-tuning scores its candidates with this same step.
    """
    values = [lab.value for lab in m.output.labels]
    if m.output.activation == "sigmoid":
        labels = threshold_labels(out, opts.threshold or 0.5, values)
        channel_of = {v: i for i, v in enumerate(values)}
    else:
        labels = argmax_labels(out, values)
        channel_of = {v: i + 1 for i, v in enumerate(values)}
    if organ is not None:
        labels = restrict_to_organ(labels, organ, m.options.organ_fraction)
    rule = m.options.component_rule
    if opts.keep_largest_component and rule != "size":
        for v in values:
            labels = pick_component(labels, out[channel_of[v]], m, v, grid.model.spacing[::-1])
    labels = resample_to_source(labels, grid, is_label=True)
    if opts.keep_largest_component and rule == "size":
        labels = keep_largest_component(labels)
    return labels


def pick_component(
    labels: np.ndarray, probability: np.ndarray, m: Manifest, value: int, spacing_zyx: Sequence[float]
) -> np.ndarray:
    """Keep the one region of label ``value`` the manifest's ``component_rule`` (and region ranker)
    picks by ``probability`` (the 2.5D end slices not ranked: :func:`ranking_scores`), grown by
    hysteresis to ``grow_threshold`` when set; on the model grid. The engine's choice of the reported
    region, in one place so a study can replay it on a subset of the regions
    (``medlens.training.studies.replay_picks``)."""
    ranker = m.options.region_ranker.ranker() if m.options.region_ranker else None
    scores = ranking_scores(probability, m.input.slice_context)
    labels = select_component(labels, scores, m.options.component_rule, value, ranker, spacing_zyx)
    if m.options.grow_threshold is not None:
        labels = grow_region(labels, probability, m.options.grow_threshold, value)
    return labels


def organ_on_model_grid(
    m: Manifest,
    volume: Volume,
    array: np.ndarray,
    grid: Any,
    warnings: list[str],
    cancel: threading.Event | None = None,
    progress: ProgressFn | None = None,
) -> np.ndarray | None:
    """The manifest's organ (``options.organ``) for ``volume``'s modality (:func:`organ_modality`) on
    the model grid, from the resampled raw intensities ``array``; None when the plugin names no organ
    for it. Notes what it decided in ``warnings``; ``progress`` follows deepbet when it runs.

    The brain comes from deepbet when it is installed (a pretrained brain extraction); otherwise from
    the classical threshold mask, with a warning that it is crude (it keeps the scalp of a contrast T1).
    Masks are kept in :data:`ORGAN_MASKS` (keyed by organ, voxels and grid); a hit repeats the notes
    the first computation made.
    """
    modality = organ_modality(m, volume, array)
    if m.options.organ and len(m.input.modality) > 1 and modality != (volume.meta.modality or "").upper():
        warnings.append(
            f"the {m.options.organ.get(modality, 'organ')} mask was chosen for "
            f"{modality} (judged from the intensities)"
        )
    name = m.options.organ.get(modality)
    if not name:
        return None
    key = (name, volume_hash(Volume(np.ascontiguousarray(array, np.float32), grid.model)))
    if (hit := ORGAN_MASKS.get(key)) is not None:
        mask, notes = hit
        if progress:
            progress(1, 1)
    else:
        found: list[str] = []
        mask = _organ_mask(name, array, grid, found, cancel, progress)
        notes = tuple(found)
        ORGAN_MASKS.put(key, (mask, notes))
    warnings.extend(n for n in notes if n not in warnings)
    if not mask.any():
        warnings.append(
            f"no {name} found in this series: plugin {m.id} looks for findings only there, so it "
            "reports none (is this the body part it was made for?)"
        )
    return mask


def organ_scale_for(m: Manifest, volume: Volume, array: np.ndarray) -> float | None:
    """k of ``input.normalization.organ_scale`` for this series' modality (:func:`organ_modality`), or
    None: then its intensities are normalised without the organ."""
    scales = m.input.normalization.organ_scale
    return scales.get(organ_modality(m, volume, array)) if scales else None


def normalized_input(
    m: Manifest,
    volume: Volume,
    array: np.ndarray,
    grid: Any,
    warnings: list[str],
    cancel: threading.Event | None = None,
    progress: ProgressFn | None = None,
) -> tuple[np.ndarray, IntensityMap, np.ndarray | None]:
    """The model-grid ``array`` normalised as the manifest says, the map to undo it, and the organ
    when it had to be found first (``organ_scale``: the upper bound is k x the organ's median; None
    otherwise, and the caller finds the organ later if it needs it, from the same cache).

    Why one function: the run, saliency and fine-tuning must feed the network exactly the same
    intensities, or a map or a correction is computed on an input the model never sees.
    """
    k = organ_scale_for(m, volume, array)
    if k is None:
        return (*normalize_intensity(array, m.input.normalization), None)
    organ = organ_on_model_grid(m, volume, array, grid, warnings, cancel, progress)
    if organ is None or not organ.any():
        warnings.append("intensities scaled by the whole series' percentiles: no organ to scale them by")
        return (*normalize_intensity(array, m.input.normalization), organ)
    high = k * float(np.median(array[organ]))
    return (*normalize_intensity(array, m.input.normalization, high), organ)


def _organ_mask(
    name: str,
    array: np.ndarray,
    grid: Any,
    warnings: list[str],
    cancel: threading.Event | None,
    progress: ProgressFn | None,
) -> np.ndarray:
    """Organ ``name`` on the model grid: deepbet's brain when installed, else the classical masks."""
    from medlens.inference.organs import organ_mask

    if name == "brain":
        from medlens.inference.adapters import deepbet

        try:
            mask = deepbet.brain_mask(array, grid.model, cancel, progress)
            if mask is not None:
                return mask
            warnings.append(
                "deepbet is not installed: findings are bounded by a crude threshold brain mask "
                "that may keep the scalp (pip install 'medlens[brain]')"
            )
        except InferenceCancelled:
            raise
        except InferenceError as exc:
            warnings.append(
                f"deepbet brain extraction failed ({exc}); findings are bounded by a crude "
                "threshold brain mask"
            )
    return organ_mask(np.asarray(array, np.float32), grid.model.spacing, name)


def _dense(
    m: Manifest,
    volume: Volume,
    opts: RunOptions,
    predict: SafePredictor,
    progress: ProgressFn | None,
    cancel: threading.Event | None,
) -> InferenceResult:
    array, grid = resample_to_model(
        volume, m.input.spacing, m.input.orientation, keep_z_spacing=m.input.dims == 2
    )
    result = InferenceResult(m.id, m.task)
    activation = m.output.activation if m.task == "segmentation" else "none"
    # the progress bar in equal parts: one per network pass, one more for the organ (deepbet's brain
    # extraction takes as long as a lesion pass), first when the intensities are scaled by it
    variants = flip_variants(3, m.options.tta_axes) if opts.tta_flips else [()]
    first = int(organ_scale_for(m, volume, array) is not None)
    with_organ = int(m.task == "segmentation" and bool(m.options.organ)) or first
    parts = len(variants) + with_organ
    organ_progress = scaled_progress(progress, 0 if first else parts - 1, parts)
    norm, imap, organ = normalized_input(m, volume, array, grid, result.warnings, cancel, organ_progress)
    if first and organ_progress:  # the lung field reports no progress of its own
        organ_progress(1, 1)
    image = model_channels(norm, m.input)

    def one_pass(img: np.ndarray, i: int) -> np.ndarray:
        raw = predict_dense(img, m, opts, predict, progress, cancel, i + first, parts)
        return apply_activation(raw, activation)

    if opts.tta_flips:
        out, spread = flip_tta(image, one_pass, variants)
        spread = spread.max(axis=0)
        if m.task == "denoising":  # in the image's own units (HU), as the denoised values are
            spread = spread / np.float32(imap.scale)
        result.heatmaps.append(
            Heatmap(
                resample_to_source(spread, grid).astype(np.float32),
                volume.geometry,
                name=f"{m.name}: uncertainty (flip TTA spread)",
                kind="uncertainty",
            )
        )
    else:
        out = one_pass(image, 0)
    check_cancelled(cancel)

    if m.task == "denoising":
        values = out[0]
        if m.output.value_range is not None:
            values = np.clip(values, *m.output.value_range)
        values = denormalize_intensity(values, imap)
        values = resample_to_source(values, grid).astype(np.float32)
        result.volume = volume.derived(
            values, series_description=f"{volume.meta.series_description} ({m.name})".strip()
        )
        return result

    values = [lab.value for lab in m.output.labels]
    if m.output.activation == "sigmoid":
        prob_channels = list(enumerate(m.output.labels))
    else:
        prob_channels = [(i + 1, lab) for i, lab in enumerate(m.output.labels) if i + 1 < out.shape[0]]
    if organ is None:
        organ = organ_on_model_grid(m, volume, array, grid, result.warnings, cancel, organ_progress)
    if organ_progress and not first:  # the lung field or no organ for this modality: done at once
        organ_progress(1, 1)
    labels = segmentation_labels(out, m, opts, grid, organ)
    dtype = np.uint8 if max(values, default=0) < 256 else np.uint16
    result.label_map = LabelMap(
        labels.astype(dtype, copy=False),
        volume.geometry,
        [Label(lab.value, lab.name, lab.color) for lab in m.output.labels],
        name=m.name,
    )
    for channel, lab in prob_channels:
        result.heatmaps.append(
            Heatmap(
                resample_to_source(out[channel], grid).astype(np.float32),
                volume.geometry,
                name=f"{lab.name} probability",
                kind="probability",
            )
        )
    return result


# -- classification -------------------------------------------------------------------------------
def _resize(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if tuple(array.shape) == tuple(shape):
        return array
    factors = [t / s for t, s in zip(shape, array.shape, strict=True)]
    return ndimage.zoom(array, factors, order=1, grid_mode=True, mode="nearest").astype(np.float32)


def _classify(
    m: Manifest,
    volume: Volume,
    opts: RunOptions,
    predict: SafePredictor,
    progress: ProgressFn | None,
    cancel: threading.Event | None,
) -> InferenceResult:
    array, grid = resample_to_model(
        volume, m.input.spacing, m.input.orientation, keep_z_spacing=m.input.dims == 2
    )
    result = InferenceResult(m.id, m.task, class_names=list(m.output.class_names))
    organ = None
    if m.input.organ_channel or organ_scale_for(m, volume, array) is not None:
        # the organ first: deepbet's brain takes about as long as the slices
        organ_progress = scaled_progress(progress, 0, 2)
        norm, _, organ = normalized_input(m, volume, array, grid, result.warnings, cancel, organ_progress)
        if organ is None:
            organ = organ_on_model_grid(m, volume, array, grid, result.warnings, cancel, organ_progress)
        if organ_progress:  # the lung field reports no progress of its own
            organ_progress(1, 1)
        progress = scaled_progress(progress, 1, 2)
    else:
        norm, _, _ = normalized_input(m, volume, array, grid, result.warnings)
    shape = m.input.spatial_shape
    activation = m.output.activation if m.output.activation != "none" else "softmax"
    if m.input.dims == 3:
        check_cancelled(cancel)
        image = _resize(norm, shape) if shape else norm
        logits = predict(model_channels(image, m.input)[None].astype(np.float32))
        probs = apply_activation(logits.reshape(1, -1), activation, axis=1)[0]
        if progress:
            progress(1, 1)
    else:
        slices: list[np.ndarray] = []
        batch = opts.batch_size or 1
        nz = norm.shape[0]
        channels = model_channels(norm, m.input)  # (C, z, y, x)

        def slice_channels(z: int) -> np.ndarray:
            if not m.input.organ_channel:
                return channels[:, z]
            return with_organ_channel(channels[:, z], None if organ is None else organ[z])

        for first in range(0, nz, batch):
            check_cancelled(cancel)
            zs = range(first, min(first + batch, nz))
            x = np.stack(
                [np.stack([_resize(ch, shape) if shape else ch for ch in slice_channels(z)]) for z in zs]
            ).astype(np.float32)
            slices.append(apply_activation(predict(x).reshape(len(zs), -1), activation, axis=1))
            if progress:
                progress(min(first + batch, nz), nz)
        per_slice = np.concatenate(slices)
        result.slice_probabilities = per_slice
        # the study score leaves out a 2.5D model's padded end slices, as the segmenter's region choice
        # does (runner.ranking_scores); a synthetic-volume study backs it (lesion_cls/end_slices.py)
        c = result.padded_end_slices = padded_end_slices(nz, m.input.slice_context)
        judged = per_slice[c : nz - c]
        probs = judged.max(axis=0) if m.output.study_aggregation == "max" else judged.mean(axis=0)
    result.probabilities = {name: float(p) for name, p in zip(m.output.class_names, probs, strict=True)}
    return result
