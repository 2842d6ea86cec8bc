"""onnxruntime back-end: CUDA execution provider when present, CPU otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medlens.inference.errors import PluginLoadError
from medlens.inference.runtimes import DevicePreference

_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"


class OnnxSession:
    """An ``onnxruntime.InferenceSession`` fed by its first input, read at its first output."""

    def __init__(self, weights: Path, providers: list[str]) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # warnings from graph fusion are noise for users
        try:
            self._session = ort.InferenceSession(str(weights), sess_options=options, providers=providers)
        except Exception as exc:
            raise PluginLoadError(
                f"onnxruntime cannot open {weights.name}: {str(exc).splitlines()[0]}"
            ) from exc
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name
        self.on_gpu = _CUDA in self._session.get_providers()
        self.device = "CUDA (onnxruntime)" if self.on_gpu else "CPU (onnxruntime)"

    def run(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        (out,) = self._session.run([self._output], {self._input: batch})
        return np.asarray(out, dtype=np.float32)


class OnnxRuntime:
    """Opens ``.onnx`` files."""

    name = "onnx"

    @staticmethod
    def _providers(device: DevicePreference) -> list[str]:
        import onnxruntime as ort

        available = ort.get_available_providers()
        if device != "cpu" and _CUDA in available:
            return [_CUDA, _CPU]
        return [_CPU]

    def device_description(self) -> str:
        return "CUDA (onnxruntime)" if _CUDA in self._providers("auto") else "CPU (onnxruntime)"

    def open(self, weights: Path, device: DevicePreference = "auto") -> OnnxSession:
        return OnnxSession(Path(weights), self._providers(device))
