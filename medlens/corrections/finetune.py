"""Fine-tune a segmentation plugin on the corrections users reported, locally.

Why the TorchScript twin: ONNX graphs cannot be trained, and a plugin may not ship Python code (it
would run with the user's rights), but a scripted module's parameters are ordinary trainable
tensors. The result is re-exported to ONNX (``dynamo=False``: one self-contained file, the format the
built-in plugins use) beside a new twin, in a new version folder of the user plugin directory.

Activation without touching discovery: discovery lets the first plugin with an id win and the
built-in folder comes before the user folder, so a same-id copy could never take over. A fine-tuned
line therefore has its own id, ``<id>.local``. Only the active version's folder holds a
``plugin.toml``; every other version keeps ``plugin.toml.inactive`` (not discovered). A new version
is activated only when its Dice on the held-back corrections beats the version it was trained from
by ``min_gain``; otherwise the old one stays in use and the new folder is kept for inspection.

Batch-norm statistics stay frozen (the network runs in eval mode while training): a few corrected
cases are too few to re-estimate them, and shifting them would change the model everywhere.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medlens.corrections.metrics import dice
from medlens.corrections.store import CorrectionRecord, CorrectionStore
from medlens.inference.discovery import PluginRegistry, default_registry, user_plugin_dir
from medlens.inference.errors import InferenceError
from medlens.inference.jobs import ProgressFn, check_cancelled
from medlens.inference.manifest import Manifest
from medlens.inference.postprocess import apply_activation
from medlens.inference.preprocess import resample_to_model
from medlens.inference.runner import (
    RunOptions,
    model_channels,
    normalized_input,
    organ_on_model_grid,
    predict_dense,
    segmentation_labels,
)
from medlens.inference.saliency.twin import load_twin, twin_spec
from medlens.inference.weights import sha256_file
from medlens.viewer.model import Geometry, Volume, VolumeMeta

LOCAL_SUFFIX = ".local"


@dataclass
class FinetuneReport:
    plugin_id: str
    new_plugin_id: str
    new_version: str
    folder: Path
    train_cases: int
    heldout_cases: int
    dice_before: float
    dice_after: float
    activated: bool
    note: str


@dataclass
class _Case:
    volume: Volume
    mask: np.ndarray  # corrected labels on the volume's grid


def _case(store: CorrectionStore, record: CorrectionRecord, m: Manifest) -> _Case:
    geo = record.geometry
    image = store.load_array(record, "image").astype(np.float32)
    volume = Volume(
        image,
        Geometry(geo["spacing"], geo["origin"], geo["direction"]),
        VolumeMeta(modality=m.input.modality[0]),
    )
    return _Case(volume, store.load_array(record, "corrected"))


def split_cases(records: list[CorrectionRecord], holdout: float) -> tuple[list, list]:
    """Deterministic split by a hash of the record id (stable as records accumulate)."""
    ordered = sorted(records, key=lambda r: hashlib.sha256(r.id.encode()).hexdigest())
    n_held = min(len(ordered) - 1, max(1, round(len(ordered) * holdout)))
    return ordered[n_held:], ordered[:n_held]


def _label_channels(m: Manifest) -> list[tuple[int, int]]:
    """(output channel, label value) pairs."""
    offset = 0 if m.output.activation == "sigmoid" else 1
    return [(i + offset, lab.value) for i, lab in enumerate(m.output.labels)]


def predict_labels(m: Manifest, volume: Volume, run: Any) -> np.ndarray:
    """The plugin's label map for ``volume`` with ``run`` (numpy batch -> numpy), as the engine does."""
    opts = RunOptions().resolved(m)
    array, grid = resample_to_model(
        volume, m.input.spacing, m.input.orientation, keep_z_spacing=m.input.dims == 2
    )
    norm, _, organ = normalized_input(m, volume, array, grid, [])
    out = apply_activation(
        predict_dense(model_channels(norm, m.input), m, opts, run), m.output.activation
    )
    if organ is None:
        organ = organ_on_model_grid(m, volume, array, grid, [])
    return segmentation_labels(out, m, opts, grid, organ)


def heldout_dice(m: Manifest, cases: list[_Case], run: Any) -> float:
    """Mean foreground Dice of the predictions against the corrected masks."""
    return float(np.mean([dice(predict_labels(m, c.volume, run) > 0, c.mask > 0) for c in cases]))


