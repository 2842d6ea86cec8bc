"""Evaluate the denoiser on held-out volumes against Gaussian filtering and non-local means.

Held out (never used in training or tuning): lung2 (CT) and brain2 (MR). Noise is simulated with the
training simulator but fixed seeds. The classical filters are tuned *per noise level* on slices of the
training volumes (lung1, brain1) and given the true noise level (oracle sigma) - a setting that favours
them; the network is blind. PSNR and SSIM are per slice, then averaged (mean +- SD over slices).
CT: HU clipped to [-1000, 1000], data range 2000 HU. MR: clipped to [0, p99.5 of the clean volume],
data range that p99.5. The model runs through the MedLens engine with this plugin's manifest.

    .venv/bin/python plugins/denoise/evaluate.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from medlens.training import noise, sources
from medlens.training.cards import write_metrics_block
from medlens.training.engine import registry_for
from medlens.training.metrics import psnr, ssim
from medlens.viewer.model import Geometry, Volume, VolumeMeta

HERE = Path(__file__).resolve().parent
CT_LEVELS = (10.0, 20.0, 40.0, 80.0)  # added noise SD, HU
MR_LEVELS = (0.02, 0.04, 0.08)  # Rician sigma / foreground median
GAUSS_SIGMAS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5)
NLM_H = (0.6, 0.8, 1.0, 1.2)
FAST_SUBSET = {"case": "lung2", "slices": [20, 36], "level": 40.0}
# The protocol the report scripts (body_scores.py, blind_nlm.py) share: held-out test slices and levels,
# the training-volume slices the classical filters are tuned on, and the noise seeds (seed0 + z).
TEST = {"lung2": (list(range(2, 61, 4)), CT_LEVELS), "brain2": (list(range(1, 23, 2)), MR_LEVELS)}
TUNE = {"CT": ("lung1", [8, 20, 32, 44]), "MR": ("brain1", [6, 12, 18])}
TUNE_SEED0, TEST_SEED0 = 1000, 5000


def score(est: np.ndarray, ref: np.ndarray, rng_lohi: tuple[float, float]) -> tuple[float, float]:
    lo, hi = rng_lohi
    a, b = np.clip(est, lo, hi), np.clip(ref, lo, hi)
    return psnr(a, b, hi - lo), ssim(a, b, hi - lo)


def summarise(values: list[tuple[float, float]]) -> dict[str, float]:
    """Mean and SD over slices of (PSNR, SSIM) pairs."""
    p, s = np.array([v[0] for v in values]), np.array([v[1] for v in values])
    return {"psnr": round(float(p.mean()), 3), "psnr_sd": round(float(p.std()), 3),
            "ssim": round(float(s.mean()), 4), "ssim_sd": round(float(s.std()), 4)}


def noisy_slices(
    scan: sources.Scan, slices: list[int], level: float, seed0: int
) -> list[tuple[np.ndarray, float]]:
    """Noisy copies of ``scan``'s ``slices`` at ``level`` (``noise.add_noise``, seed ``seed0 + z``) with
    their true noise sigma: one simulator and seeding for evaluation, tuning and the report scripts."""
    ref = noise.mr_reference(scan.image)
    return [noise.add_noise(scan.image[z], scan.modality, level, ref, seed0 + z) for z in slices]


def nlm(img: np.ndarray, sigma: float, k: float) -> np.ndarray:
    from skimage.restoration import denoise_nl_means

    return denoise_nl_means(img.astype(np.float64), h=k * sigma, sigma=sigma, patch_size=5,
                            patch_distance=6, fast_mode=True).astype(np.float32)


def tune_classical(scan: sources.Scan, slices: list[int], levels: tuple[float, ...]) -> dict:
    """Best Gaussian sigma and NLM h-factor per level (by mean PSNR) on training-volume slices."""
    lohi = noise.data_range(scan.modality, scan.image)
    out = {}
    for level in levels:
        pairs = list(zip(scan.image[slices], noisy_slices(scan, slices, level, TUNE_SEED0), strict=True))
        g = {s: np.mean([score(ndimage.gaussian_filter(n, s), c, lohi)[0] for c, (n, _) in pairs])
             for s in GAUSS_SIGMAS}
        h = {k: np.mean([score(nlm(n, sg, k), c, lohi)[0] for c, (n, sg) in pairs]) for k in NLM_H}
        out[level] = {"gauss_sigma": max(g, key=g.get), "nlm_h": max(h, key=h.get)}
        print(scan.name, level, out[level], flush=True)
    return out


def run_model(stack: np.ndarray, spacing: tuple[float, float, float], modality: str,
              weights: Path | None = None) -> np.ndarray:
    """The plugin through the engine on ``stack``; ``weights``: another model.onnx in its place."""
    from medlens.inference import run_plugin

    reg, pid = registry_for(HERE, weights, "candidate")
    vol = Volume(np.ascontiguousarray(stack, np.float32), Geometry(spacing), VolumeMeta(modality=modality))
    result = run_plugin(pid, vol, registry=reg)
    assert result.volume is not None
    return np.asarray(result.volume.array)


def evaluate(case: str, slices: list[int], levels: tuple[float, ...], tuned: dict | None,
             weights: Path | None = None) -> dict:
    scan = sources.load_case(case)
    lohi = noise.data_range(scan.modality, scan.image)
    res: dict = {}
    for level in levels:
        clean = scan.image[slices]
        noisy_sig = noisy_slices(scan, slices, level, TEST_SEED0)
        noisy = np.stack([n for n, _ in noisy_sig])
        den = run_model(noisy, scan.spacing, scan.modality, weights)
        rows: dict[str, list[tuple[float, float]]] = {"noisy": [], "gaussian": [], "nlm": [], "model": []}
        for i, (n, sg) in enumerate(noisy_sig):
            rows["noisy"].append(score(n, clean[i], lohi))
            rows["model"].append(score(den[i], clean[i], lohi))
            if tuned is not None:
                t = tuned[level]
                rows["gaussian"].append(score(ndimage.gaussian_filter(n, t["gauss_sigma"]), clean[i], lohi))
                rows["nlm"].append(score(nlm(n, sg, t["nlm_h"]), clean[i], lohi))
        res[str(level)] = {k: summarise(v) for k, v in rows.items() if v}
        print(case, level, {k: (v["psnr"], v["ssim"]) for k, v in res[str(level)].items()}, flush=True)
    return res


def figure(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scan = sources.load_case("lung2")
    z, level = 20, 40.0
    clean = scan.image[z]
    noisy, _ = noise.add_noise(clean, "CT", level, 0.0, TEST_SEED0 + z)
    den = run_model(noisy[None], scan.spacing, "CT")[0]
    sl = (slice(120, 440), slice(60, 460))
    panels = [("clean (real lung2)", clean), (f"+ simulated noise SD {level:.0f} HU", noisy),
              ("denoised (model)", den), ("removed (noisy - denoised)", noisy - den),
              ("error (denoised - clean)", den - clean)]
    fig, axes = plt.subplots(1, 5, figsize=(16, 3.6))
    for ax, (title, im) in zip(axes, panels, strict=True):
        if "removed" in title or "error" in title:
            ax.imshow(im[sl], cmap="gray", vmin=-100, vmax=100)
        else:
            ax.imshow(im[sl], cmap="gray", vmin=-160, vmax=240)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=70)


def write_card_tables(m: dict) -> None:
    card = HERE / "MODEL_CARD.md"
    if not card.exists():
        return
    rows = ["| volume | noise | noisy PSNR / SSIM | Gaussian | NLM | **model** | model - NLM (dB) |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for case, unit in (("lung2", "HU SD"), ("brain2", "x median (Rician)")):
        for level, r in m[case].items():
            f = {k: f"{v['psnr']:.2f} / {v['ssim']:.3f}" for k, v in r.items()}
            rows.append(f"| {case} | {float(level):g} {unit} | {f['noisy']} | {f['gaussian']} | {f['nlm']} | "
                        f"**{f['model']}** | {r['model']['psnr'] - r['nlm']['psnr']:+.2f} |")
    write_metrics_block(card, rows)


def adopted(change: dict[str, float]) -> bool:
    """The phases' rule on validation PSNR changes: higher on the mean of the pairs and in >= 5 of 7."""
    return bool(np.mean(list(change.values())) > 0 and sum(v > 0 for v in change.values()) >= 5)


