"""Interchangeable model runtimes behind one small interface (like pydicom's pixel handlers).

A :class:`Runtime` opens a weights file into a :class:`Session`; a session maps a float32 batch
``(N, C, *spatial)`` to the network's first output as a float32 numpy array. Everything above this
layer (sliding windows, TTA, the runner) is runtime-agnostic, so ONNX and TorchScript plugins share
all pre/post-processing and a new back-end is one module plus one line in :data:`RUNTIMES`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

import numpy as np

DevicePreference = Literal["auto", "cpu", "gpu"]


class Session(Protocol):
    """An opened model, ready to run batches."""

    device: str  # for people: "CUDA (onnxruntime)", "CPU (torch)"...
    on_gpu: bool

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run one float32 batch ``(N, C, *spatial)``; returns the first output as float32."""
        ...


class Runtime(Protocol):
    """A back-end that can open weights files of one format."""

    name: str

    def device_description(self) -> str:
        """The device a session would use now, without loading any model (cheap, for listings)."""
        ...

    def open(self, weights: Path, device: DevicePreference = "auto") -> Session:
        """Open ``weights``; ``device`` "auto" takes a GPU when there is one, else the CPU."""
        ...


def get_runtime(name: str) -> Runtime:
    """The runtime registered under ``name`` ("onnx" or "torchscript"); imports it lazily."""
    if name == "onnx":
        from medlens.inference.runtimes.onnx import OnnxRuntime

        return OnnxRuntime()
    if name == "torchscript":
        from medlens.inference.runtimes.torchscript import TorchScriptRuntime

        return TorchScriptRuntime()
    from medlens.inference.errors import InferenceError

    raise InferenceError(f"unknown runtime {name!r}; MedLens knows {', '.join(RUNTIMES)}")


RUNTIMES: tuple[str, ...] = ("onnx", "torchscript")

_OOM_MARKERS = (
    "out of memory",
    "failed to allocate memory",
    "cudnn_status_alloc_failed",
    "cublas_status_alloc_failed",
    "bad_alloc",
    "cannot allocate memory",
)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for host or GPU out-of-memory errors from numpy, torch or onnxruntime.

    The back-ends report exhaustion with different exception types (``MemoryError``,
    ``torch.OutOfMemoryError``, onnxruntime's ``RuntimeException``) but recognisable messages; the
    runner needs one yes/no to decide on a retry.
    """
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _OOM_MARKERS)
