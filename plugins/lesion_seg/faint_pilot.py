"""Pilot: do more faint MR lesions in training teach the U-Net to find faint ones? (brain2 fold, one seed)

Why: the binding constraint on the segmentation goal is brain2's small, faintly enhancing tumour (median
1.06 x the brain). ``crop_kinds.py`` showed the fold's members blind to faint synthetic lesions on crops of
their own training anatomy (6 of 21 found, 2 000 or 4 000 steps alike), while more steps found more
enhancing and ring lesions. The generator draws 20 % of MR lesions faint; ``train.py --mr-faint-share
0.4`` doubles that (the other kinds keep their ratios: enhancing 0.225, ring and hypo-intense 0.1875 each).
A four-fold, two-seed study costs ~4 CPU-hours, so this pilot decides only whether to run it.

Protocol, set before the candidate member finished training (2026-12-01, committed with this script):
- Current: ``seg_brain2_k3l4`` (the shipped recipe, seed 1234). Candidate: ``seg_brain2_k3f4``, the same
  recipe, seed and steps with ``--mr-faint-share 0.4``. Both single members of the brain2 fold (trained
  without brain2; brain2 itself is not looked at here).
- Measure (``crop_kinds.kind_rows``, seed 5, never a training or validation seed): 400 MR lesion crops of
  the fold's own training anatomy, per kind found (highest probability inside > 0.5) and crop Dice; and
  400 lesion-free MR crops (the training sampler's lesion-free mix: anywhere in the head or on the brain's
  border band; no augmentation, seed 6):
  the share with 10 or more pixels above 0.5 (outside any real lesion), the false-alarm guard.
- Go for the four-fold two-seed study if the candidate finds at least 10 percentage points more of the
  faint lesions, loses no more than 5 points on all MR lesions found, and raises the false-alarm share
  by no more than 5 points. Otherwise the knob is recorded as tried and the study is not run.

    .venv/bin/python plugins/lesion_seg/train.py --fold brain2 --context 1 --tag _k3f4 --mr-scale 3 \\
        --steps 4000 --mr-faint-share 0.4        # ~27 min alone
    .venv/bin/python plugins/lesion_seg/faint_pilot.py   # ~8 min

Writes ``faint_pilot.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from medlens.training import lesion_data, members, studies

HERE = Path(__file__).resolve().parent
FOLD = "brain2"
RECIPES = {"current": ("_k3l4",), "candidate": ("_k3f4",)}
CROPS = 400
FP_SEED = 6
FP_MIN_PX = 10
GAIN_FAINT, MAX_LOSS_ALL, MAX_FP_RISE = 0.10, 0.05, 0.05


def lesion_free_probs(tags: tuple[str, ...], crops: int, anatomy: list[lesion_data.Anatomy],
                      seed: int = FP_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The fold model's (mean of ``tags``) probabilities on ``crops`` lesion-free MR crops of its training
    ``anatomy`` (the training sampler's lesion-free mix, no augmentation, ``seed``), and where they count
    (outside any real lesion): (N, H, W) each."""
    model = members.mean_unet((FOLD,), tags)
    model.eval()
    anat = [a for a in anatomy if a.modality == "MR"]
    sampler = members.crop_sampler(FOLD, tags, anat, seed, p_lesion=0.0)
    got = [sampler.sample() for _ in range(crops)]
    with torch.no_grad():
        prob = torch.sigmoid(model(torch.from_numpy(np.stack([c.image for c in got])))).numpy()[:, 0]
    return prob, np.stack([c.weight > 0 for c in got])


def alarm_share(prob: np.ndarray, counted: np.ndarray, threshold: float = 0.5) -> float:
    """The share of crops with >= ``FP_MIN_PX`` counted pixels above ``threshold``."""
    return round(float((((prob > threshold) & counted).sum(axis=(1, 2)) >= FP_MIN_PX).mean()), 4)


def false_alarm_share(tags: tuple[str, ...], crops: int, anatomy: list[lesion_data.Anatomy]) -> float:
    """The share of lesion-free MR crops of the fold's training ``anatomy`` with >= ``FP_MIN_PX`` pixels
    above 0.5 outside any real lesion."""
    return alarm_share(*lesion_free_probs(tags, crops, anatomy))


def found_share(rows: dict[str, dict]) -> float:
    """Lesions found of crops over every kind of one modality's ``crop_kinds.kind_rows``."""
    return round(sum(r["found"] for r in rows.values()) / sum(r["crops"] for r in rows.values()), 4)


def summary(kinds: dict) -> dict:
    mr = kinds["MR"]
    return {"faint_found": round(mr["faint"]["found"] / mr["faint"]["crops"], 4),
            "all_found": found_share(mr)}


def main() -> None:
    torch.set_num_threads(1)
    crop_kinds = studies.script_module(HERE / "crop_kinds.py")
    out: dict = {"fold": FOLD, "crops": CROPS, "recipes": {k: list(v) for k, v in RECIPES.items()},
                 "rows": {}}
    anatomy = studies.fold_anatomy(FOLD)  # prepared once for both recipes
    for name, tags in RECIPES.items():
        kinds = crop_kinds.kind_rows(FOLD, tags, CROPS, anatomy)
        alarms = false_alarm_share(tags, CROPS, anatomy)
        row = {"MR": kinds["MR"], **summary(kinds), "false_alarm_share": alarms}
        out["rows"][name] = row
        print(name, json.dumps({k: v for k, v in row.items() if k != "MR"}), flush=True)
    cur, cand = out["rows"]["current"], out["rows"]["candidate"]
    out["go"] = bool(cand["faint_found"] >= cur["faint_found"] + GAIN_FAINT
                     and cand["all_found"] >= cur["all_found"] - MAX_LOSS_ALL
                     and cand["false_alarm_share"] <= cur["false_alarm_share"] + MAX_FP_RISE)
    (HERE / "faint_pilot.json").write_text(json.dumps(out, indent=1))
    print("go:", out["go"])


if __name__ == "__main__":
    main()
