"""ONNX export (one self-contained file) and the sha256 the manifest records.

Why ``dynamo=False``: the TorchScript-based exporter writes the weights into the same ``.onnx`` file,
so a plugin folder holds a single model file whose hash the manifest can pin.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch


def sha256_of(path: Path | str) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_onnx(
    model: torch.nn.Module, example: torch.Tensor, path: Path | str, *, dynamic_hw: bool, spatial_output: bool
) -> str:
    """Export ``model`` in eval mode; returns the file's sha256.

    The batch axis is always dynamic; height/width too when ``dynamic_hw`` (and on the output when
    ``spatial_output``, i.e. for dense models, not for a classifier's ``(N, 1)`` logits).
    """
    model = model.eval()
    axes = {0: "batch", 2: "height", 3: "width"} if dynamic_hw else {0: "batch"}
    torch.onnx.export(
        model,
        (example,),
        str(path),
        input_names=["image"],
        output_names=["output"],
        dynamic_axes={"image": axes, "output": axes if spatial_output else {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    return sha256_of(path)


def stamp_sha256(toml_path: Path | str, sha256: str, key: str = "weights") -> None:
    """Write ``sha256`` into the ``[<key>]`` table of a plugin.toml (keeps the rest of the file)."""
    path = Path(toml_path)
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(rf"(\[{re.escape(key)}\][^\[]*?sha256\s*=\s*\")[0-9a-fA-F]*(\")", re.S)
    new, n = pattern.subn(rf"\g<1>{sha256}\g<2>", text)
    if n != 1:
        raise ValueError(f"no sha256 line under [{key}] in {path}")
    path.write_text(new, encoding="utf-8")
