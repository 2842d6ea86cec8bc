"""Evaluate the lesion U-Net on the four REAL lesions (leave-one-case-out) beside the classical baseline.

For each case: the fold model trained without that case (the mean of its seeds: ``train.py --fold CASE
--seed S``, ``medlens.training.members``) runs through the MedLens engine with this plugin's manifest
and the MR scale its members trained with (``members.mr_scale``);
the baseline (threshold + opening + largest component in the lung / brain mask) is tuned on synthetic
lesions in the same fold's training anatomy. Both are scored against the real mask on the case's native
grid: Dice and HD95 (mm). The shipped model (the mean of all members; real lesions masked out) is scored
too, and on the fast subset the tests re-run. Results: ``metrics.json``, ``segmentation.png``, and the
tables in ``MODEL_CARD.md``.

    .venv/bin/python plugins/lesion_seg/evaluate.py [--threads 1]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from medlens.training import baseline, lesion_data, members, sources, studies
from medlens.training.cards import write_metrics_block
from medlens.training.cases import case_volume, spacing_zyx
from medlens.training.engine import registry_for
from medlens.training.metrics import dice, hd95

HERE = Path(__file__).resolve().parent
FAST_SUBSET = {"lung2": (13, 27), "lung1": (26, 40)}  # slices the tests re-run (shipped model)


def run_model(
    case: str, weights: Path | None, z_range: tuple[int, int] | None = None, context: int | None = None,
    input_fields: dict[str, Any] | None = None,
) -> tuple[dict, np.ndarray]:
    """Dice and HD95 of ``weights`` (the shipped model when None) on the real ``case``, through the engine
    with this plugin's manifest (``context``, ``input_fields``: see ``registry_for``)."""
    from medlens.inference import run_plugin

    reg, pid = registry_for(HERE, weights, suffix=f"fold-{case}" if weights else "", slice_context=context,
                            input_fields=input_fields)
    vol, truth = case_volume(case, z_range)
    result = run_plugin(pid, vol, registry=reg)
    assert result.label_map is not None
    pred = np.asarray(result.label_map.array) > 0
    sp = spacing_zyx(vol)
    return {"dice": round(dice(pred, truth), 4), "hd95_mm": round(hd95(pred, truth, sp), 2)}, pred


def run_baseline(case: str) -> tuple[dict, np.ndarray]:
    """Tune on the fold's synthetic volumes, apply on the working grid, score on the native grid.

    Cached in the training cache (it does not depend on any network): ``--baseline-only`` fills it.
    """
    import SimpleITK as sitk

    cache = lesion_data._cache_dir() / f"baseline_{case}"
    if cache.with_suffix(".json").exists() and cache.with_suffix(".npy").exists():
        return json.loads(cache.with_suffix(".json").read_text()), np.load(cache.with_suffix(".npy"))

    test = lesion_data.prepare(case)
    vols = baseline.synthetic_volumes(studies.fold_anatomy(case), test.modality, n=8, seed=77)
    params, synth = baseline.tune(vols, test.modality)
    pred_w = baseline.segment(test.image, test.organ, test.modality, test.reference, params)
    scan = sources.load_case(case)
    ref = scan.extra["sitk"]
    img = sitk.GetImageFromArray(pred_w.astype(np.uint8))
    img.SetSpacing(test.spacing)
    img.SetOrigin(ref.GetOrigin())
    img.SetDirection(ref.GetDirection())
    pred = sitk.GetArrayFromImage(sitk.Resample(img, ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0)) > 0
    sx, sy, sz = scan.spacing
    assert scan.label is not None
    result = {"dice": round(dice(pred, scan.label), 4),
              "hd95_mm": round(hd95(pred, scan.label, (sz, sy, sx)), 2),
              "params": {"level": params.level, "open_px": params.open_px},
              "synthetic_tuning_dice": round(synth, 4)}
    cache.with_suffix(".json").write_text(json.dumps(result))
    np.save(cache.with_suffix(".npy"), pred)
    return result, pred


