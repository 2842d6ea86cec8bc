"""The deepbet brain-extraction models as the plugin ``deepbet.brain-extraction``.

deepbet (MIT) ships two TorchScript networks in ``site-packages/data/models``. We do not call its
``BrainExtraction`` class (nibabel I/O, its own device handling, tqdm, GUI dependencies); we load the
same ``.pt`` files through MedLens' TorchScript runtime (sha256-checked) and mirror its
``BrainExtraction.run_model`` / ``postprocess`` steps in numpy on our ``Volume``:

1. reorient to RAS and index (x, y, z), as ``nib.as_closest_canonical(img).get_fdata()`` gives;
2. 128³ nearest-exact copy; 0.5/99.5 percentiles of it as the intensity clip;
3. normalise: clip-scale to [0, 1], then ``0.226 * (x - mean) / std + 0.449``;
4. the bbox network on 128³; threshold 0.5; largest component; its bounding box with 10 % margin,
   scaled to the full-size grid;
5. the crop resized to 256³ (nearest-exact), the brain network, back to the crop's size;
6. threshold, largest connected component and hole filling inside the box.

The mask then goes back to the source grid (an exact permutation: nearest neighbour).
"""

from __future__ import annotations

import functools
import threading
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from medlens.inference.errors import InferenceError
from medlens.inference.jobs import ProgressFn, check_cancelled
from medlens.inference.manifest import parse_manifest
from medlens.inference.postprocess import keep_largest_component
from medlens.inference.preprocess import ModelGrid, resample_to_source
from medlens.viewer.model import Geometry, Heatmap, Label, LabelMap, Volume, VolumeMeta

if TYPE_CHECKING:
    from medlens.inference.discovery import PluginEntry, PluginRegistry
    from medlens.inference.runner import InferenceResult, PipelineContext

PLUGIN_ID = "deepbet.brain-extraction"
DISTRIBUTION = "deepbet"
# Known-good hashes of the weights shipped in deepbet releases (checked before every load).
KNOWN_SHA256: dict[str, dict[str, str]] = {
    "1.0.2": {
        "model.pt": "de8ee7c69654d0dd3935dc4a5d84571d8ecf4637a6bfc01df399c4c2bc86e0fd",
        "bbox_model.pt": "39a7b2b5f799faa1391ea97bfcdc0b9299f20d84f2316a4ff8918dc4685e40aa",
    }
}
SMALL_SHAPE = (128, 128, 128)
SHAPE = (256, 256, 256)
BBOX_MARGIN = 0.1


def _record_sha256(dist: metadata.Distribution, relative: str) -> str | None:
    """sha256 of a file as recorded in the wheel's RECORD (for releases not in KNOWN_SHA256)."""
    import base64

    for f in dist.files or []:
        if str(f) == relative and f.hash is not None and f.hash.mode == "sha256":
            return base64.urlsafe_b64decode(f.hash.value + "==").hex()
    return None


def entry() -> PluginEntry | None:
    """The plugin entry when deepbet is installed (None otherwise); imports neither deepbet nor torch."""
    from medlens.inference.discovery import PluginEntry

    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    models = Path(str(dist.locate_file("data/models")))
    known = KNOWN_SHA256.get(dist.version, {})
    sha = {
        name: known.get(name) or _record_sha256(dist, f"data/models/{name}")
        for name in ("model.pt", "bbox_model.pt")
    }
    missing = [name for name, digest in sha.items() if digest is None]
    if missing:
        return PluginEntry(
            PLUGIN_ID,
            "adapter",
            models,
            None,
            f"deepbet {dist.version}: no known sha256 for {', '.join(missing)}",
        )
    data = {
        "id": PLUGIN_ID,
        "name": "Brain extraction (deepbet)",
        "version": dist.version,
        "task": "segmentation",
        "runtime": "torchscript",
        "description": "Brain mask of a T1-weighted MR head scan (deepbet, MIT).",
        "weights": {"file": "model.pt", "sha256": sha["model.pt"]},
        "extra_weights": {"bbox": {"file": "bbox_model.pt", "sha256": sha["bbox_model.pt"]}},
        "input": {
            "modality": ["MR"],
            "dims": 3,
            "format": "magnitude",
            "orientation": "RAS",
            "spatial_shape": list(SHAPE),
            "normalization": {"kind": "percentile", "percentiles": [0.5, 99.5]},
        },
        "output": {
            "type": "probabilities",
            "format": "segmentation",
            "num_channels": 2,
            "activation": "none",
            "value_range": [0.0, 1.0],
            "channel_def": {"0": "background", "1": "brain"},
            "labels": [{"value": 1, "name": "brain", "color": [255, 200, 80]}],
        },
        "options": {"keep_largest_component": True, "threshold": 0.5},
        "model_card": str(Path(__file__).with_name("deepbet_card.md")),
        "pipeline": "deepbet",
    }
    manifest = parse_manifest(data, models, source=f"adapter deepbet {dist.version}")
    return PluginEntry(PLUGIN_ID, "adapter", models, manifest)


