"""Should the slice classifier follow the segmenter onto its 0.5 members (MR scaled by the brain)?

Why the question: the classifier is the mean lesion U-Net of a fold with a calibrated slice head
(``train.py``). Until now it was built on the members ``_ctx1`` / ``_ctx1s2``, which see MR normalised by
the series' percentiles, so where the brain lands in the input depends on the field of view (a
skull-stripped T1 lands where those networks are nearly blind: ``lesion_seg/organ_scale_study.py
--sweep``). lesion-seg 0.5 moved to members ``_k3`` / ``_k3s2`` trained with the brain's median at 1/3
of the range, and the engine scales MR series that way (``organ_scale = { MR = 3.0 }``). The reason to
follow is the same input invariance, not a gain, so the rule only guards against a loss.

Protocol, set before any candidate classifier was built (2026-12-01, committed with this script):
- Current: fold classifiers on ``_ctx1`` / ``_ctx1s2`` (as retrained on this machine), percentiles.
  Candidate: fold classifiers on ``_k3`` / ``_k3s2``, MR scaled at 3 (``members.mr_scale``: the
  validation slices and the engine run as the members trained). Both built by ``train.build``.
- Measure: each fold's ROC AUC on its synthetic validation slices (``val_auc_synthetic``: whole slices
  of the fold's own training anatomy with one synthetic lesion per volume, seed ``train.SEED + 7``; AUC
  does not depend on the Platt fit made on them). No real case is looked at.
- Decision: the candidate ships as lesion-cls 0.6 unless its mean AUC over the four folds is lower than
  the current one's by more than 0.02. The real cases (``evaluate.py``) are then reported for both,
  whichever ships.

    .venv/bin/python plugins/lesion_cls/organ_scale_rebuild.py   # builds what is missing (~2.5 min each)

Writes ``organ_scale_rebuild.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from medlens.training import members, sources, studies

HERE = Path(__file__).resolve().parent
MARGIN = 0.02
RECIPES = {"current": members.SEED_TAGS, "candidate": members.K3_TAGS}  # a record: 0.6's decision


def fold_record(case: str, tags: tuple[str, ...]) -> dict:
    """The fold classifier's build record, building it when missing or built on other members."""
    stem = members.classifier_stem(case, tags)
    if stem.with_suffix(".json").is_file():
        rec = json.loads(stem.with_suffix(".json").read_text())
        if members.built_on_cache(rec, case, tags):
            return rec
    train = studies.script_module(HERE / "train.py")
    return train.build(case, members.folds_dir(), stem.name, tags)


def compare(recipes: dict[str, tuple[str, ...]], margin: float) -> dict:
    """Each fold's synthetic validation AUC for each recipe, the means, and which ships: ``candidate``
    unless its mean is lower than ``current``'s by more than ``margin`` (shared by ``steps_rebuild.py``)."""
    out: dict = {"margin": margin, "recipes": {k: list(v) for k, v in recipes.items()}, "folds": {}}
    for case in sources.CASES:
        out["folds"][case] = {}
        for name, tags in recipes.items():
            rec = fold_record(case, tags)
            out["folds"][case][name] = {"val_auc_synthetic": rec["val_auc_synthetic"],
                                        "mr_scale": rec.get("mr_scale"), "threshold": rec["threshold"]}
            print(case, name, out["folds"][case][name], flush=True)
    mean = {n: round(float(np.mean([f[n]["val_auc_synthetic"] for f in out["folds"].values()])), 4)
            for n in recipes}
    out["mean_val_auc_synthetic"] = mean
    out["ship"] = "candidate" if mean["candidate"] >= mean["current"] - margin else "current"
    return out


def main() -> None:
    out = compare(RECIPES, MARGIN)
    (HERE / "organ_scale_rebuild.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out["mean_val_auc_synthetic"]), "ship:", out["ship"])


if __name__ == "__main__":
    main()
