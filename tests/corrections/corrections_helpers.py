"""Builders for the corrections tests: a tiny segmentation plugin and synthetic corrected cases."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np

from medlens.viewer.model import Geometry, Volume, VolumeMeta

OUTPUT = 'num_channels = 1\nactivation = "sigmoid"\nlabels = [{ value = 1, name = "lesion" }]\n'


def tiny_seg_plugin(root: Path, plugin_id: str = "test.tiny-seg") -> Path:
    """An over-segmenting 'AI': 1x1 conv thresholding at 0.3 (ONNX + TorchScript twin).

    The corrected truth is intensity > 0.7, so fine-tuning has something learnable to fix.
    """
    import torch

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1))
    with torch.no_grad():
        net[0].weight.fill_(10.0)
        net[0].bias.fill_(-3.0)
    net.eval()
    folder = root / plugin_id
    folder.mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (torch.rand(1, 1, 16, 16),),
            str(folder / "model.onnx"),
            dynamo=False,
            input_names=["image"],
            output_names=["pred"],
            opset_version=17,
            dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}, "pred": {0: "n", 2: "h", 3: "w"}},
        )
        torch.jit.script(net).save(str(folder / "model.pt"))
    sha = {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in ("model.onnx", "model.pt")}
    (folder / "MODEL_CARD.md").write_text("# Tiny seg\n\nTest model. Not for clinical use.\n")
    (folder / "plugin.toml").write_text(
        f'id = "{plugin_id}"\nname = "Tiny seg"\nversion = "1.0.0"\ntask = "segmentation"\nruntime = "onnx"\n'
        f'model_card = "MODEL_CARD.md"\n\n[weights]\nfile = "model.onnx"\nsha256 = "{sha["model.onnx"]}"\n\n'
        f'[saliency]\ntorchscript = "model.pt"\nsha256 = "{sha["model.pt"]}"\n\n'
        f'[input]\nmodality = ["CT"]\ndims = 2\n\n[input.normalization]\nkind = "none"\n\n[output]\n{OUTPUT}'
    )
    return folder


def synthetic_case(seed: int, meta: VolumeMeta | None = None) -> tuple[Volume, np.ndarray, np.ndarray]:
    """(volume, AI mask, corrected mask): a bright lesion (0.9) and a mimic (0.5); the AI takes both."""
    rng = np.random.default_rng(seed)
    arr = rng.normal(0.1, 0.03, (3, 40, 40)).astype(np.float32)
    yy, xx = np.mgrid[:40, :40]
    for value in (0.9, 0.5):
        cy, cx = rng.integers(8, 32, 2)
        arr[1][(yy - cy) ** 2 + (xx - cx) ** 2 <= 16] = value
    volume = Volume(arr, Geometry((0.7, 0.7, 2.5), (-20.0, 10.0, 30.0)), meta or VolumeMeta(modality="CT"))
    return volume, (arr > 0.3).astype(np.uint8), (arr > 0.7).astype(np.uint8)
