"""Should the slice score be the evidence maximum inside the organ only? Decided on SYNTHETIC volumes.

The classifier's slice score is the maximum of its evidence map over the *whole* slice, so a bright
vessel in the chest wall, the mediastinum or the scalp can set it. The segmenter already drops
regions outside the lung field / brain (``options.organ``). Whether the classifier should take its
maximum inside that organ instead is decided here, without the real test cases: each fold's network
(the mean of its U-Nets with the classifier's slice head, ``train.SliceScore``; uncalibrated, which
changes no ranking) scores whole volumes of *its own training anatomy* with one synthetic lesion each
(``baseline.synthetic_volumes``, a seed no training used), once over the whole slice and once inside
the organ mask the engine gives the plugin (``engine.engine_organ``: the lung field; deepbet's brain
when installed), bounded as the graph bounds it (outside the organ the evidence drops to the slice's
minimum). Slices touching a real lesion of that anatomy are left out.

Reported per fold and pooled: slice AUC (all slices of the volume, and organ slices only, as the
card's real evaluation counts them), how often the top-scored interior slice is a lesion slice, and
sensitivity / false-positive rate at a threshold refitted per scoring (Youden's J on the fold's own
synthetic validation slices, as ``train.py`` does).

    .venv/bin/python plugins/lesion_cls/organ_bound.py [--per-modality 6] [--threads 2]

Writes ``organ_bound.json``; the card quotes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from medlens.inference.runner import ranking_scores
from medlens.training import lesion_data as L  # noqa: N812
from medlens.training import members, sources, studies
from medlens.training.engine import engine_organ
from medlens.training.metrics import roc_auc

HERE = Path(__file__).resolve().parent
SEED = 4351  # not a training, validation or other study seed
SCORINGS = ("whole", "organ")


@torch.no_grad()
def slice_logits(net: torch.nn.Module, norm: np.ndarray, organ: np.ndarray, lesion: np.ndarray,
                 context: int) -> tuple[dict[str, np.ndarray], dict[str, list[bool]]]:
    """Per slice: the evidence maximum over the whole slice and inside ``organ`` (outside it the
    evidence is the slice's minimum, as in ``train.SliceScore``); and per lesion slice, whether that
    maximum lies in the lesion (pointing)."""
    nz = norm.shape[0]
    out = {k: np.empty(nz) for k in SCORINGS}
    hits: dict[str, list[bool]] = {k: [] for k in SCORINGS}
    for z in range(nz):
        x = torch.from_numpy(np.ascontiguousarray(norm[L.context_slices(z, context, nz)][None]))
        ev = net.evidence(x)[0, 0].numpy()
        bounded = np.where(organ[z], ev, ev.min())
        out["whole"][z] = ev.max()
        out["organ"][z] = bounded.max()
        if lesion[z].any():
            hits["whole"].append(bool(lesion[z].flat[int(np.argmax(ev))]))
            hits["organ"].append(bool(lesion[z].flat[int(np.argmax(bounded))]))
    return out, hits


def youden(logits: np.ndarray, y: np.ndarray) -> float:
    best = max((np.mean(logits[y == 1] >= t) + np.mean(logits[y == 0] < t) - 1, t) for t in np.unique(logits))
    return float(best[1])


def study(fold: str, per_modality: int, tags: tuple[str, ...]) -> dict:
    train = studies.script_module(HERE / "train.py")
    context, k = members.context_of(fold, tags), members.mr_scale(fold, tags)
    net = train.SliceScore(members.mean_unet((fold,), tags)).eval()

    def scored(seed: int) -> list[dict]:
        rows = []
        for a, img, lab in studies.fold_volumes(fold, per_modality, seed):
            organ = engine_organ(HERE, img, a.spacing, a.modality)
            s, hits = slice_logits(net, members.normalized(a, img, k), organ, lab, context)
            lesion = lab.any(axis=(1, 2))
            usable = ~(a.ignore.any(axis=(1, 2)) & ~lesion)
            organ_slice = a.organ.sum(axis=(1, 2)) >= 500
            rows.append({"s": s, "y": lesion, "usable": usable, "organ_slice": organ_slice,
                         "in_organ": bool((lab & organ).any()), "hits": hits})
        return rows

    val = scored(int(train.SEED) + 7)  # the seed of the classifier's own synthetic validation slices
    test = scored(SEED)
    out: dict = {"volumes": len(test), "context": context}
    for k in SCORINGS:
        yv = np.concatenate([r["y"][r["usable"] & r["organ_slice"]] for r in val])
        lv = np.concatenate([r["s"][k][r["usable"] & r["organ_slice"]] for r in val])
        thr = youden(lv, yv)
        res = {"threshold_logit": round(thr, 3)}
        for name, sel in (("all", "usable"), ("organ_slices", "organ_slice")):
            y = np.concatenate([r["y"][r["usable"] & r[sel]] for r in test])
            s = np.concatenate([r["s"][k][r["usable"] & r[sel]] for r in test])
            res[f"auc_{name}"] = round(roc_auc(s, y), 4)
            res[f"sens_{name}"] = round(float(np.mean(s[y] >= thr)), 3)
            res[f"fp_rate_{name}"] = round(float(np.mean(s[~y] >= thr)), 3)
            res[f"_y_{name}"], res[f"_s_{name}"] = y.tolist(), s.tolist()
        top = []
        for r in test:
            p = 1.0 / (1.0 + np.exp(-r["s"][k]))  # probabilities: ranking_scores zeroes the ends
            rank = np.where(r["usable"], ranking_scores(p, context), -np.inf)
            top.append(bool(r["y"][int(np.argmax(rank))]))
        res["top_is_lesion"] = round(float(np.mean(top)), 3)
        res["_top"] = top
        hits = [h for r in test for h in r["hits"][k]]
        res["pointing"] = round(float(np.mean(hits)), 3)
        res["_hits"] = hits
        out[k] = res
    out["lesion_touches_organ"] = round(float(np.mean([r["in_organ"] for r in test])), 3)
    return out


def main() -> None:
    args = studies.study_args(__doc__, threads=2)
    folds, pooled_raw = {}, {k: {"top": [], "hits": []} for k in SCORINGS}
    for case in sources.CASES:
        r = study(case, args.per_modality, tuple(args.tags))
        for k in SCORINGS:
            # pooled AUC over folds would mix their logit scales: report the folds' mean AUC instead
            pooled_raw[k]["top"] += r[k].pop("_top")
            pooled_raw[k]["hits"] += r[k].pop("_hits")
            for name in ("all", "organ_slices"):
                r[k].pop(f"_y_{name}"), r[k].pop(f"_s_{name}")
        folds[case] = r
        print(case, json.dumps(r), flush=True)
    def mean(k: str, key: str) -> float:
        return round(float(np.mean([f[k][key] for f in folds.values()])), 4)

    pooled = {
        k: {
            **{f"mean_{key}": mean(k, key) for key in ("auc_all", "auc_organ_slices", "sens_organ_slices",
                                                       "fp_rate_organ_slices")},
            "top_is_lesion": round(float(np.mean(pooled_raw[k]["top"])), 3),
            "pointing": round(float(np.mean(pooled_raw[k]["hits"])), 3),
        }
        for k in SCORINGS
    }
    out = {"seed": SEED, "per_modality": args.per_modality, "tags": args.tags, "folds": folds,
           "pooled": pooled}
    studies.record_path(HERE, "organ_bound", args.tags).write_text(json.dumps(out, indent=1))
    print(json.dumps(pooled))


if __name__ == "__main__":
    main()
