"""Break the "peak" rule's ties by summed probability, and retry the 6 000-step recipe (SYNTHETIC volumes)

Why: ``recipe_ties_p6k_4472.json`` showed the 6 000-step members' float32 sigmoid saturating at exactly
1.0 in several regions of one volume, and the peak rule then kept the first of them in label order
(the lowest slice index). The engine now breaks such ties by mass (``select_component``). This study
measures that change and re-asks the recipe question on a fresh draw of synthetic whole volumes (seed
4473: no training, validation or other study used it; the seed-4472 draw found the problem and so
cannot judge the fix).

For each fold, each recipe's seed-1234 member (the shipped recipe ``_ctx1``, the candidate ``_p6k``)
runs through the MedLens engine with the plugin's own organ step and no component step; the study then
keeps one region both ways - first tied region in label order (the engine before this change) and
ties by mass (the engine now) - and scores Dice against the synthetic lesion (voxels of a real lesion
in the anatomy count neither way, as in ``studies.engine_dice``).

The rules, set before running (2026-11-30, before any seed-4473 result):
1. The tie-break stays in the engine when, for each recipe, its mean Dice over the four folds is at
   least that of label order (the two differ only on volumes with a tie at the top).
2. With the engine's rule as decided in 1, the candidate recipe is better when its mean Dice over the
   four folds is higher and it is higher in at least three folds (``recipe_study.py``'s rule).
The real lesions (leave-one-case-out, single seed, through the engine) are reported beside it, not
used to decide; they were measured with the plugin's rule then, "peak" (it ships "mean" since
``component_rule.py``'s re-check, so a re-run scores them under "mean").

    .venv/bin/python plugins/lesion_seg/tie_break_study.py [--per-modality 18] [--seed 4473] [--threads 2]

Writes ``tie_break_study_{SEED}.json``; the card quotes it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from medlens.inference.postprocess import select_component
from medlens.inference.runner import ranking_scores
from medlens.training import members, sources, studies
from medlens.training.metrics import dice

HERE = Path(__file__).resolve().parent
SEED = 4473
TAGS = {"current": "_ctx1", "candidate": "_p6k"}
RULES = ("label_order", "mass")


def first_peak(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, int]:
    """The engine's peak rule before the tie-break: the first region (label order) holding the top
    score; and how many regions hold it."""
    regions, n = ndimage.label(labels > 0, np.ones((3, 3, 3), bool))
    if n <= 1:
        return labels > 0, n
    peaks = ndimage.maximum(scores, regions, np.arange(1, n + 1))
    top = np.flatnonzero(peaks == np.max(peaks))
    return regions == int(top[0]) + 1, int(top.size)


def fold_scores(fold: str, per_modality: int, seed: int) -> dict[str, dict]:
    """Per recipe: Dice per volume under each tie rule, and the number of regions tied at the top."""
    rule = studies.script_module(HERE / "component_rule.py")
    vols = studies.fold_volumes(fold, per_modality, seed)
    out: dict[str, dict] = {}
    for name, tag in TAGS.items():
        reg, pid, context = studies.member_registry(HERE, fold, tag, f"tie-{name}-{fold}")
        dices: dict[str, list[float]] = {r: [] for r in RULES}
        tied = []
        for a, img, lab in vols:
            labels, prob = rule.candidates(reg, pid, a, img)
            ranked = ranking_scores(prob, context)
            kept_first, n_top = first_peak(labels, ranked)
            kept = {"label_order": kept_first, "mass": select_component(labels, ranked, "peak") > 0}
            for r, found in kept.items():
                found = found.copy()
                found[a.ignore] = False
                dices[r].append(round(dice(found, lab), 4))
            tied.append(n_top)
        out[name] = {"dice": {r: round(float(np.mean(v)), 4) for r, v in dices.items()},
                     "hits": {r: int(np.sum(np.asarray(v) > 0.1)) for r, v in dices.items()},
                     "volumes_with_tie": int(np.sum(np.asarray(tied) > 1)),
                     "per_volume": dices, "tied_at_top": tied}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-modality", type=int, default=18)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=SEED, help="the synthetic volumes' seed")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    evaluate = studies.script_module(HERE / "evaluate.py")
    folds = {}
    for fold in sources.CASES:
        folds[fold] = fold_scores(fold, args.per_modality, args.seed)
        for name, tag in TAGS.items():
            weights = members.fold_onnx(fold, (tag,))
            folds[fold][name]["real"] = evaluate.run_model(fold, weights, context=1)[0]
        print(fold, json.dumps({k: {m: v for m, v in r.items() if m not in ("per_volume", "tied_at_top")}
                                for k, r in folds[fold].items()}), flush=True)

    def mean(name: str, r: str) -> float:
        return round(float(np.mean([f[name]["dice"][r] for f in folds.values()])), 4)

    means = {name: {r: mean(name, r) for r in RULES} for name in TAGS}
    keep_tie_break = all(means[name]["mass"] >= means[name]["label_order"] for name in TAGS)
    r = "mass" if keep_tie_break else "label_order"
    wins = sum(f["candidate"]["dice"][r] > f["current"]["dice"][r] for f in folds.values())
    real = {n: round(float(np.mean([f[n]["real"]["dice"] for f in folds.values()])), 4) for n in TAGS}
    out = {"seed": args.seed, "per_modality": args.per_modality, "tags": TAGS, "folds": folds,
           "mean_dice": means, "keep_tie_break": keep_tie_break, "rule_for_recipe": r,
           "folds_where_candidate_wins": wins,
           "adopt_candidate": bool(means["candidate"][r] > means["current"][r] and wins >= 3),
           "real_mean_dice": real}
    (HERE / f"tie_break_study_{args.seed}.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k != "folds"}))


if __name__ == "__main__":
    main()
