"""Non-local means as a user would run it - blind, its noise level estimated from the image (a report only).

Why: ``evaluate.py`` gives NLM the true noise sigma and an h-factor tuned per level, a setting no user
has (the scanner's dose is not in the image) and that favours NLM; the network is blind. This scores
the same test slices, noise and seeds as ``evaluate.py`` with NLM told only what the image says:
sigma from ``skimage.restoration.estimate_sigma`` (a wavelet noise estimate) on each noisy slice, and
one h-factor per modality, tuned on the training-volume slices ``evaluate.py`` tunes on (lung1 /
brain1) pooled over every noise level. The goal stays judged against oracle NLM, the stricter
comparison; this table says what the model is worth against the filter a user could actually run.
Also reported: the estimated over the true sigma (the finest-scale wavelet estimate reads the spatially
correlated CT noise low, which the tuned h-factor absorbs).

    .venv/bin/python plugins/denoise/blind_nlm.py      # writes blind_nlm.json; the card quotes it
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from evaluate import CT_LEVELS, MR_LEVELS, nlm, score, summarise

from medlens.training import noise, sources

HERE = Path(__file__).resolve().parent
H_FACTORS = (0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)  # wide: the estimate reads correlated CT noise low
TUNE = {"CT": ("lung1", [8, 20, 32, 44], CT_LEVELS), "MR": ("brain1", [6, 12, 18], MR_LEVELS)}
TEST = {"CT": ("lung2", list(range(2, 61, 4))), "MR": ("brain2", list(range(1, 23, 2)))}


def estimated_sigma(img: np.ndarray) -> float:
    """The noise SD ``estimate_sigma`` reads off one slice, in the image's units."""
    from skimage.restoration import estimate_sigma

    return float(estimate_sigma(img.astype(np.float64)))


def noisy_slices(case: str, slices: list[int], level: float, seed0: int) -> tuple[list, tuple[float, float]]:
    """(clean, noisy, true sigma) per slice, with ``evaluate.py``'s simulator and seeds; the data range."""
    scan = sources.load_case(case)
    ref = noise.mr_reference(scan.image)
    out = []
    for z in slices:
        n, sg = noise.add_noise(scan.image[z], scan.modality, level, ref, seed0 + z)
        out.append((scan.image[z], n, sg))
    return out, noise.data_range(scan.modality, scan.image)


def tune(modality: str) -> float:
    """The one h-factor with the best mean PSNR over the tuning slices at every level."""
    case, slices, levels = TUNE[modality]
    psnrs: dict[float, list[float]] = {k: [] for k in H_FACTORS}
    for level in levels:
        pairs, lohi = noisy_slices(case, slices, level, 1000)
        for clean, n, _ in pairs:
            s = estimated_sigma(n)
            for k in H_FACTORS:
                psnrs[k].append(score(nlm(n, s, k), clean, lohi)[0])
    best = max(H_FACTORS, key=lambda k: float(np.mean(psnrs[k])))
    print(modality, {k: round(float(np.mean(v)), 3) for k, v in psnrs.items()}, "->", best, flush=True)
    return best


def main() -> None:
    metrics = json.loads((HERE / "metrics.json").read_text())
    out: dict = {"h_factor": {}, "cases": {}}
    for modality, (case, slices) in TEST.items():
        k = out["h_factor"][modality] = tune(modality)
        levels = CT_LEVELS if modality == "CT" else MR_LEVELS
        out["cases"][case] = {}
        for level in levels:
            pairs, lohi = noisy_slices(case, slices, level, 5000)
            rows, ratio = [], []
            for clean, n, sg in pairs:
                s = estimated_sigma(n)
                ratio.append(s / sg)
                rows.append(score(nlm(n, s, k), clean, lohi))
            ref = metrics[case][str(level)]
            blind = summarise(rows)
            out["cases"][case][str(level)] = {
                "sigma_estimated_over_true": round(float(np.mean(ratio)), 3), "blind_nlm": blind,
                "oracle_nlm": ref["nlm"], "model": ref["model"],
                "model_minus_blind_db": round(ref["model"]["psnr"] - blind["psnr"], 3),
                "model_minus_blind_ssim": round(ref["model"]["ssim"] - blind["ssim"], 4)}
            print(case, level, {m: v for m, v in out["cases"][case][str(level)].items()
                                if m not in ("oracle_nlm", "model")}, flush=True)
    (HERE / "blind_nlm.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
