"""PSNR and SSIM inside the patient, beside the whole-slice scores the goal is set on (a report only).

Why: on CT much of the denoiser's remaining whole-slice deficit to non-local means is in the air band
(``tissue_errors.py``), which holds the air around the patient that no radiologist reads, and on MR
the whole slice includes the background's Rician noise floor. This scores the same test slices, noise
and methods as ``evaluate.py`` (lung2 every 4th slice, brain2 every 2nd, seeds 5000 + z; NLM with the
oracle sigma and the h-factor ``evaluate.py`` tuned on lung1 / brain1, from ``metrics.json``; the
model through the MedLens engine) twice: over the whole slice, as the card's table, and over the
**body** only. Body = the clean slice above -500 HU (CT) or above 10 % of the foreground median (MR),
its largest connected region with holes filled (lungs, sinuses and ventricles stay in), so the mask
comes from the reference and is the same for every method. Same clipping and data range as
``evaluate.py`` (CT 2000 HU; MR the p99.5 of the clean volume); the body SSIM is the mean of the SSIM
map over the mask (``metrics.ssim``).

    .venv/bin/python plugins/denoise/body_scores.py      # writes body_scores.json; the card quotes it
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from evaluate import TEST, TEST_SEED0, nlm, noisy_slices, run_model, score
from scipy import ndimage

from medlens.training import noise, sources
from medlens.training.metrics import psnr, ssim

HERE = Path(__file__).resolve().parent


def body_mask(clean: np.ndarray, modality: str, ref: float) -> np.ndarray:
    """The patient on a clean slice: above the threshold, largest region, holes filled."""
    fg = clean > (-500.0 if modality == "CT" else 0.1 * ref)
    lab, n = ndimage.label(fg)
    if n == 0:
        return fg
    largest = lab == (1 + int(np.argmax(ndimage.sum_labels(fg, lab, range(1, n + 1)))))
    return ndimage.binary_fill_holes(largest)


def masked_scores(
    est: np.ndarray, clean: np.ndarray, mask: np.ndarray | None, lohi: tuple[float, float]
) -> tuple[float, float]:
    """PSNR and SSIM over ``mask``, or over the whole slice as ``evaluate.score`` when None."""
    if mask is None:
        return score(est, clean, lohi)
    lo, hi = lohi
    a, b = np.clip(est, lo, hi), np.clip(clean, lo, hi)
    return psnr(a[mask], b[mask], hi - lo), ssim(a, b, hi - lo, mask=mask)


def main() -> None:
    tuned = json.loads((HERE / "metrics.json").read_text())["tuned_classical"]
    out: dict = {}
    for case, (slices, levels) in TEST.items():
        scan = sources.load_case(case)
        ref = noise.mr_reference(scan.image)
        lohi = noise.data_range(scan.modality, scan.image)
        clean = scan.image[slices]
        masks = [body_mask(c, scan.modality, ref) for c in clean]
        out[case] = {"body_fraction": round(float(np.mean([m.mean() for m in masks])), 3)}
        for level in levels:
            noisy_sig = noisy_slices(scan, slices, level, TEST_SEED0)
            noisy = np.stack([n for n, _ in noisy_sig])
            h = tuned[scan.modality][str(level)]["nlm_h"]
            methods = {"noisy": noisy, "nlm": np.stack([nlm(n, sg, h) for n, sg in noisy_sig]),
                       "model": run_model(noisy, scan.spacing, scan.modality)}
            row: dict[str, dict] = {}
            for name, est in methods.items():
                for region in ("slice", "body"):
                    pairs = np.array([masked_scores(e, c, m if region == "body" else None, lohi)
                                      for e, c, m in zip(est, clean, masks, strict=True)])
                    row.setdefault(name, {})[region] = {"psnr": round(float(pairs[:, 0].mean()), 3),
                                                        "ssim": round(float(pairs[:, 1].mean()), 4)}
            row["model_minus_nlm"] = {
                r: {k: round(row["model"][r][k] - row["nlm"][r][k], 4) for k in ("psnr", "ssim")}
                for r in ("slice", "body")}
            out[case][f"{level:g}"] = row
            print(case, f"{level:g}", json.dumps(row), flush=True)
    (HERE / "body_scores.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
