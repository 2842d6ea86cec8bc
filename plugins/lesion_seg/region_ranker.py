"""Study a learnt component rule for the lesion U-Net, on SYNTHETIC volumes only.

Why: on whole synthetic volumes the U-Net's fold models find the lesion in only ~28 % of them
(``component_rule_mean_ctx1_ctx1s2_4474.json``), while they outline a lesion in a crop far better:
the detector leaves several candidate regions and the one-property rules ("mean", "peak", ...) keep the
wrong one. This study asks whether a logistic score over several region features
(``medlens.inference.region_ranker.FEATURES``: size, mean, peak, share above 0.9, mass, elongation,
fill, slice extent) picks better, and how often the lesion is among the candidates at all (the oracle:
the best candidate's Dice, an upper bound for any rule that keeps one region).

Protocol, set before the first run (2026-11-30, committed with this script):
- Each fold model (the shipped recipe: the mean of the fold's two seeds) runs through the engine, every
  candidate kept, on whole synthetic volumes of *its own training anatomy*: seed 4475 (9 CT + 9 MR per
  fold) to fit, seed 4476 (18 CT + 18 MR per fold, as the component re-check) to test. Neither seed
  was used before.
- A candidate's target is "it is the lesion": Dice with the synthetic lesion > 0.1 (the hit of the
  earlier studies). Fold F's ranker is a logistic regression (scikit-learn, L2, C = 1, features
  standardised on its fit set) fitted on the seed-4475 candidates of all four fold models **except
  every volume built on case F's anatomy** (F's test case never enters its fold; pooling the folds
  gives the fit ~60 volumes instead of 18).
- On fold F's test volumes each volume keeps its highest-scored candidate (regions under 10 voxels
  only when nothing else is left, as "mean"), scored by Dice as in ``component_rule.py``.
- Decision: "learned" replaces the shipped "mean" only when its mean Dice over the four folds is higher
  **and** it is higher in at least three of the four folds (the rule of the component re-check).
- If adopted: each fold's ranker for the real cross-validation is refitted the same way on both seeds'
  candidates (still without case F's anatomy), and the shipped one on every candidate of both seeds.
  (The run of 2026-11-30 kept "mean": higher in only two folds; ``region_ranker.json``.)

    .venv/bin/python plugins/lesion_seg/region_ranker.py dump --seed 4475 --per-modality 9
    .venv/bin/python plugins/lesion_seg/region_ranker.py dump --seed 4476 --per-modality 18
    .venv/bin/python plugins/lesion_seg/region_ranker.py decide      # region_ranker.json
    .venv/bin/python plugins/lesion_seg/region_ranker.py misses --per-modality 6   # why lesions are missed

``dump`` keeps every candidate's features and Dice in the training cache (``region_ranker/``), so the
decision and any refit need no network run.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from scipy import ndimage

from medlens.inference.postprocess import select_component
from medlens.inference.region_ranker import FEATURES, RegionRanker, pick, region_features
from medlens.inference.runner import ranking_scores
from medlens.training import lesion_data, members, sources, studies
from medlens.training.metrics import dice

HERE = Path(__file__).resolve().parent
FIT_SEED, TEST_SEED = 4475, 4476
HIT = 0.1  # a candidate "is the lesion" above this Dice


def cache_file(fold: str, seed: int) -> Path:
    d = lesion_data._cache_dir() / "region_ranker"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{fold}_{seed}.npz"


def fold_candidates(
    fold: str, per_modality: int, seed: int, tags: tuple[str, ...]
) -> Iterator[tuple[lesion_data.Anatomy, np.ndarray, np.ndarray, np.ndarray, int]]:
    """Per synthetic volume of ``fold``'s training anatomy: its anatomy, every candidate's labels (a
    real lesion's voxels cleared: neither hit nor false positive), the probability map, the synthetic
    lesion and the model's slice context; the engine run of ``component_rule.py``."""
    rule = studies.script_module(HERE / "component_rule.py")
    reg, pid = members.fold_registry(HERE, fold, tags, f"ranker-{fold}")
    context = reg.manifest(pid).input.slice_context
    for a, img, lab in studies.fold_volumes(fold, per_modality, seed):
        labels, prob = rule.candidates(reg, pid, a, img)
        labels[a.ignore] = 0
        yield a, labels, prob, lab, context


def dump(fold: str, per_modality: int, seed: int, tags: tuple[str, ...]) -> dict:
    """Every candidate region of ``fold``'s model on its synthetic volumes: features, Dice, volume."""
    rows, dices, voxels, vol_of, mean_rule, anatomy = [], [], [], [], [], []
    for v, (a, labels, prob, lab, context) in enumerate(fold_candidates(fold, per_modality, seed, tags)):
        anatomy.append(a.name)
        ranked = ranking_scores(prob, context)
        components, n = ndimage.label(labels > 0, np.ones((3, 3, 3), bool))
        index = np.arange(1, n + 1)
        sx, sy, sz = a.spacing
        rows.append(region_features(components, index, ranked, (sz, sy, sx)))
        dices.extend(dice(components == i, lab) for i in index)
        voxels.extend(ndimage.sum_labels(labels > 0, components, index).astype(int))
        vol_of.extend([v] * n)
        mean_rule.append(dice(select_component(labels, ranked, "mean") > 0, lab))
    out = {"features": np.concatenate(rows) if rows else np.zeros((0, len(FEATURES))),
           "dice": np.asarray(dices), "voxels": np.asarray(voxels, int), "volume": np.asarray(vol_of, int),
           "mean_rule": np.asarray(mean_rule), "n_volumes": np.asarray(len(mean_rule)),
           "anatomy": np.asarray(anatomy)}
    np.savez(cache_file(fold, seed), **out)
    return summary(out)


def summary(d: dict) -> dict:
    best = np.zeros(int(d["n_volumes"]))
    np.maximum.at(best, d["volume"], d["dice"])
    return {"volumes": int(d["n_volumes"]), "candidates": len(d["dice"]),
            "mean_rule_dice": round(float(np.mean(d["mean_rule"])), 4),
            "oracle_dice": round(float(best.mean()), 4),
            "oracle_hit_rate": round(float(np.mean(best > HIT)), 3)}


def load(fold: str, seed: int) -> dict:
    with np.load(cache_file(fold, seed)) as z:
        return {k: z[k] for k in z.files}


def fit(features: np.ndarray, target: np.ndarray) -> RegionRanker:
    """Logistic regression on standardised features (the protocol's fixed settings)."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = features.mean(axis=0), features.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    lr = LogisticRegression(C=1.0, max_iter=2000).fit((features - mean) / scale, target)
    r = lambda a: tuple(round(float(x), 6) for x in a)  # noqa: E731 - plugin.toml-sized numbers
    return RegionRanker(FEATURES, r(mean), r(scale), r(lr.coef_[0]), round(float(lr.intercept_[0]), 6))


def chosen_dice(ranker: RegionRanker, d: dict) -> np.ndarray:
    """Per test volume, the Dice of the candidate ``ranker`` keeps (0 without candidates)."""
    logit = ranker.logits(d["features"])
    out = np.zeros(int(d["n_volumes"]))
    for v in range(int(d["n_volumes"])):
        rows = np.flatnonzero(d["volume"] == v)
        if rows.size:
            out[v] = d["dice"][rows[pick(logit[rows], d["voxels"][rows])]]
    return out


def pooled(seeds: tuple[int, ...], without: str | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Features and hit targets of every fold model's candidates on ``seeds``, leaving out the volumes
    built on case ``without``'s anatomy; and how many volumes that leaves."""
    feats, hits, n = [], [], 0
    for case in sources.CASES:
        for seed in seeds:
            d = load(case, seed)
            keep_vol = d["anatomy"] != without
            rows = keep_vol[d["volume"]]
            feats.append(d["features"][rows])
            hits.append(d["dice"][rows] > HIT)
            n += int(keep_vol.sum())
    return np.concatenate(feats), np.concatenate(hits), n


def decide() -> dict:
    folds = {}
    for case in sources.CASES:
        test_d = load(case, TEST_SEED)
        x, y, n_fit = pooled((FIT_SEED,), case)
        ranker = fit(x, y)
        learned = chosen_dice(ranker, test_d)
        folds[case] = {"fit": {"volumes": n_fit, "candidates": len(y), "hits": int(y.sum())},
                       "own_fit": summary(load(case, FIT_SEED)), "test": summary(test_d),
                       "learned_dice": round(float(learned.mean()), 4),
                       "learned_hit_rate": round(float(np.mean(learned > HIT)), 3),
                       "mean_hit_rate": round(float(np.mean(test_d["mean_rule"] > HIT)), 3),
                       "coef": dict(zip(FEATURES, ranker.coef, strict=True))}
        print(case, json.dumps(folds[case]), flush=True)
    learned_mean = float(np.mean([f["learned_dice"] for f in folds.values()]))
    mean_mean = float(np.mean([f["test"]["mean_rule_dice"] for f in folds.values()]))
    wins = sum(f["learned_dice"] > f["test"]["mean_rule_dice"] for f in folds.values())
    oracle = float(np.mean([f["test"]["oracle_dice"] for f in folds.values()]))
    out = {"fit_seed": FIT_SEED, "test_seed": TEST_SEED, "folds": folds,
           "mean_dice": {"mean": round(mean_mean, 4), "learned": round(learned_mean, 4),
                         "oracle": round(oracle, 4)},
           "folds_where_learned_wins": wins,
           "adopt": "learned" if learned_mean > mean_mean and wins >= 3 else "mean"}
    (HERE / "region_ranker.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in ("mean_dice", "folds_where_learned_wins", "adopt")}))
    return out


def misses(fold: str, per_modality: int, tags: tuple[str, ...]) -> dict:
    """Why a volume has no candidate that is the lesion (the oracle's misses), on the first test
    volumes: the lesion is *found* (a candidate is a hit), *missed* (under a tenth of it above the
    threshold) or *merged* (more of it above, yet no candidate a hit: inside a far larger region,
    or in fragments). Written after the first results showed the oracle's low ceiling: a diagnosis."""
    rows = []
    for a, labels, prob, lab, _ in fold_candidates(fold, per_modality, TEST_SEED, tags):
        components, _ = ndimage.label(labels > 0, np.ones((3, 3, 3), bool))
        covered = float(np.mean(labels[lab] > 0))
        hit_ids, counts = np.unique(components[lab & (components > 0)], return_counts=True)
        best = int(hit_ids[np.argmax(counts)]) if hit_ids.size else 0
        best_dice = dice(components == best, lab) if best else 0.0
        ratio = float((components == best).sum() / lab.sum()) if best else 0.0
        kind = "found" if best_dice > HIT else ("missed" if covered < 0.1 else "merged")
        rows.append({"modality": a.modality, "kind": kind, "lesion_voxels": int(lab.sum()),
                     "covered": round(covered, 3), "lesion_peak": round(float(prob[lab].max()), 3),
                     "best_dice": round(best_dice, 3), "region_over_lesion": round(ratio, 2)})
    kinds = [r["kind"] for r in rows]
    return {"volumes": rows, "counts": {k: kinds.count(k) for k in ("found", "merged", "missed")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["dump", "decide", "misses"])
    ap.add_argument("--seed", type=int, default=FIT_SEED)
    ap.add_argument("--per-modality", type=int, default=12)
    ap.add_argument("--folds", nargs="+", default=list(sources.CASES))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tags", nargs="+", default=list(members.SEED_TAGS))
    args = ap.parse_args()
    if args.step == "decide":
        decide()
        return
    import torch

    torch.set_num_threads(args.threads)
    if args.step == "misses":
        out = {c: misses(c, args.per_modality, tuple(args.tags)) for c in args.folds}
        (HERE / "region_ranker_misses.json").write_text(json.dumps(out, indent=1))
        print(json.dumps({c: v["counts"] for c, v in out.items()}))
        return
    for case in args.folds:
        print(case, json.dumps(dump(case, args.per_modality, args.seed, tuple(args.tags))), flush=True)


if __name__ == "__main__":
    main()
