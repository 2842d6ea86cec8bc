"""Sliding-window inference benchmark: MedLens (onnxruntime) vs torch eager vs MONAI.

A small 3D U-Net (random weights, fixed seed) over a 256x256x160 volume, same roi, overlap, window
batch and Gaussian blending for all three; times and ratios come from this one run, and the
outputs are compared voxel by voxel. Run: ``.venv/bin/python bench/infer.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from medlens.inference.discovery import PluginRegistry
from medlens.inference.runner import RunOptions, run_plugin
from medlens.inference.sliding_window import sliding_window_inference
from medlens.viewer.model import Volume, VolumeMeta


def block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, padding=1), nn.ReLU(), nn.Conv3d(cout, cout, 3, padding=1), nn.ReLU()
    )


class UNet3d(nn.Module):
    """Two-level U-Net: enough structure to be realistic, small enough for 2 CPU cores."""

    def __init__(self, base: int = 8, classes: int = 2) -> None:
        super().__init__()
        self.enc1, self.enc2 = block(1, base), block(base, 2 * base)
        self.pool = nn.MaxPool3d(2)
        self.up = nn.ConvTranspose3d(2 * base, base, 2, stride=2)
        self.dec = block(2 * base, base)
        self.head = nn.Conv3d(base, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        return self.head(self.dec(torch.cat([self.up(e2), e1], dim=1)))


def write_plugin(folder: Path, net: nn.Module, roi: tuple[int, int, int], overlap: float, batch: int) -> None:
    folder.mkdir(parents=True)
    warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter gives a single-file model
    torch.onnx.export(
        net,
        (torch.zeros(1, 1, *roi),),
        str(folder / "unet.onnx"),
        dynamo=False,
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}},
        opset_version=17,
    )
    sha = hashlib.sha256((folder / "unet.onnx").read_bytes()).hexdigest()
    (folder / "card.md").write_text("# bench U-Net\nRandom weights. Not for clinical use.\n")
    (folder / "plugin.toml").write_text(
        f"""id = "bench.unet"\nname = "Bench U-Net"\nversion = "0"\ntask = "segmentation"\nruntime = "onnx"
model_card = "card.md"\n[weights]\nfile = "unet.onnx"\nsha256 = "{sha}"
[input]\nmodality = ["CT"]\ndims = 3\nspatial_shape = {list(roi)}\noverlap = {overlap}\nbatch_size = {batch}
[output]\nnum_channels = 2\nactivation = "softmax"\nlabels = [{{ value = 1, name = "fg" }}]\n"""
    )


def softmax1(logits: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(logits[0] - logits[1]))).astype(np.float32)  # 2-class softmax, channel 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shape", type=int, nargs=3, default=(256, 256, 160), metavar=("X", "Y", "Z"))
    parser.add_argument("--roi", type=int, nargs=3, default=(96, 96, 96))
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--base", type=int, default=8, help="U-Net base channels")
    args = parser.parse_args()
    torch.manual_seed(0)
    net = UNet3d(args.base).eval()
    x, y, z = args.shape
    rng = np.random.default_rng(0)
    array = rng.standard_normal((z, y, x), dtype=np.float32)
    roi = tuple(args.roi)
    times: dict[str, float] = {}

    with tempfile.TemporaryDirectory() as tmp:
        write_plugin(Path(tmp) / "unet", net, roi, args.overlap, args.batch)
        reg = PluginRegistry.discover([tmp], builtin=False, user=False, entry_points=False, adapters=False)
        vol = Volume(array, meta=VolumeMeta(modality="CT"))
        reg.open_session("bench.unet")  # session creation is not part of the timed run
        t = time.perf_counter()
        result = run_plugin("bench.unet", vol, RunOptions(use_cache=False), registry=reg)
        times["MedLens runner (onnxruntime)"] = time.perf_counter() - t
        medlens_prob = result.heatmaps[0].array
        session = reg.open_session("bench.unet")
        t = time.perf_counter()
        medlens_logits = sliding_window_inference(
            array[None], roi, session.run, overlap=args.overlap, batch_size=args.batch
        )
        times["MedLens sliding window only (onnxruntime)"] = time.perf_counter() - t

    def eager(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net(torch.from_numpy(batch)).numpy()

    t = time.perf_counter()
    eager_logits = sliding_window_inference(
        array[None], roi, eager, overlap=args.overlap, batch_size=args.batch
    )
    times["MedLens windows + torch eager"] = time.perf_counter() - t

    monai_logits = None
    try:
        from monai.inferers import sliding_window_inference as monai_swi
    except ImportError:
        print("MONAI not installed: skipping its baseline")
    else:
        t = time.perf_counter()
        with torch.inference_mode():
            monai_logits = monai_swi(
                torch.from_numpy(array[None, None]),
                roi,
                args.batch,
                net,
                overlap=args.overlap,
                mode="gaussian",
            )[0].numpy()
        times["MONAI sliding_window_inference (torch eager)"] = time.perf_counter() - t

    print(
        f"volume {x}x{y}x{z} (x,y,z), roi {roi}, overlap {args.overlap}, window batch {args.batch}, "
        f"U-Net base {args.base}, torch threads {torch.get_num_threads()}"
    )
    baseline = times.get(
        "MONAI sliding_window_inference (torch eager)", times["MedLens windows + torch eager"]
    )
    for name, seconds in times.items():
        print(f"  {name:46s} {seconds:7.2f} s   {seconds / baseline:5.2f}x baseline")
    print(f"  max |logits onnx - logits torch eager|       {np.abs(medlens_logits - eager_logits).max():.2e}")
    if monai_logits is not None:
        diff_logits = np.abs(medlens_logits - monai_logits).max()
        diff_prob = np.abs(medlens_prob - softmax1(monai_logits)).max()
        print(f"  max |logits MedLens onnx - MONAI|            {diff_logits:.2e}")
        print(f"  max |probability runner - softmax(MONAI)|    {diff_prob:.2e}")


if __name__ == "__main__":
    main()
