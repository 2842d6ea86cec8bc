"""Running a model through the MedLens engine exactly as the app will, for folds as for the shipped model.

Why: the card's figures must come from the plugin's documented preprocessing (``plugin.toml``), not
from a training-side re-implementation. Cross-validation folds are not shipped, so each fold's ONNX is
wrapped in a temporary copy of the plugin folder (same manifest, its own id, weights and sha256).
"""

from __future__ import annotations

import shutil
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from medlens.inference import PluginRegistry
from medlens.inference.discovery import PluginEntry
from medlens.inference.manifest import load_manifest, parse_manifest
from medlens.training.export import sha256_of


def _only(folder: Path) -> PluginRegistry:
    """A registry that sees ``folder`` and nothing else (no built-ins, user folder or adapters)."""
    return PluginRegistry.discover([folder], builtin=False, user=False, entry_points=False, adapters=False)


def registry_for(
    plugin_dir: Path,
    weights: Path | None = None,
    suffix: str = "",
    slice_context: int | None = None,
    saliency: Path | None = None,
    input_fields: dict[str, Any] | None = None,
) -> tuple[PluginRegistry, str]:
    """A registry holding the plugin in ``plugin_dir`` (optionally with other ``weights``, and with
    them another ``slice_context`` for a 2D / 2.5D variant: num_channels follows; ``saliency``: the
    fold's TorchScript twin, so the engine's gradient saliency runs on the fold too; ``input_fields``:
    ``[input]`` fields replaced last, e.g. for a 3D patch variant of a 2D plugin).

    The fold's manifest is the plugin's parsed ``plugin.toml`` with those fields replaced, validated
    like any manifest; its files are copied to a temporary folder that lives as long as the process.
    Returns the registry and the plugin id to run.
    """
    data = tomllib.loads((plugin_dir / "plugin.toml").read_text(encoding="utf-8"))
    if weights is None:
        return _only(plugin_dir), data["id"]
    tmp = Path(tempfile.mkdtemp(prefix="medlens-fold-")) / plugin_dir.name
    tmp.mkdir(parents=True)
    data["id"] = f"{data['id']}.{suffix or 'fold'}"
    data["weights"] = {**data["weights"], "file": "model.onnx", "sha256": sha256_of(weights)}
    shutil.copy(weights, tmp / "model.onnx")
    data["extra_weights"] = {}  # the plugin's other networks belong to its shipped weights
    if saliency is not None:
        data["extra_weights"]["saliency"] = {"file": "model.pt", "sha256": sha256_of(saliency)}
        shutil.copy(saliency, tmp / "model.pt")
    if slice_context is not None:
        channels = 2 * slice_context + 1 + int(bool(data["input"].get("organ_channel", False)))
        data["input"] = {**data["input"], "num_channels": channels, "slice_context": slice_context}
    if input_fields:
        data["input"] = {**data["input"], **input_fields}
    card = data.get("model_card", "MODEL_CARD.md")
    shutil.copy(plugin_dir / card, tmp / card)
    manifest = parse_manifest(data, tmp, f"{plugin_dir.name} fold {suffix}")
    return PluginRegistry([PluginEntry(manifest.id, "fold", tmp, manifest)]), manifest.id


def engine_organ(
    plugin_dir: Path, image: np.ndarray, spacing: tuple[float, float, float], modality: str
) -> np.ndarray:
    """The organ mask the engine gives plugin ``plugin_dir`` for ``image`` (z, y, x; raw units, already
    on the plugin's 1 mm LPS grid): the lung field, or deepbet's brain when it is installed.

    Why: a classifier with ``input.organ_channel`` must be calibrated and studied on the same mask it
    gets in the app, not on the training-side organ that places synthetic lesions.
    """
    from medlens.inference.preprocess import resample_to_model
    from medlens.inference.runner import organ_on_model_grid
    from medlens.viewer.model import Geometry, Volume, VolumeMeta

    m = load_manifest(plugin_dir)
    geometry = Geometry(spacing, (0.0, 0.0, 0.0))
    vol = Volume(np.asarray(image, np.float32), geometry, VolumeMeta(modality=modality))
    array, grid = resample_to_model(vol, m.input.spacing, m.input.orientation, keep_z_spacing=True)
    if array.shape != image.shape:
        raise ValueError(f"image {image.shape} is not on the plugin's grid ({array.shape})")
    mask = organ_on_model_grid(m, vol, array, grid, [])
    return np.ones(array.shape, bool) if mask is None else mask
