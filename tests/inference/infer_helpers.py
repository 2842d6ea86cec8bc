"""Tiny networks exported at test time into plugin folders (no binaries in the repo)."""

from __future__ import annotations

import hashlib
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from medlens.viewer.model import Geometry, Volume, VolumeMeta

torch = pytest.importorskip("torch")

CARD = "# Tiny test model\n\nSynthetic weights. Not for clinical use.\n"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class TinySeg3d(torch.nn.Module):
    """Fully convolutional: receptive field 5 voxels (two 3x3x3 convolutions)."""

    def __init__(self, channels: int = 2, kernel: int = 3) -> None:
        super().__init__()
        pad = kernel // 2
        self.a = torch.nn.Conv3d(1, 4, kernel, padding=pad)
        self.b = torch.nn.Conv3d(4, channels, kernel, padding=pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


class TinyThreshold3d(torch.nn.Module):
    """Pointwise 'segmenter': logit of class 1 is 10 * (x - 0.5), so foreground is x > 0.5."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.zeros_like(x), 10 * (x - 0.5)], dim=1)


class Identity3d(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 1.0


class TinyClassifier(torch.nn.Module):
    """Mean intensity decides: logits (0, 8 * (mean - 0.5))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.flatten(1).mean(dim=1, keepdim=True)
        return torch.cat([torch.zeros_like(m), 8 * (m - 0.5)], dim=1)


# write_plugin(..., TinyClassifier(), **SLICE_DETECTOR): a 2D "bright slice" detector whose study
# probability is its most suspicious slice
SLICE_DETECTOR: dict[str, str | int] = {
    "task": "classification",
    "dims": 2,
    "input_extra": "spatial_shape = [6, 6]",
    "output": 'num_channels = 2\nactivation = "softmax"\nclass_names = ["normal", "bright"]\n'
    'study_aggregation = "max"',
}


def export(model: torch.nn.Module, runtime: str, path: Path, example: torch.Tensor) -> Path:
    model.eval()
    if runtime == "onnx":
        warnings.simplefilter("ignore", DeprecationWarning)
        spatial = {i: f"s{i}" for i in range(2, example.ndim)}
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            input_names=["image"],
            output_names=["pred"],
            dynamic_axes={"image": {0: "n", **spatial}, "pred": {0: "n", **spatial}},
            opset_version=17,
        )
    else:
        torch.jit.trace(model, example).save(str(path))
    return path


MANIFEST = """\
id = "{id}"
name = "{name}"
version = "1.0.0"
task = "{task}"
runtime = "{runtime}"
model_card = "MODEL_CARD.md"

[weights]
file = "{weights}"
sha256 = "{sha}"

[input]
modality = {modality}
dims = {dims}
num_channels = 1
{input_extra}

[input.normalization]
{normalization}

[output]
{output}
"""


def write_plugin(
    root: Path,
    plugin_id: str,
    model: torch.nn.Module,
    *,
    runtime: str = "onnx",
    task: str = "segmentation",
    dims: int = 3,
    modality: str = '["CT"]',
    input_extra: str = "",
    normalization: str = 'kind = "none"',
    output: str | None = None,
    example: torch.Tensor | None = None,
) -> Path:
    folder = root / plugin_id
    folder.mkdir(parents=True)
    suffix = "onnx" if runtime == "onnx" else "pt"
    if example is None:
        example = torch.rand(1, 1, 8, 8, 8) if dims == 3 else torch.rand(1, 1, 8, 8)
    weights = export(model, runtime, folder / f"model.{suffix}", example)
    if output is None:
        output = textwrap.dedent(
            """\
            num_channels = 2
            activation = "softmax"
            channel_def = { "0" = "background", "1" = "lesion" }
            labels = [{ value = 1, name = "lesion", color = [255, 0, 0] }]
            """
        )
    (folder / "MODEL_CARD.md").write_text(CARD)
    (folder / "plugin.toml").write_text(
        MANIFEST.format(
            id=plugin_id,
            name=plugin_id.title(),
            task=task,
            runtime=runtime,
            weights=weights.name,
            sha=sha256(weights),
            modality=modality,
            dims=dims,
            input_extra=input_extra,
            normalization=normalization,
            output=output,
        )
    )
    return folder


def ball_volume(shape: tuple[int, int, int] = (20, 24, 28), modality: str = "CT") -> Volume:
    """A bright ball on a dark background, oblique-free, anisotropic spacing."""
    z, y, x = np.indices(shape, dtype=np.float32)
    c = [(s - 1) / 2 for s in shape]
    r = np.sqrt(((z - c[0]) * 2.0) ** 2 + ((y - c[1]) * 1.0) ** 2 + ((x - c[2]) * 1.0) ** 2)
    array = np.where(r < 8, 1.0, 0.0).astype(np.float32)
    geometry = Geometry((1.0, 1.0, 2.0), (-10.0, 20.0, 5.0))
    return Volume(array, geometry, VolumeMeta(modality=modality))
