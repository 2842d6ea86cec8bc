"""torch back-end: TorchScript archives only (``torch.jit.load``), CUDA when present, CPU otherwise.

Pickled ``nn.Module`` files are never unpickled: loading them can run arbitrary code, which a plugin
folder dropped in by a user must not be able to do. Plain state dicts would need the network's Python
code, which a plugin does not ship, so TorchScript is the one torch format MedLens accepts.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from medlens.inference.errors import PluginLoadError
from medlens.inference.runtimes import DevicePreference


def _first_tensor(out: Any) -> Any:
    if isinstance(out, dict):
        out = next(iter(out.values()))
    if isinstance(out, list | tuple):
        out = out[0]
    return out


class TorchScriptSession:
    """A scripted/traced module in eval mode on one device."""

    def __init__(self, weights: Path, device: DevicePreference) -> None:
        import torch

        use_cuda = device != "cpu" and torch.cuda.is_available()
        self._device = torch.device("cuda" if use_cuda else "cpu")
        try:
            with warnings.catch_warnings():  # jit.load is flagged deprecated; still the safe format
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(str(weights), map_location=self._device)
        except Exception as exc:
            raise PluginLoadError(
                f"{weights.name} is not a TorchScript archive torch can load: {str(exc).splitlines()[0]}"
            ) from exc
        module.eval()
        self.module = module
        self.on_gpu = use_cuda
        self.device = "CUDA (torch)" if use_cuda else "CPU (torch)"

    def run(self, batch: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self._device)
        with torch.inference_mode():
            out = _first_tensor(self.module(x))
        return out.detach().float().cpu().numpy()


class TorchScriptRuntime:
    """Opens TorchScript ``.pt`` files."""

    name = "torchscript"

    def device_description(self) -> str:
        import torch

        return "CUDA (torch)" if torch.cuda.is_available() else "CPU (torch)"

    def open(self, weights: Path, device: DevicePreference = "auto") -> TorchScriptSession:
        return TorchScriptSession(Path(weights), device)
