"""Should the segmenter average over a left-right mirror by default (flip TTA)? Decided on SYNTHETIC volumes.

Flip TTA runs the network on the slice and on its mirror image and averages the two probability
maps; training augmented with left-right flips only (``lesion_data``), so ``plugin.toml`` limits
TTA to that axis (``options.tta_axes``). Whether that average should be the default - it doubles the
run time - is decided here without the real test cases: each fold's mean of U-Nets runs through the
MedLens engine, with the plugin's own post-processing (organ bound, the manifest's component rule),
on whole volumes of *its own training anatomy* with one synthetic lesion each
(``baseline.synthetic_volumes``, a seed no training or other study used), once without and once with
TTA. Voxels of a real lesion in that anatomy count neither as hit nor as false positive.

The rule, set before running: TTA becomes the default when the mean Dice over the four folds rises
and it rises in at least three of them.

    .venv/bin/python plugins/lesion_seg/tta_study.py [--per-modality 6] [--threads 2]

Writes ``tta_study.json`` (``tta_study_mean_<tags>.json`` for members other than the ones it decided on,
so a re-run on newer members keeps the decision record); the card quotes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from medlens.training import members, sources, studies

HERE = Path(__file__).resolve().parent
SEED = 4246  # not a training, validation or other study seed
VARIANTS = {"plain": False, "tta": True}


def study(fold: str, per_modality: int, tags: tuple[str, ...]) -> dict:
    """Dice of ``fold``'s model with and without flip TTA on synthetic volumes of its anatomy."""
    from medlens.inference import RunOptions

    reg, pid = members.fold_registry(HERE, fold, tags, f"tta-{fold}")
    vols = studies.fold_volumes(fold, per_modality, SEED)
    scores: dict[str, list[float]] = {k: [] for k in VARIANTS}
    for a, img, lab in vols:
        for name, tta in VARIANTS.items():
            opts = RunOptions(tta_flips=tta, use_cache=False)
            scores[name].append(studies.engine_dice(reg, pid, a, img, lab, opts))
    return {
        "volumes": len(vols),
        "dice": {k: round(float(np.mean(v)), 4) for k, v in scores.items()},
        "hit_rate": {k: round(float(np.mean(np.asarray(v) > 0.1)), 3) for k, v in scores.items()},
        "per_volume": {k: [round(x, 4) for x in v] for k, v in scores.items()},
    }


def main() -> None:
    args = studies.study_args(__doc__, threads=2)
    folds = {}
    for case in sources.CASES:
        folds[case] = study(case, args.per_modality, tuple(args.tags))
        print(case, folds[case]["dice"], folds[case]["hit_rate"], flush=True)
    mean = {k: round(float(np.mean([f["dice"][k] for f in folds.values()])), 4) for k in VARIANTS}
    rises = sum(f["dice"]["tta"] > f["dice"]["plain"] for f in folds.values())
    out = {"seed": SEED, "per_modality": args.per_modality, "tags": args.tags, "folds": folds,
           "mean_dice": mean, "folds_where_tta_rises": rises,
           "adopt_tta": bool(mean["tta"] > mean["plain"] and rises >= 3)}
    studies.record_path(HERE, "tta_study", args.tags).write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in ("mean_dice", "folds_where_tta_rises", "adopt_tta")}))


if __name__ == "__main__":
    main()
