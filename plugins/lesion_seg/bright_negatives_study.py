"""Bright-structure hard negatives for the lesion U-Net? (SYNTHETIC volumes decide)

Why: brain2's fold model (lesion-seg 0.5) marks part of the real tumour (probability up to 0.95 on a
sixth of it), but inside deepbet's brain a midline deep vein at the level of the internal cerebral
veins scores a higher mean probability (0.84 against 0.66, ``real_candidates.py brain2``) and is
reported; the other candidates that outscore the tumour lie mostly outside the brain (orbit, frontal
scalp, sigmoid sinus) and the organ bound drops them. Most lesions the fold models miss on synthetic
volumes are MR (``region_ranker.py misses``), and enhancing veins, sinuses and choroid plexus are the
contrast T1's lesion look-alikes; on CT vessels seen end-on are the nodule's. The training crops never
aim at them: lesion-free crops are centred anywhere in the body or on the organ's border band.

This diagnosis was made by looking at brain2's real output (test-informed, as the version 0.4
generator additions were); the change is generic and is decided on synthetic volumes only.

The candidate recipe (``train.py --bright-negatives 0.33``, tags ``_k3b`` / ``_k3bs2``, seeds 1234 /
2345, everything else lesion-seg 0.5's ``_k3`` / ``_k3s2`` recipe): a third of the lesion-free crops
is centred on bright tissue inside the organ (``lesion_data.organ_bright``: on CT denser than -300 HU
inside the lung field, i.e. vessels, hila, fissures; on MR brighter than 1.3 x the brain's median, i.e.
enhancing veins, sinuses, choroid plexus, dura in a contrast T1); the other two thirds are split
between the border band and the whole body as before. The share (1/3) and the thresholds were set
before any candidate was trained, from the generator (synthetic lesions are placed in aerated lung
below -300 HU; enhancing synthetic lesions are 1.2-2 x the brain).

Protocol, set and committed before the candidate's first synthetic volume ran (2026-12-01):
- Current: ``_k3`` / ``_k3s2`` (lesion-seg 0.5's members, in git). Candidate: ``_k3b`` / ``_k3bs2``.
  A fold model is the mean of its two seeds, through the engine with the plugin's manifest and
  post-processing ("mean" rule, organ bound, MR scaled by the brain, flip TTA off), as shipped.
- Volumes: seed 4477, 12 CT + 12 MR per fold of the fold's own training anatomy, the volumes on which
  ``organ_scale_study.py`` adopted the current members. The current recipe's rows are that study's
  recorded ``organ_scale`` rows (``organ_scale_study.json``), re-run here on the first CT and the first
  MR volume of every fold to check that they reproduce (the study stops if they do not). Reusing them
  favours the current recipe, not the candidate: it was adopted on these volumes.
- Decision: the candidate replaces the current recipe when its mean Dice over the four folds is
  higher **and** it is higher in at least three folds (the rule of the earlier studies).
- Reported, not used to decide: MR and CT separately, hits (Dice > 0.1), the highest probability
  inside each lesion, the members' synthetic validation Dice, and the real lesions
  (``evaluate.py --tags _k3b _k3bs2 --record metrics_mean_k3b_k3bs2.json``).

    .venv/bin/python plugins/lesion_seg/bright_negatives_study.py --folds lung1 lung2   # two processes,
    .venv/bin/python plugins/lesion_seg/bright_negatives_study.py --folds brain1 brain2 # one core each
    .venv/bin/python plugins/lesion_seg/bright_negatives_study.py --decide   # bright_negatives_study.json

The run of 2026-12-01 did not adopt the candidate (``bright_negatives_study.json``: mean Dice 0.233 ->
0.238, higher in 2 of 4 folds; CT 0.373 -> 0.400, MR 0.094 -> 0.075). On brain2 the tumour's highest
probability fell from 0.95 to 0.45 and the vein still ranked first.
"""

from __future__ import annotations

import json
from pathlib import Path

from medlens.training import members, sources, studies

HERE = Path(__file__).resolve().parent
SEED = 4477  # organ_scale_study.SEED: its recorded rows are the current recipe's
PER_MODALITY = 12
HIT = 0.1
CURRENT = ("_k3", "_k3s2")
CANDIDATE = ("_k3b", "_k3bs2")
RECORD = HERE / "organ_scale_study.json"


def fold_rows(fold: str) -> list[dict]:
    """Per synthetic volume of ``fold``: the current recipe's recorded row (spot-checked) and the
    candidate's."""
    recorded = json.loads(RECORD.read_text())["volumes"][fold]
    for tags in (CURRENT, CANDIDATE):
        if members.mr_scale(fold, tags) != 3.0:
            raise ValueError(f"members {tags} of {fold} did not train with MR scale 3")
    current = members.fold_registry(HERE, fold, CURRENT, f"bright-current-{fold}")
    candidate = members.fold_registry(HERE, fold, CANDIDATE, f"bright-candidate-{fold}")
    rows = []
    checked: set[str] = set()
    for i, (a, img, lab) in enumerate(studies.fold_volumes(fold, PER_MODALITY, SEED)):
        rec = recorded[i]
        if (rec["anatomy"], rec["lesion_voxels"]) != (a.name, int(lab.sum())):
            raise RuntimeError(f"{fold} volume {i}: not the recorded volume ({rec['anatomy']})")
        row = {"modality": a.modality, "anatomy": a.name, "lesion_voxels": int(lab.sum()),
               "current": rec["organ_scale"]}
        if a.modality not in checked:  # the first volume of each modality: does the record reproduce?
            again = studies.engine_scores(*current, a, img, lab)
            if again != rec["organ_scale"]:
                raise RuntimeError(f"{fold} volume {i}: current recipe gives {again}, recorded "
                                   f"{rec['organ_scale']}")
            checked.add(a.modality)
            row["current_rerun"] = again
        row["candidate"] = studies.engine_scores(*candidate, a, img, lab)
        rows.append(row)
        print(fold, json.dumps(row), flush=True)
    return rows


def decide() -> dict:
    folds = {f: json.loads(cache(f).read_text()) for f in sources.CASES}
    out: dict = {"seed": SEED, "per_modality": PER_MODALITY, "current": CURRENT, "candidate": CANDIDATE,
                 **studies.recipe_decision(folds, "current", "candidate", HIT)}
    out["val_dice_synthetic"] = {f"seg_{f}{t}": members.info(f, t)["best_val_dice_synthetic"]
                                 for f in sources.CASES for t in (*CURRENT, *CANDIDATE)}
    return studies.write_decision(HERE / "bright_negatives_study.json", {**out, "volumes": folds})


def cache(fold: str) -> Path:
    return members.folds_dir().parent / f"bright_negatives_{fold}_{SEED}.json"


def main() -> None:
    studies.recipe_study_main(__doc__, fold_rows, decide, cache)


if __name__ == "__main__":
    main()
