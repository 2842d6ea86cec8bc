"""Evaluate the slice classifier on the four REAL cases (leave-one-case-out), with saliency pointing game.

Slices: every axial slice of a case that shows the organ (>= 500 mm² of lung / brain mask on the 1 mm
grid). Positive = the real lesion mask touches the slice; negative = it does not. Each case is scored by
the fold model that never saw it, through the MedLens engine with this plugin's manifest; the scores of
the four cases are pooled: ROC AUC with a percentile bootstrap 95 % CI (slices resampled; slices of one
patient are not independent, so the CI is optimistic - the card says so), sensitivity / specificity at
the fold's threshold (chosen on synthetic validation slices), ECE (10 bins) and a reliability plot.

Pointing game: on every real lesion slice, the arg-max of a saliency map of the fold model is a hit
when it lies inside the real mask. The maps are the viewer's (``medlens.inference.saliency``, on the
source grid): Integrated Gradients (captum, 32 steps, signed, from the manifest's ``saliency_ig_baseline``:
the darkest normalised value for this plugin - a blur was tried and not adopted, ``ig_baseline_sanity.py``),
GradCAM (the plugin's ``saliency_target_layer``) and the model's own evidence map (the calibrated per-pixel
logits whose maximum *is* the slice score).

    .venv/bin/python plugins/lesion_cls/evaluate.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from medlens.inference.runner import padded_end_slices
from medlens.training import lesion_data as L  # noqa: N812
from medlens.training import members, sources
from medlens.training.cards import write_metrics_block
from medlens.training.cases import case_volume
from medlens.training.engine import registry_for
from medlens.training.metrics import (
    bootstrap_ci,
    expected_calibration_error,
    reliability_bins,
    roc_auc,
)

HERE = Path(__file__).resolve().parent
FAST_SUBSET = {"lung1": (24, 42)}  # slices the tests re-run with the shipped model


def organ_slices(case: str) -> np.ndarray:
    a = L.prepare(case)
    return np.flatnonzero(a.organ.sum(axis=(1, 2)) >= 500)


def slice_scores(
    case: str, onnx: Path | None, z_range: tuple[int, int] | None = None, context: int | None = None,
    fields: dict | None = None,
) -> np.ndarray:
    from medlens.inference import run_plugin

    reg, pid = registry_for(HERE, onnx, suffix=f"fold-{case}" if onnx else "", slice_context=context,
                            input_fields=fields)
    vol, _ = case_volume(case, z_range)
    result = run_plugin(pid, vol, registry=reg)
    assert result.slice_probabilities is not None
    return np.asarray(result.slice_probabilities)[:, 0]


POINTING = {"ig_hits": "integrated_gradients", "gradcam_hits": "gradcam", "cam_hits": "evidence"}


def pointing_game(case: str, onnx: Path, twin: Path, context: int, fields: dict | None = None) -> dict:
    """Real lesion slices of ``case`` whose saliency maximum lies inside the real mask, per method.

    The maps are the viewer's own (``compute_saliency`` with the fold model's manifest, on the source
    grid), so the card's figure is what a user sees: signed Integrated Gradients (positive = evidence
    for a lesion, from the plugin's ``saliency_ig_baseline``), GradCAM, and the model's evidence map.
    """
    from medlens.inference.saliency.engine import compute_saliency

    reg, pid = registry_for(HERE, onnx, suffix=f"saliency-{case}", slice_context=context, saliency=twin,
                            input_fields=fields)
    vol, truth = case_volume(case)
    zs = [int(z) for z in np.flatnonzero(truth.any(axis=(1, 2)))]
    out = {"n": len(zs)}
    for key, method in POINTING.items():
        result = compute_saliency(pid, vol, method, slices=zs, sanity=False, registry=reg)
        heat = np.asarray(result.heatmap.array)
        out[key] = sum(bool(truth[z].flat[int(np.argmax(heat[z]))]) for z in zs)
    return out


def reliability_png(p: np.ndarray, y: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = reliability_bins(p, y, 10)
    fig, ax = plt.subplots(figsize=(3.6, 3.6))
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.plot([b[0] for b in bins], [b[1] for b in bins], "o-")
    for conf, acc, n in bins:
        ax.annotate(str(n), (conf, acc), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed lesion rate")
    ax.set_title("real slices, LOCO folds (n per bin)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tags", nargs="+", default=list(members.CLS_TAGS),
                    help="the U-Net members each fold classifier was built on (train.py --tags)")
    ap.add_argument("--record", default=None,
                    help="write the metrics to this file here instead (no card, no plot): a side run")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tags = tuple(args.tags)
    P, Y, G, PRED, per_case, pg = [], [], [], [], {}, {}
    for ci, case in enumerate(sources.CASES):
        try:
            info = members.classifier_record(case, tags)
        except ValueError as exc:
            ap.error(str(exc))
        stem = members.classifier_stem(case, tags)
        context = int(info.get("context", 0))
        fields = members.trained_fields(HERE, case, tags)  # as the fold's U-Nets trained
        scores = slice_scores(case, stem.with_suffix(".onnx"), context=context, fields=fields)
        scan = sources.load_case(case)
        assert scan.label is not None
        zs = organ_slices(case)
        c = padded_end_slices(len(scores), context)
        judged = np.zeros(len(scores), bool)
        judged[c : len(scores) - c] = True
        y = scan.label.any(axis=(1, 2))[zs].astype(int)
        p = scores[zs]
        pred = p >= info["threshold"]
        per_case[case] = {
            "n_slices": len(zs), "n_lesion": int(y.sum()), "auc": round(roc_auc(p, y), 4),
            "sensitivity": round(float(pred[y == 1].mean()), 4),
            "specificity": round(float((~pred[y == 0]).mean()), 4), "threshold": info["threshold"],
            "argmax_slice_is_lesion": bool(y[int(np.argmax(p))]),
            # the slice the study score comes from: a 2.5D model's padded end slices left out, as the
            # engine does (runner.padded_end_slices)
            "study_slice_is_lesion": bool(y[int(np.argmax(np.where(judged[zs], p, -1.0)))]),
        }
        pg[case] = pointing_game(case, stem.with_suffix(".onnx"), stem.with_suffix(".pt"), context, fields)
        print(case, per_case[case], pg[case], flush=True)
        P.append(p)
        Y.append(y)
        G.append(np.full(len(y), ci))
        PRED.append(pred)
    p, y, pred = np.concatenate(P), np.concatenate(Y), np.concatenate(PRED)
    lo, hi = bootstrap_ci(roc_auc, p, y, n_boot=2000, seed=0)
    n_les = sum(v["n"] for v in pg.values())
    pooled = {
        "n_slices": len(y), "n_lesion": int(y.sum()), "auc": round(roc_auc(p, y), 4),
        "auc_ci95": [round(lo, 4), round(hi, 4)],
        "sensitivity": round(float(pred[y == 1].mean()), 4),
        "specificity": round(float((~pred[y == 0]).mean()), 4),
        "ece": round(expected_calibration_error(p, y, 10), 4),
        "pointing_ig": round(sum(v["ig_hits"] for v in pg.values()) / n_les, 4),
        "pointing_cam": round(sum(v["cam_hits"] for v in pg.values()) / n_les, 4),
        "pointing_gradcam": round(sum(v["gradcam_hits"] for v in pg.values()) / n_les, 4),
        "n_lesion_slices_pointing": n_les,
    }
    metrics: dict = {"per_case": per_case, "pointing": pg, "pooled": pooled}
    if args.record:  # a side run on other members: the shipped model's figures belong to metrics.json
        (HERE / args.record).write_text(json.dumps(metrics, indent=1))
        print(json.dumps(pooled))
        return
    reliability_png(p, y, HERE / "reliability.png")
    fast = {}
    for case, zr in FAST_SUBSET.items():
        s = slice_scores(case, None, zr)
        fast[case] = {"z_range": list(zr), "scores": [round(float(v), 5) for v in s]}
    ship = {}
    for case in sources.CASES:
        zs = organ_slices(case)
        s = slice_scores(case, None)[zs]
        lab = sources.load_case(case).label
        assert lab is not None
        ship[case] = round(roc_auc(s, lab.any(axis=(1, 2))[zs]), 4)
    metrics.update(fast_subset=fast, shipped_model_auc_per_case=ship)
    (HERE / "metrics.json").write_text(json.dumps(metrics, indent=1))
    write_card_tables(metrics)
    print(json.dumps(pooled))


def write_card_tables(m: dict) -> None:
    card = HERE / "MODEL_CARD.md"
    if not card.exists():
        return
    rows = ["| case | slices (lesion) | AUC | sensitivity | specificity | top-scored slice is a lesion slice "
            "(all / end slices left out) "
            "| pointing IG | pointing GradCAM | pointing evidence map |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c, r in m["per_case"].items():
        g = m["pointing"][c]
        rows.append(f"| {c} | {r['n_slices']} ({r['n_lesion']}) | {r['auc']:.3f} | {r['sensitivity']:.2f} | "
                    f"{r['specificity']:.2f} | {'yes' if r['argmax_slice_is_lesion'] else 'no'} / "
                    f"{'yes' if r['study_slice_is_lesion'] else 'no'} | "
                    f"{g['ig_hits']}/{g['n']} | {g['gradcam_hits']}/{g['n']} | {g['cam_hits']}/{g['n']} |")
    q = m["pooled"]
    rows.append(f"| **pooled** | {q['n_slices']} ({q['n_lesion']}) | **{q['auc']:.3f}** "
                f"[{q['auc_ci95'][0]:.3f}, {q['auc_ci95'][1]:.3f}] | {q['sensitivity']:.2f} | "
                f"{q['specificity']:.2f} | | **{q['pointing_ig']:.2f}** | **{q['pointing_gradcam']:.2f}** | "
                f"{q['pointing_cam']:.2f} |")
    rows.append("")
    rows.append(f"ECE (10 bins, pooled real slices): **{q['ece']:.3f}**")
    write_metrics_block(card, rows)


if __name__ == "__main__":
    main()