def _patch_shape(m: Manifest, sample_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The training crop: the plugin's patch size, else the sample rounded up to a multiple of 16.

    Why: encoder-decoder networks (U-Nets) only accept sides divisible by 2**depth, and whole
    resampled slices rarely are (a 0.7 mm 512 x 512 CT slice is 358 x 358 at 1 mm).
    """
    if m.input.spatial_shape:
        return tuple(int(v) for v in m.input.spatial_shape)[-len(sample_shape) :]
    return tuple(-(-int(s) // 16) * 16 for s in sample_shape)


def _crops(
    x: np.ndarray, y: np.ndarray, patch: tuple[int, ...], rng: np.random.Generator, n_fg: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """One random crop of (image (C, *sp), labels (*sp)) plus ``n_fg`` centred on foreground voxels."""
    pad = [max(0, p - s) for p, s in zip(patch, y.shape, strict=True)]
    if any(pad):
        x = np.pad(x, [(0, 0), *[(0, p) for p in pad]], mode="edge")
        y = np.pad(y, [(0, p) for p in pad])
    fg = np.argwhere(y > 0)
    centres = [None] + [fg[rng.integers(len(fg))] for _ in range(n_fg if len(fg) else 0)]
    out = []
    for c in centres:
        if c is None:
            start = [int(rng.integers(0, s - p + 1)) for s, p in zip(y.shape, patch, strict=True)]
        else:
            start = [int(np.clip(ci - p // 2, 0, s - p)) for ci, s, p in zip(c, y.shape, patch, strict=True)]
        sl = tuple(slice(a, a + p) for a, p in zip(start, patch, strict=True))
        out.append((x[(slice(None), *sl)], y[sl]))
    return out


def _training_arrays(
    m: Manifest, cases: list[_Case], seed: int = 0, fg_crops: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """(inputs (N, C, *patch), targets (N, *patch) label values): crops on the model grid.

    Every slice (2D) or volume (3D) gives one random crop, and ``fg_crops`` more centred on the
    corrected region, so the few voxels a user fixed are not drowned in background.
    """
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in cases:
        array, grid = resample_to_model(
            c.volume, m.input.spacing, m.input.orientation, keep_z_spacing=m.input.dims == 2
        )
        norm, _, _ = normalized_input(m, c.volume, array, grid, [])
        mask_vol = c.volume.derived(c.mask.astype(np.float32))
        mask, _ = resample_to_model(
            mask_vol, m.input.spacing, m.input.orientation, keep_z_spacing=m.input.dims == 2
        )
        mask = np.rint(mask).astype(np.int64)
        img = model_channels(norm, m.input)
        samples = (
            [(img[:, z], mask[z]) for z in range(mask.shape[0])] if m.input.dims == 2 else [(img, mask)]
        )
        for x, y in samples:
            for cx, cy in _crops(x, y, _patch_shape(m, y.shape), rng, fg_crops):
                xs.append(cx)
                ys.append(cy)
    return np.stack(xs).astype(np.float32), np.stack(ys)


def _loss(m: Manifest, out: Any, y: Any) -> Any:
    import torch
    import torch.nn.functional as fn

    if m.output.activation == "sigmoid":
        target = torch.stack([(y == v).float() for _, v in _label_channels(m)], dim=1)
        return fn.binary_cross_entropy_with_logits(out, target)
    classes = torch.zeros_like(y)
    for ch, v in _label_channels(m):
        classes[y == v] = ch
    return fn.cross_entropy(out, classes)


def train(
    module: Any,
    m: Manifest,
    x: np.ndarray,
    y: np.ndarray,
    *,
    steps: int,
    lr: float,
    batch: int,
    seed: int,
    progress: ProgressFn | None,
    cancel: threading.Event | None,
) -> None:
    """Adam on random mini-batches; the network stays in eval mode (frozen batch-norm statistics)."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    module.eval()
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    for step in range(steps):
        check_cancelled(cancel)
        idx = rng.choice(len(x), size=min(batch, len(x)), replace=False)
        xb, yb = torch.from_numpy(x[idx]), torch.from_numpy(y[idx])
        if rng.random() < 0.5:  # flips: cheap augmentation that keeps anatomy plausible
            xb, yb = xb.flip(-1), yb.flip(-1)
        loss = _loss(m, module(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if progress:
            progress(step + 1, steps)


def _torch_run(module: Any) -> Any:
    import torch

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(np.ascontiguousarray(batch, np.float32))).numpy()

    return run


def _onnx_run(path: Path) -> Any:
    from medlens.inference.runtimes.onnx import OnnxRuntime

    return OnnxRuntime().open(path, "cpu").run


def _export(module: Any, m: Manifest, folder: Path) -> None:
    import torch

    module.eval()
    module.save(str(folder / "model.pt"))
    if m.runtime != "onnx":
        return
    side = m.input.spatial_shape or ((32,) * m.input.dims)
    example = torch.rand(1, m.input.num_channels, *side)
    spatial = {i: f"s{i}" for i in range(2, example.ndim)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(folder / "model.onnx"),
            dynamo=False,
            input_names=["image"],
            output_names=["pred"],
            dynamic_axes={"image": {0: "n", **spatial}, "pred": {0: "n", **spatial}},
            opset_version=17,
        )


def _manifest_text(base: Path, m: Manifest, new_id: str, version: str, folder: Path) -> str:
    """The base plugin.toml with id, version, weights and twin rewritten (everything else kept)."""
    import tomllib

    data = tomllib.loads((base / "plugin.toml").read_text(encoding="utf-8"))
    main = "model.onnx" if m.runtime == "onnx" else "model.pt"
    data["id"], data["version"] = new_id, version
    data["name"] = f"{m.name} (fine-tuned locally)"
    data["weights"] = {"file": main, "sha256": sha256_file(folder / main)}
    data["model_card"] = "MODEL_CARD.md"
    data.pop("extra_weights", None)
    data.pop("saliency", None)
    if m.runtime == "onnx":
        data["saliency"] = {"torchscript": "model.pt", "sha256": sha256_file(folder / "model.pt")}
    return _dump_toml(data)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml_value(x)}' for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _dump_toml(data: dict[str, Any], prefix: str = "") -> str:
    """A minimal TOML writer for manifests (tomllib reads only; no extra dependency for this)."""
    scalars = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    out = "\n".join(scalars) + ("\n" if scalars else "")
    for k, v in data.items():
        if isinstance(v, dict):
            name = f"{prefix}{k}"
            out += f"\n[{name}]\n" + _dump_toml(v, name + ".")
    return out


def _next_version(root: Path, base_id: str, base_version: str) -> tuple[int, str]:
    n = 1
    while (root / f"{base_id}{LOCAL_SUFFIX}-v{n}").exists():
        n += 1
    return n, f"{base_version.split('+')[0]}+ft{n}"


def finetune_plugin(
    plugin_id: str,
    *,
    store: CorrectionStore | None = None,
    registry: PluginRegistry | None = None,
    out_root: Path | None = None,
    steps: int = 200,
    lr: float = 1e-3,
    batch: int = 8,
    holdout: float = 0.25,
    min_gain: float = 0.005,
    seed: int = 0,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> FinetuneReport:
    """Fine-tune ``plugin_id`` on its stored corrections; see the module docstring for the rules."""
    registry = registry or default_registry()
    store = store or CorrectionStore()
    m = registry.manifest(plugin_id)
    entry = registry.get(plugin_id)
    if m.task != "segmentation":
        raise InferenceError(f"fine-tuning is implemented for segmentation plugins; {m.id} is {m.task}")
    if twin_spec(m) is None:
        raise InferenceError(f"plugin {m.id} has no TorchScript twin; fine-tuning needs a trainable graph")
    records = [r for r in store.records(plugin_id) if "corrected" in r.files]
    if len(records) < 2:
        raise InferenceError(f"plugin {m.id} has {len(records)} correction(s); fine-tuning needs at least 2")
    train_recs, held_recs = split_cases(records, holdout)
    train_cases = [_case(store, r, m) for r in train_recs]
    held_cases = [_case(store, r, m) for r in held_recs]

    before_run = registry.open_session(plugin_id, None, "cpu").run
    dice_before = heldout_dice(m, held_cases, before_run)
    module = load_twin(m)
    x, y = _training_arrays(m, train_cases, seed=seed)
    train(module, m, x, y, steps=steps, lr=lr, batch=batch, seed=seed, progress=progress, cancel=cancel)
    check_cancelled(cancel)

    root = Path(out_root) if out_root is not None else user_plugin_dir()
    base_id = m.id.removesuffix(LOCAL_SUFFIX)
    n, version = _next_version(root, base_id, m.version)
    folder = root / f"{base_id}{LOCAL_SUFFIX}-v{n}"
    folder.mkdir(parents=True)
    _export(module, m, folder)
    main = folder / ("model.onnx" if m.runtime == "onnx" else "model.pt")
    after_run = _onnx_run(main) if m.runtime == "onnx" else _torch_run(module)
    dice_after = heldout_dice(m, held_cases, after_run)
    activated = dice_after > dice_before + min_gain
    new_id = base_id + LOCAL_SUFFIX
    card = m.model_card_path.read_text(encoding="utf-8") if m.model_card_path.is_file() else ""
    card += (
        f"\n\n## Fine-tuned locally ({version})\n\n"
        f"- from {m.id} {m.version} (weights sha256 {m.weights.sha256[:16]}...)\n"
        f"- on {len(train_recs)} user-corrected case(s); {len(held_recs)} held back for the metric\n"
        f"- {steps} Adam steps, learning rate {lr}, batch-norm statistics frozen\n"
        f"- held-back Dice: before {dice_before:.3f}, after {dice_after:.3f}\n"
        f"- {'activated' if activated else 'not activated (not better than the version it came from)'}\n"
        "- Not for clinical use.\n"
    )
    (folder / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    assert entry.path is not None
    text = _manifest_text(entry.path, m, new_id, version, folder)
    if activated:
        for old in root.glob(f"{base_id}{LOCAL_SUFFIX}-v*/plugin.toml"):
            old.rename(old.with_name("plugin.toml.inactive"))
        (folder / "plugin.toml").write_text(text, encoding="utf-8")
    else:
        (folder / "plugin.toml.inactive").write_text(text, encoding="utf-8")
    note = f"held-back Dice {dice_before:.3f} -> {dice_after:.3f}; " + (
        f"{new_id} {version} is now active" if activated else f"kept {m.id} {m.version} active"
    )
    return FinetuneReport(
        m.id,
        new_id,
        version,
        folder,
        len(train_recs),
        len(held_recs),
        dice_before,
        dice_after,
        activated,
        note,
    )
