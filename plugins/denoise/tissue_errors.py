"""Where the denoiser's CT error is, per tissue, beside non-local means (the card's per-tissue table).

PSNR over a whole slice hides *where* a denoiser falls short; this splits the RMS error by tissue of
the clean reference: air < -850 HU, lung -850..-400, soft tissue -100..150, bone > 300 (the bands in
between are edges, left out). Test volume lung2, slices 20 and 36 (those of the card's figure and of
the fast test), noise seeded as in ``evaluate.py``; NLM gets the oracle sigma and the h-factor that
``evaluate.py`` tuned on lung1 (``metrics.json``). Diagnosis only: no version is chosen with it.

    .venv/bin/python plugins/denoise/tissue_errors.py [--weights OTHER.pt ...] [--levels 40 80]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from evaluate import nlm, run_model
from train import build

from medlens.training import noise, sources

HERE = Path(__file__).resolve().parent
SLICES = (20, 36)
TISSUES = {"air": (-np.inf, -850.0), "lung": (-850.0, -400.0), "soft tissue": (-100.0, 150.0),
           "bone": (300.0, np.inf)}


def tissue_rms(estimate: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """RMS error (HU) inside each tissue band of ``clean``."""
    err = estimate - clean
    return {name: round(float(np.sqrt(np.mean(err[(clean >= lo) & (clean < hi)] ** 2))), 1)
            for name, (lo, hi) in TISSUES.items()}


def torch_denoise(weights: Path, stack: np.ndarray) -> np.ndarray:
    """Other weights (e.g. an earlier version's model.pt), normalised as the engine does."""
    model = build("unet")
    model.load_state_dict(torch.load(weights, weights_only=True))
    model.eval()
    mean, sd = float(stack.mean(dtype=np.float64)), float(stack.std(dtype=np.float64))
    with torch.no_grad():
        out = model(torch.from_numpy(((stack - mean) / sd).astype(np.float32))[:, None])[:, 0].numpy()
    return out * sd + mean


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, nargs="*", default=[], help="also score these state dicts")
    ap.add_argument("--levels", type=float, nargs="+", default=[40.0, 80.0])
    args = ap.parse_args()
    scan = sources.load_case("lung2")
    tuned = json.loads((HERE / "metrics.json").read_text())["tuned_classical"]["CT"]
    clean = scan.image[list(SLICES)]
    rows: dict[str, dict] = {}
    for level in args.levels:
        noisy = np.stack([noise.add_noise(scan.image[z], "CT", level, 0.0, 5000 + z)[0] for z in SLICES])
        methods = {"noisy": noisy, "model (plugin)": run_model(noisy, scan.spacing, "CT"),
                   "nlm": np.stack([nlm(n, level, tuned[str(level)]["nlm_h"]) for n in noisy])}
        for w in args.weights:
            methods[f"model ({w})"] = torch_denoise(w, noisy)
        for name, est in methods.items():
            rows[f"{level:g} HU, {name}"] = {
                f"slice {z}": tissue_rms(est[i], clean[i]) for i, z in enumerate(SLICES)}
            print(f"{level:g} HU", name, rows[f"{level:g} HU, {name}"], flush=True)
    (HERE / "tissue_errors.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
