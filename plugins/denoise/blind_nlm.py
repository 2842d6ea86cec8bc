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
from evaluate import TEST, TEST_SEED0, TUNE, TUNE_SEED0, nlm, noisy_slices, score, summarise

from medlens.training import noise, sources

HERE = Path(__file__).resolve().parent
H_FACTORS = (0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)  # wide: the estimate reads correlated CT noise low


def estimated_sigma(img: np.ndarray) -> float:
    """The noise SD ``estimate_sigma`` reads off one slice, in the image's units."""
    from skimage.restoration import estimate_sigma

    return float(estimate_sigma(img.astype(np.float64)))


def tune(modality: str, levels: tuple[float, ...]) -> float:
    """The one h-factor with the best mean PSNR over the tuning slices at every level."""
    case, slices = TUNE[modality]
    scan = sources.load_case(case)
    lohi = noise.data_range(scan.modality, scan.image)
    psnrs: dict[float, list[float]] = {k: [] for k in H_FACTORS}
    for level in levels:
        noisy = noisy_slices(scan, slices, level, TUNE_SEED0)
        for clean, (n, _) in zip(scan.image[slices], noisy, strict=True):
            s = estimated_sigma(n)
            for k in H_FACTORS:
                psnrs[k].append(score(nlm(n, s, k), clean, lohi)[0])
    best = max(H_FACTORS, key=lambda k: float(np.mean(psnrs[k])))
    print(modality, {k: round(float(np.mean(v)), 3) for k, v in psnrs.items()}, "->", best, flush=True)
    return best


def main() -> None:
    metrics = json.loads((HERE / "metrics.json").read_text())
    out: dict = {"h_factor": {}, "cases": {}}
    for case, (slices, levels) in TEST.items():
        scan = sources.load_case(case)
        lohi = noise.data_range(scan.modality, scan.image)
        k = out["h_factor"][scan.modality] = tune(scan.modality, levels)
        out["cases"][case] = {}
        for level in levels:
            rows, ratio = [], []
            noisy = noisy_slices(scan, slices, level, TEST_SEED0)
            for clean, (n, sg) in zip(scan.image[slices], noisy, strict=True):
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
