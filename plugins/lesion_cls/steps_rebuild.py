"""Should the slice classifier follow the segmenter onto its 4 000-step members?

Why the question: the classifier is the mean lesion U-Net of a fold with a calibrated slice head
(``train.py``). lesion-seg 0.6 ships the members ``_k3l4`` / ``_k3l4s2`` (``members.STEPS_4000_TAGS``:
the recipe of ``_k3`` / ``_k3s2``, trained 4 000 steps instead of 2 000; adopted by
``lesion_seg/steps_pair_study.py`` on synthetic volumes, 4 of 4 folds). The classifier is still on
``_k3`` / ``_k3s2`` (then ``members.CLS_TAGS``, now ``members.K3_TAGS``). The reason to follow is one
set of networks behind the score plot and the outline (the slice the score flags is the one the outline
comes from; one set of members to archive and check), not an expected gain, so the rule, as for
``organ_scale_rebuild.py``, only guards against a loss.

Protocol, set before any candidate classifier was built (2026-12-01, committed with this script):
- Current: fold classifiers on ``_k3`` / ``_k3s2`` (lesion-cls 0.6.1's). Candidate: fold classifiers on
  ``_k3l4`` / ``_k3l4s2``. Both built by ``train.build``, MR scaled as their members trained (3 for both).
- Measure: each fold's ROC AUC on its synthetic validation slices (``val_auc_synthetic``: whole slices
  of the fold's own training anatomy with one synthetic lesion per volume, seed ``train.SEED + 7``; AUC
  does not depend on the Platt fit made on them). No real case is looked at.
- Decision: the candidate ships as lesion-cls 0.7 unless its mean AUC over the four folds is lower than
  the current one's by more than 0.02. The real cases (``evaluate.py``: AUC, pointing game) are then
  reported for both, whichever ships.

    .venv/bin/python plugins/lesion_cls/steps_rebuild.py   # builds what is missing (~2.5 min each)

Writes ``steps_rebuild.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from medlens.training import studies

HERE = Path(__file__).resolve().parent
MARGIN = 0.02
RECIPES = {"current": ("_k3", "_k3s2"), "candidate": ("_k3l4", "_k3l4s2")}  # a record: literals


def main() -> None:
    rebuild = studies.script_module(HERE / "organ_scale_rebuild.py")
    out = rebuild.compare(RECIPES, MARGIN)
    (HERE / "steps_rebuild.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out["mean_val_auc_synthetic"]), "ship:", out["ship"])


if __name__ == "__main__":
    main()