def candidate_record(weights: Path) -> dict:
    """A study run's record (``--candidate``): its training log (beside ``weights``), its validation
    PSNR against version 0.4's and the rule's verdict, and, reported, not used, the model rows of the
    test table for its weights beside version 0.4's and oracle NLM's (``metrics.json``)."""
    run = json.loads((weights.parent / "train_log.json").read_text())
    shipped = json.loads((HERE / "train_log.json").read_text())["validation_psnr"]
    change = {k: round(run["validation_psnr"][k] - v, 3) for k, v in shipped.items()}
    metrics = json.loads((HERE / "metrics.json").read_text())
    test = {}
    for case, (slices, levels) in TEST.items():
        for level, rows in evaluate(case, slices, levels, None, weights).items():
            ref, got = metrics[case][level], rows["model"]
            test[f"{case}@{level}"] = {
                "model": got, "psnr_change_vs_0.4": round(got["psnr"] - ref["model"]["psnr"], 3),
                "ssim_change_vs_0.4": round(got["ssim"] - ref["model"]["ssim"], 4),
                "model_minus_oracle_nlm_db": round(got["psnr"] - ref["nlm"]["psnr"], 3)}
    return {**{k: v for k, v in run.items() if k != "phases_before"},
            "init_phases": "version 0.4 (train_log.json)", "validation_psnr_version_0.4": shipped,
            "change_vs_0.4": change, "adopted": adopted(change), "test_reported_not_used": test}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--candidate", type=Path, default=None, metavar="MODEL_ONNX",
                    help="only score a study run's weights (train_log.json beside them); writes --record")
    ap.add_argument("--record", type=Path, default=None, help="with --candidate: where its record goes")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.candidate is not None:
        record = candidate_record(args.candidate)
        (args.record or args.candidate.with_name("record.json")).write_text(json.dumps(record, indent=1))
        print(json.dumps({k: record[k] for k in ("change_vs_0.4", "adopted")}))
        return
    tuned = {m: tune_classical(sources.load_case(case), slices, CT_LEVELS if m == "CT" else MR_LEVELS)
             for m, (case, slices) in TUNE.items()}
    tuned_ct = tuned["CT"]
    metrics = {"tuned_classical": tuned, "lung2": evaluate("lung2", *TEST["lung2"], tuned_ct),
               "brain2": evaluate("brain2", *TEST["brain2"], tuned["MR"])}
    fs = FAST_SUBSET
    metrics["fast_subset"] = {**fs, **evaluate(fs["case"], fs["slices"], (fs["level"],),
                                               {fs["level"]: tuned_ct[fs["level"]]})[str(fs["level"])]}
    summary = {}
    for case in ("lung2", "brain2"):
        gains = [r["model"]["psnr"] - r["nlm"]["psnr"] for r in metrics[case].values()]
        dssim = [r["model"]["ssim"] - r["nlm"]["ssim"] for r in metrics[case].values()]
        summary[case] = {"min_gain_db": round(min(gains), 3), "mean_gain_db": round(float(np.mean(gains)), 3),
                         "min_ssim_diff": round(min(dssim), 4)}
    metrics["summary_vs_nlm"] = summary
    (HERE / "metrics.json").write_text(json.dumps(metrics, indent=1))
    figure(HERE / "denoise.png")
    write_card_tables(metrics)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