def figure(preds: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
    for ax, case in zip(axes, sources.CASES, strict=True):
        scan = sources.load_case(case)
        assert scan.label is not None
        net, base = preds[case]
        z = int(np.argmax(scan.label.sum(axis=(1, 2))))
        ys, xs = np.nonzero(scan.label[z])
        cy, cx = int(ys.mean()), int(xs.mean())
        r = int(max(40, 1.6 * max(np.ptp(ys), np.ptp(xs))))
        sl = (slice(max(0, cy - r), cy + r), slice(max(0, cx - r), cx + r))
        vmin, vmax = (-1000, 400) if scan.modality == "CT" else np.percentile(scan.image, [0.5, 99.5])
        ax.imshow(scan.image[z][sl], cmap="gray", vmin=vmin, vmax=vmax)
        ax.contour(scan.label[z][sl], [0.5], colors="r", linewidths=1)
        if net[z][sl].any():
            ax.contour(net[z][sl], [0.5], colors="lime", linewidths=1)
        if base[z][sl].any():
            ax.contour(base[z][sl], [0.5], colors="yellow", linewidths=0.8, linestyles="dashed")
        ax.set_title(f"{case} z={z}", fontsize=9)
        ax.axis("off")
    fig.suptitle("real lesion (red), U-Net fold model (green), baseline (yellow dashed)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def write_card_tables(metrics: dict) -> None:
    card = HERE / "MODEL_CARD.md"
    if not card.exists():
        return
    rows = ["| case | U-Net Dice (CV) | U-Net HD95 mm (CV) | baseline Dice | baseline HD95 mm "
            "| shipped model Dice |",
            "| --- | --- | --- | --- | --- | --- |"]
    for c in sources.CASES:
        cv, b, s = metrics["cv"][c], metrics["baseline"][c], metrics["shipped"][c]
        rows.append(f"| {c} | {cv['dice']:.3f} | {cv['hd95_mm']:.1f} | {b['dice']:.3f} | "
                    f"{b['hd95_mm']:.1f} | "
                    f"{s['dice']:.3f} |")
    m = metrics["mean"]
    rows.append(f"| **mean** | **{m['cv_dice']:.3f}** | {m['cv_hd95_mm']:.1f} | "
                f"**{m['baseline_dice']:.3f}** | "
                f"{m['baseline_hd95_mm']:.1f} | {m['shipped_dice']:.3f} |")
    write_metrics_block(card, rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tags", nargs="+", default=list(members.SEG_TAGS),
                    help="each fold's members (their mean is the fold model); the shipped recipe (default) "
                         "writes metrics.json, the figure and the card, others metrics_mean<tags>.json")
    ap.add_argument("--baseline-only", action="store_true", help="only tune and score the baseline")
    ap.add_argument("--organ-scale", type=float, default=None,
                    help="k: the folds run with MR scaled by the brain (organ_scale = { MR = k }), 0: by the "
                         "percentiles alone; default: as their members trained (members.mr_scale)")
    ap.add_argument("--record", default=None,
                    help="write the metrics to this file here instead (no card, no figure): a side run")
    args = ap.parse_args()
    import torch

    if args.organ_scale is not None and tuple(args.tags) == members.SEG_TAGS and args.record is None:
        ap.error("--organ-scale with the shipped members is a side run: give --record FILE")
    if args.baseline_only:
        for case in sources.CASES:
            print(case, run_baseline(case)[0], flush=True)
        return

    torch.set_num_threads(args.threads)
    tags = tuple(args.tags)
    context = members.context_of(sources.CASES[0], tags)  # the members' records say 2D or 2.5D
    metrics: dict = {"cv": {}, "baseline": {}, "shipped": {}, "fast_subset": {}}
    preds = {}
    for case in sources.CASES:
        k = members.mr_scale(case, tags) if args.organ_scale is None else (args.organ_scale or None)
        fields = members.normalization_fields(HERE, k)
        cv, p_net = run_model(case, members.fold_onnx(case, tags), context=context, input_fields=fields)
        b, p_base = run_baseline(case)
        s, _ = run_model(case, None)
        metrics["cv"][case], metrics["baseline"][case], metrics["shipped"][case] = cv, b, s
        preds[case] = (p_net, p_base)
        print(case, "cv", cv, "baseline", b, "shipped", s, flush=True)
    for case, zr in FAST_SUBSET.items():
        metrics["fast_subset"][case] = {"z_range": list(zr), **run_model(case, None, zr)[0]}

    def finite_mean(vals: list[float]) -> float:
        v = [x for x in vals if np.isfinite(x)]
        return round(float(np.mean(v)), 4) if v else float("nan")

    metrics["mean"] = {
        "cv_dice": finite_mean([metrics["cv"][c]["dice"] for c in sources.CASES]),
        "cv_hd95_mm": finite_mean([metrics["cv"][c]["hd95_mm"] for c in sources.CASES]),
        "baseline_dice": finite_mean([metrics["baseline"][c]["dice"] for c in sources.CASES]),
        "baseline_hd95_mm": finite_mean([metrics["baseline"][c]["hd95_mm"] for c in sources.CASES]),
        "shipped_dice": finite_mean([metrics["shipped"][c]["dice"] for c in sources.CASES]),
    }
    primary = tags == members.SEG_TAGS and args.record is None
    out = HERE / (args.record or ("metrics.json" if primary else f"metrics{members.mean_tag(tags)}.json"))
    out.write_text(json.dumps(metrics, indent=1))
    if primary:
        figure(preds, HERE / "segmentation.png")
        write_card_tables(metrics)
    print(json.dumps(metrics["mean"]))


if __name__ == "__main__":
    main()