# -- the pipeline ---------------------------------------------------------------------------------
def resize_nearest_exact(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``F.interpolate(..., mode="nearest-exact")``: source index ``floor((i + 0.5) * in / out)``."""
    index = []
    for n_in, n_out in zip(array.shape, shape, strict=True):
        scale = np.float32(n_in / n_out)
        idx = np.floor((np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * scale).astype(np.int64)
        index.append(np.minimum(idx, n_in - 1))
    return array[np.ix_(*index)]


def normalize_deepbet(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """deepbet's ``normalize``: clip-scale to [0, 1], standardise (unbiased std), 0.226 * x + 0.449."""
    y = np.clip((x - np.float32(low)) / np.float32(high - low), 0, 1).astype(np.float32)
    y = (y - y.mean(dtype=np.float64)) / y.std(dtype=np.float64, ddof=1)
    return (0.226 * y + 0.449).astype(np.float32)


def bbox_with_margin(mask_small: np.ndarray, shape: tuple[int, ...], margin: float) -> tuple[slice, ...]:
    """deepbet's ``get_bbox_with_margin``: the small mask's box scaled to ``shape``, grown by ``margin``."""
    ranges = [np.nonzero(mask_small.mean(axis=dims) > 0.02)[0] for dims in ((1, 2), (0, 2), (0, 1))]
    if any(r.size == 0 for r in ranges):
        raise InferenceError("deepbet found no brain in this series (is it a T1-weighted head MR?)")
    center = np.array([(r.max() + 1 + r.min()) / 2 for r in ranges], dtype=np.float32)
    size = np.array([(r.max() + 1) - r.min() for r in ranges], dtype=np.float32)
    scale = np.asarray(shape, np.float32) / np.asarray(mask_small.shape, np.float32)
    center, size = np.round(scale * center), np.round((1 + 2 * margin) * (scale * size))
    return tuple(
        slice(max(0, int(c - s / 2)), min(n, int(c + s / 2)))
        for c, s, n in zip(center, size, shape, strict=True)
    )


def pipeline(ctx: PipelineContext) -> InferenceResult:
    """Brain mask and brain probability for ``ctx.volume`` on its own grid."""
    from medlens.inference.runner import InferenceResult

    m, volume, progress = ctx.manifest, ctx.volume, ctx.progress
    steps = 4

    def step(i: int) -> None:
        check_cancelled(ctx.cancel)
        if progress:
            progress(i, steps)

    step(0)
    image = sitk.DICOMOrient(volume.to_sitk(), "RAS")
    ras_geometry = Geometry(image.GetSpacing(), image.GetOrigin(), image.GetDirection())
    zyx = sitk.GetArrayFromImage(image).astype(np.float32)
    x = np.nan_to_num(np.ascontiguousarray(zyx.transpose(2, 1, 0)))  # (x, y, z), RAS like nibabel
    small = resize_nearest_exact(x, SMALL_SHAPE)
    low, high = (float(v) for v in np.quantile(small, (0.005, 0.995)))
    if high <= low:
        raise InferenceError("this series has no contrast to segment (constant intensity)")

    bbox_net = ctx.predictor("bbox")
    mask_small = bbox_net(normalize_deepbet(small, low, high)[None, None])[0, 1] > 0.5
    mask_small = keep_largest_component(mask_small.astype(np.uint8)).astype(np.float32)
    step(1)
    bbox = bbox_with_margin(mask_small, x.shape, BBOX_MARGIN)
    crop = x[bbox]
    brain_net = ctx.predictor(None)
    prob_crop = brain_net(normalize_deepbet(resize_nearest_exact(crop, SHAPE), low, high)[None, None])[0, 1]
    step(2)
    prob = np.zeros(x.shape, np.float32)
    prob[bbox] = resize_nearest_exact(prob_crop, crop.shape)
    threshold = ctx.options.threshold if ctx.options.threshold is not None else 0.5
    mask = np.zeros(x.shape, np.uint8)
    inside = (prob[bbox] > threshold).astype(np.uint8)
    if ctx.options.keep_largest_component and inside.any():
        inside = keep_largest_component(inside)
    mask[bbox] = ndimage.binary_fill_holes(inside).astype(np.uint8)
    step(3)

    shape_zyx = tuple(int(s) for s in zyx.shape)
    grid = ModelGrid(volume.geometry, tuple(volume.array.shape), ras_geometry, shape_zyx)  # type: ignore[arg-type]
    labels = resample_to_source(np.ascontiguousarray(mask.transpose(2, 1, 0)), grid, is_label=True)
    prob_src = resample_to_source(np.ascontiguousarray(prob.transpose(2, 1, 0)), grid)
    result = InferenceResult(m.id, m.task, device=brain_net.device)
    result.label_map = LabelMap(
        labels.astype(np.uint8), volume.geometry, [Label(1, "brain", (255, 200, 80))], name=m.name
    )
    result.heatmaps.append(
        Heatmap(prob_src.astype(np.float32), volume.geometry, "brain probability", "probability")
    )
    step(4)
    return result


# -- the brain as an organ for other plugins ------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _registry() -> PluginRegistry | None:
    """A registry holding only this adapter (its sessions stay open between calls), or None."""
    from medlens.inference.discovery import PluginRegistry

    e = entry()
    return PluginRegistry([e]) if e is not None and e.ok else None


def brain_mask(
    array: np.ndarray,
    geometry: Geometry,
    cancel: threading.Event | None = None,
    progress: ProgressFn | None = None,
) -> np.ndarray | None:
    """deepbet's brain mask of the T1 ``array`` (z, y, x) lying on ``geometry``; None when deepbet is
    not installed.

    Why: a plugin with ``options.organ = { MR = "brain" }`` must drop findings in the scalp, orbits
    and skull base; the classical threshold mask cannot tell the scalp from the brain on a whole-head
    contrast T1 (its bright diploe and fat bridge the skull), deepbet can. Not cached here: the
    engine keeps organ masks per series (``runner.ORGAN_MASKS``) and the training scripts on disk.
    """
    registry = _registry()
    if registry is None:
        return None
    from medlens.inference.runner import RunOptions, run_plugin

    volume = Volume(np.ascontiguousarray(array, dtype=np.float32), geometry, VolumeMeta(modality="MR"))
    result = run_plugin(PLUGIN_ID, volume, RunOptions(use_cache=False), registry=registry, cancel=cancel,
                        progress=progress)
    assert result.label_map is not None
    return np.asarray(result.label_map.array) > 0
