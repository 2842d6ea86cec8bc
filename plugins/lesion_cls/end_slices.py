"""Should a 2.5D classifier's first and last slices compete for its peak? Decided on SYNTHETIC volumes.

A 2.5D model sees each slice with its neighbours; on the first and last ``slice_context`` slices of a
series the missing neighbours are padded copies (``runner.model_channels``), an input the network
almost never met in training. The segmenter already stops those slices from choosing its region
(``runner.ranking_scores``). Whether the classifier's peak slice and study score should ignore them
too is decided here, without the real test cases: each fold classifier is run through the MedLens
engine on whole volumes of *its own training anatomy* with one synthetic lesion each
(``baseline.synthetic_volumes``, a seed no training used). Slices touching a real lesion of that
anatomy are left out (neither lesion nor lesion-free).

Reported per fold and pooled: how often the top-scored slice is a lesion slice when every slice
competes ("all") and when the end slices do not ("interior"); the mean score and the false-positive
rate at the fold's threshold of lesion-free end slices vs lesion-free interior slices.

    .venv/bin/python plugins/lesion_cls/end_slices.py [--per-modality 6] [--threads 1]

Writes ``end_slices.json``; the card quotes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from medlens.inference.runner import padded_end_slices, ranking_scores
from medlens.training import members, sources, studies
from medlens.training.engine import registry_for
from medlens.viewer.model import Geometry, Volume, VolumeMeta

HERE = Path(__file__).resolve().parent
SEED = 4343  # not a training, validation or other study seed


def study(fold: str, per_modality: int, tags: tuple[str, ...]) -> dict:
    """Peak and false-positive figures of ``fold``'s classifier on synthetic volumes of its anatomy."""
    from medlens.inference import RunOptions, run_plugin

    stem = members.classifier_stem(fold, tags)
    info = members.classifier_record(fold, tags)  # stops on a classifier built on other U-Net weights
    context = int(info.get("context", 0))
    reg, pid = registry_for(HERE, stem.with_suffix(".onnx"), suffix=f"ends-{fold}", slice_context=context,
                            input_fields=members.trained_fields(HERE, fold, tags))
    vols = studies.fold_volumes(fold, per_modality, SEED)
    top = {"all": [], "interior": []}
    end_neg, mid_neg = [], []
    for a, img, lab in vols:
        vol = Volume(
            img.astype(np.float32), Geometry(a.spacing, (0.0, 0.0, 0.0)), VolumeMeta(modality=a.modality)
        )
        result = run_plugin(pid, vol, RunOptions(use_cache=False), registry=reg)  # type: ignore[arg-type]
        assert result.slice_probabilities is not None
        p = np.asarray(result.slice_probabilities)[:, 0].astype(float)
        lesion = lab.any(axis=(1, 2))
        usable = ~(a.ignore.any(axis=(1, 2)) & ~lesion)  # a real lesion's slices: neither
        p_use = np.where(usable, p, -1.0)
        top["all"].append(bool(lesion[int(np.argmax(p_use))]))
        top["interior"].append(
            bool(lesion[int(np.argmax(np.where(usable, ranking_scores(p, context), -1.0)))])
        )
        c = padded_end_slices(len(p), context)
        ends = np.zeros(len(p), bool)
        ends[:c] = ends[len(p) - c :] = True
        end_neg += list(p[ends & usable & ~lesion])
        mid_neg += list(p[~ends & usable & ~lesion])
    thr = float(info["threshold"])
    return {
        "volumes": len(vols),
        "context": context,
        "threshold": thr,
        "top_is_lesion": {k: round(float(np.mean(v)), 3) for k, v in top.items()},
        "end_negative": {
            "n": len(end_neg),
            "mean": round(float(np.mean(end_neg)), 4),
            "fp_rate": round(float(np.mean(np.asarray(end_neg) >= thr)), 3),
        },
        "interior_negative": {
            "n": len(mid_neg),
            "mean": round(float(np.mean(mid_neg)), 4),
            "fp_rate": round(float(np.mean(np.asarray(mid_neg) >= thr)), 3),
        },
        "_top": top,
        "_end": end_neg,
        "_mid": mid_neg,
    }


def main() -> None:
    args = studies.study_args(__doc__)
    folds, top, end, mid = {}, {"all": [], "interior": []}, [], []
    for case in sources.CASES:
        r = study(case, args.per_modality, tuple(args.tags))
        found = r.pop("_top")
        for k in top:
            top[k] += found[k]
        end += r.pop("_end")
        mid += r.pop("_mid")
        folds[case] = r
        print(case, r, flush=True)
    pooled = {
        "volumes": len(top["all"]),
        "top_is_lesion": {k: round(float(np.mean(v)), 3) for k, v in top.items()},
        "end_negative_mean": round(float(np.mean(end)), 4),
        "interior_negative_mean": round(float(np.mean(mid)), 4),
        "end_negative_fp_rate": round(
            float(np.mean([f["end_negative"]["fp_rate"] for f in folds.values()])), 3
        ),
        "interior_negative_fp_rate": round(
            float(np.mean([f["interior_negative"]["fp_rate"] for f in folds.values()])), 3
        ),
    }
    out = {
        "seed": SEED,
        "per_modality": args.per_modality,
        "tags": args.tags,
        "folds": folds,
        "pooled": pooled,
    }
    studies.record_path(HERE, "end_slices", args.tags).write_text(json.dumps(out, indent=1))
    print(json.dumps(pooled))


if __name__ == "__main__":
    main()
