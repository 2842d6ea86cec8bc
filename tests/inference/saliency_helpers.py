"""A tiny classifier trained at test time whose class is "a bright blob is present", exported as an
ONNX plugin with a TorchScript twin, and volumes with one blob at a known place."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from medlens.viewer.model import Geometry, Volume, VolumeMeta

SIDE = 32


class BlobNet(nn.Module):
    """Fully convolutional, global max pooling (like the built-in SliceClassifier)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
        )
        self.logit_map = nn.Conv2d(16, 1, 1)

    @torch.jit.export
    def evidence(self, x: torch.Tensor) -> torch.Tensor:
        """The logit map the score is the max of, at half resolution (``saliency_evidence``)."""
        return self.logit_map(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.amax(self.evidence(x), dim=(2, 3))


def blob_image(rng: np.random.Generator, side: int = SIDE, blob: bool = True) -> tuple[np.ndarray, tuple]:
    img = rng.normal(0.2, 0.05, (side, side)).astype(np.float32)
    cy, cx = (int(v) for v in rng.integers(6, side - 6, 2))
    if blob:
        yy, xx = np.mgrid[:side, :side]
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= 9] = 0.9
    return img, (cy, cx)


def train_blob_net(seed: int = 0, steps: int = 80) -> BlobNet:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = BlobNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(steps):
        labels = rng.integers(0, 2, 32)
        x = np.stack([blob_image(rng, blob=bool(y))[0] for y in labels])[:, None]
        logits = net(torch.from_numpy(x))
        loss = loss_fn(logits[:, 0], torch.from_numpy(labels.astype(np.float32)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_blob_plugin(
    root: Path,
    net: nn.Module,
    plugin_id: str = "test.blob-cls",
    twin: bool = True,
    layer: str = "features.3",
    extra: str = "",
) -> Path:
    """A classification plugin folder for ``net``; ``extra``: top-level manifest lines to add."""
    folder = root / plugin_id
    folder.mkdir(parents=True)
    example = torch.rand(1, 1, SIDE, SIDE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (example,),
            str(folder / "model.onnx"),
            dynamo=False,
            input_names=["image"],
            output_names=["logit"],
            dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}, "logit": {0: "n"}},
            opset_version=17,
        )
        if twin:
            torch.jit.script(net).save(str(folder / "model.pt"))
    saliency = (
        f'\n[saliency]\ntorchscript = "model.pt"\nsha256 = "{_sha(folder / "model.pt")}"\n' if twin else ""
    )
    (folder / "MODEL_CARD.md").write_text("# Blob net\n\nTest model. Not for clinical use.\n")
    (folder / "plugin.toml").write_text(
        f'''id = "{plugin_id}"
name = "Blob"
version = "1.0.0"
task = "classification"
runtime = "onnx"
model_card = "MODEL_CARD.md"
saliency_target_layer = "{layer}"
saliency_evidence = "evidence"
{extra}
[weights]
file = "model.onnx"
sha256 = "{_sha(folder / "model.onnx")}"

[input]
modality = ["CT"]
dims = 2

[input.normalization]
kind = "none"

[output]
type = "probabilities"
num_channels = 1
activation = "sigmoid"
class_names = ["blob"]
{saliency}'''
    )
    return folder


def blob_volume(seed: int = 7, slices: int = 3) -> tuple[Volume, tuple[int, int]]:
    """A few noisy slices; the middle one holds a blob at a known (y, x)."""
    rng = np.random.default_rng(seed)
    arr = np.stack([blob_image(rng, blob=False)[0] for _ in range(slices)])
    img, centre = blob_image(rng, blob=True)
    arr[slices // 2] = img
    return Volume(arr, Geometry((0.8, 0.8, 2.0)), VolumeMeta(modality="CT")), centre
