"""Refit the fold classifiers' and the shipped model's operating threshold under train.py's rule
(``MIN_SPECIFICITY`` of the synthetic lesion-free validation slices below it), without rebuilding them.

Rebuilds the same synthetic validation slices as ``train.build`` (same seed, anatomy and members) and
checks that they are the same (the raw-logit AUC and the Platt fit match the build record) before it
replaces ``threshold`` in each record; Youden's J is recomputed and kept as ``threshold_youden``.
For the shipped model it also writes plugin.toml's ``options.threshold``. No real case is used.

    .venv/bin/python plugins/lesion_cls/operating_point.py [--threads 2]

Writes ``operating_point.json``; the card quotes it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from medlens.training import members, sources, studies
from medlens.training.metrics import roc_auc

HERE = Path(__file__).resolve().parent
train = studies.script_module(HERE / "train.py")


def refit(record: Path, fold: str, tags: tuple[str, ...]) -> dict:
    info = json.loads(record.read_text())
    if not members.built_on_cache(info, fold, tags):
        raise SystemExit(f"{record.name} was built on other U-Net weights than the cache holds")
    v = train.calibrated_validation(fold, tags)
    auc = round(roc_auc(v.logits, v.y), 4)
    if auc != info["val_auc_synthetic"] or not np.allclose([v.a, v.b], info["platt"], atol=1e-4):
        raise SystemExit(f"{record.name}: the validation slices differ from the build's "
                         f"(AUC {auc} vs {info['val_auc_synthetic']}, Platt {v.a:.4f}, {v.b:.4f} "
                         f"vs {info['platt']})")
    p, y = v.p, v.y.astype(bool)
    new = train.thresholds(p, y)
    row = {"n_val_slices": int(y.size), "n_val_positive": int(y.sum()), "before": info["threshold"], **new}
    for name, t in (("youden", new["threshold_youden"]), ("floor", new["threshold"])):
        row[f"synthetic_sens_spec_{name}"] = [round(float(np.mean(p[y] >= t)), 3),
                                              round(float(np.mean(p[~y] < t)), 3)]
    info.update(new)
    record.write_text(json.dumps(info, indent=1))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tags", nargs="+", default=list(members.CLS_TAGS))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tags = tuple(args.tags)
    rows = {}
    for case in sources.CASES:
        rows[case] = refit(members.classifier_stem(case, tags).with_suffix(".json"), case, tags)
        print(case, rows[case], flush=True)
    rows["all"] = refit(HERE / "train_log.json", "all", tags)
    train.stamp_threshold(HERE / "plugin.toml", rows["all"]["threshold"])
    print("all", rows["all"], flush=True)
    out = {"min_specificity": train.MIN_SPECIFICITY, "tags": list(tags), "folds": rows}
    (HERE / "operating_point.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
