"""The differentiable twin of a plugin: the TorchScript archive that gradient methods run on.

ONNX graphs have no autograd in MedLens, so gradient saliency (Integrated Gradients, GradCAM) and
fine-tuning need the same network as TorchScript. Where it may be declared, in order:

1. ``[saliency] torchscript = "model.pt"`` with its ``sha256`` (the documented place);
2. ``[extra_weights.saliency]`` pointing at a ``.pt``/``.ts`` file (the built-in plugins' convention);
3. the main weights, when the plugin's runtime is already ``torchscript``.

The sha256 is checked before loading, like the main weights, and only ``torch.jit.load`` is used
(never unpickling), for the same reason as the TorchScript runtime.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

from medlens.inference.errors import InferenceError, PluginLoadError
from medlens.inference.manifest import Manifest
from medlens.inference.weights import verify_weights

_TS_SUFFIXES = (".pt", ".ts", ".pth", ".torchscript")


def twin_spec(manifest: Manifest) -> tuple[Path, str] | None:
    """(path, sha256) of the plugin's TorchScript twin, or None when it has none."""
    if manifest.saliency is not None:
        return manifest.path(manifest.saliency.torchscript), manifest.saliency.sha256
    extra = manifest.extra_weights.get("saliency") or manifest.extra_weights.get("torchscript")
    if extra is not None and Path(extra.file).suffix.lower() in _TS_SUFFIXES:
        return manifest.path(extra.file), extra.sha256
    if manifest.runtime == "torchscript":
        return manifest.weights_path, manifest.weights.sha256
    return None


def has_twin(manifest: Manifest) -> bool:
    return twin_spec(manifest) is not None


NO_TWIN = "has no TorchScript twin; saliency needs a differentiable graph"  # after "plugin <id>"


def no_twin_error(manifest: Manifest) -> InferenceError:
    return InferenceError(f"plugin {manifest.id} {NO_TWIN}")


def _jit_load(source: Any) -> Any:
    import torch

    with warnings.catch_warnings():  # jit.load is flagged deprecated; still the safe format
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(source, map_location="cpu")


def load_twin(manifest: Manifest) -> Any:
    """The twin as a ``torch.jit.ScriptModule`` in eval mode on the CPU (sha256 checked first)."""
    spec = twin_spec(manifest)
    if spec is None:
        raise no_twin_error(manifest)
    path, sha = spec
    verify_weights(path, sha, manifest.id)
    try:
        module = _jit_load(str(path))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PluginLoadError(
            f"plugin {manifest.id}: {path.name} is not a TorchScript archive: {first}"
        ) from exc
    module.eval()
    return module


def clone_module(module: Any) -> Any:
    """An independent copy of a ScriptModule (parameters not shared), via an in-memory archive."""
    import torch

    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    buffer.seek(0)
    copy = _jit_load(buffer)
    copy.eval()
    return copy
