"""Pilot: does stating local contrast, or weighing every lesion crop alike, teach the U-Net faint MR lesions?

Why: brain2's real tumour is faint (contrast +0.11 against the tissue around it, ``crop_kinds.py``) and
the brain2 fold's members find faint synthetic lesions of 10-25 % contrast on none of 9 crops, while
enhancing lesions of the same contrast are found; they have learnt "MR lesion = brighter than the
brain". More faint lesions in training made them more cautious everywhere (``faint_pilot.py``: no go).
Two changes of a different kind, each alone against the shipped recipe:

- ``contrast``: a local-contrast stem (``nets.LocalContrast``, 15 px window): each input channel goes in
  beside ``(x - m) / (m + 0.02)``, ``m`` its 15 x 15 mm neighbourhood mean. Weight-free, inside the
  network, so the plugin contract does not change. ``train.py --contrast-px 15``, tag ``_k3l4c15``.
- ``per_crop_dice``: the Dice term per lesion crop, averaged over the crops that hold a lesion, instead
  of one Dice over the batch, where large easy lesions dominate the overlap (brain2's tumour is small).
  ``train.py --dice crop`` (then spelt ``--per-crop-dice``), tag ``_k3l4pd``.

Protocol, set before either candidate finished training (2026-12-02, committed with this script):
- Current: ``seg_brain2_k3l4`` (the shipped recipe, seed 1234, 4 000 steps). Candidates: the same recipe,
  seed and steps with the one change. Single members of the brain2 fold (trained without brain2; brain2
  is not looked at for the decision).
- Measure, as ``faint_pilot.py`` (the same crops, seeds 5 and 6): 400 MR and 400 CT lesion crops of the
  fold's own training anatomy, found per kind (``crop_kinds.kind_rows``), and the false-alarm share on
  400 lesion-free MR crops. The current row must reproduce ``faint_pilot.json``'s.
- A candidate goes on to the four-fold two-seed study if it finds at least 10 percentage points more of
  the faint MR lesions, loses no more than 5 points on all MR lesions found and no more than 5 on all CT
  lesions found, and raises the MR false-alarm share by no more than 5 points. Otherwise it is recorded
  as tried and the study is not run. Reported beside it, not deciding: the hypo-intense share and the
  faint and enhancing lesions of 10-25 % contrast (brain2's bin).

    .venv/bin/python plugins/lesion_seg/train.py --fold brain2 --context 1 --tag _k3l4c15 --mr-scale 3 \\
        --steps 4000 --contrast-px 15                         # ~35 min, two at once on two cores
    .venv/bin/python plugins/lesion_seg/train.py --fold brain2 --context 1 --tag _k3l4pd --mr-scale 3 \\
        --steps 4000 --dice crop
    .venv/bin/python plugins/lesion_seg/input_pilot.py        # ~12 min

Writes ``input_pilot.json``. Round 1 went: neither goes. The stem found fewer faint lesions (0.34 -> 0.13).
The per-lesion-crop Dice found more of every kind (faint 0.34 -> 0.47, all MR 0.51 -> 0.69, CT 0.75 ->
0.93, hypo-intense 0.09 -> 0.31) but raised the false alarms from 0.24 to 0.65: nothing but the BCE term
charges a lesion-free crop for what it predicts there.

Round 2 (``--round 2``), set on that result before either of its candidates finished training
(2026-12-02, committed with this text): the same current, crops and rule, and two ways of charging the
lesion-free crops while keeping each lesion's weight:
- ``crop_all``: every crop's own Dice, lesion-free crops included (one predicted pixel costs ~0.5 there,
  ten ~0.9). ``train.py --dice crop_all``, tag ``_k3l4pda``.
- ``mix``: the mean of the batch Dice and the per-lesion-crop Dice. ``--dice mix``, tag ``_k3l4pdm``.

    .venv/bin/python plugins/lesion_seg/train.py --fold brain2 --context 1 --tag _k3l4pda --mr-scale 3 \\
        --steps 4000 --dice crop_all                        # and --tag _k3l4pdm --dice mix, at once
    .venv/bin/python plugins/lesion_seg/input_pilot.py --round 2     # ~8 min; input_pilot_round2.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from medlens.training import studies

HERE = Path(__file__).resolve().parent
CURRENT = "current"
RECIPES = {CURRENT: ("_k3l4",), "contrast": ("_k3l4c15",), "per_crop_dice": ("_k3l4pd",)}
ROUND2 = {CURRENT: ("_k3l4",), "crop_all": ("_k3l4pda",), "mix": ("_k3l4pdm",)}
CROPS = 400
GAIN_FAINT, MAX_LOSS_ALL, MAX_LOSS_CT, MAX_FP_RISE = 0.10, 0.05, 0.05, 0.05
BRAIN2_BIN = "0.1-0.25"


def found_share(rows: dict[str, dict]) -> float:
    """Lesions found of crops over every kind of one modality's ``kind_rows``."""
    return round(sum(r["found"] for r in rows.values()) / sum(r["crops"] for r in rows.values()), 4)


def bin_found(rows: dict[str, dict], kinds: tuple[str, ...], cbin: str) -> list[int]:
    """[found, crops] of ``kinds`` in contrast bin ``cbin``."""
    got = [rows[k]["by_contrast"].get(cbin, {"found": 0, "crops": 0}) for k in kinds if k in rows]
    return [sum(g["found"] for g in got), sum(g["crops"] for g in got)]


def goes(cur: dict, cand: dict) -> bool:
    """The protocol's rule: faint gain, and the guards on all MR, all CT and false alarms."""
    return bool(cand["faint_found"] >= cur["faint_found"] + GAIN_FAINT
                and cand["all_found"] >= cur["all_found"] - MAX_LOSS_ALL
                and cand["ct_found"] >= cur["ct_found"] - MAX_LOSS_CT
                and cand["false_alarm_share"] <= cur["false_alarm_share"] + MAX_FP_RISE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--round", type=int, default=1, choices=[1, 2])
    args = ap.parse_args()
    recipes = RECIPES if args.round == 1 else ROUND2
    torch.set_num_threads(1)
    faint = studies.script_module(HERE / "faint_pilot.py")
    crop_kinds = studies.script_module(HERE / "crop_kinds.py")
    fold = faint.FOLD
    out: dict = {"fold": fold, "crops": CROPS, "recipes": {k: list(v) for k, v in recipes.items()},
                 "rows": {}}
    anatomy = studies.fold_anatomy(fold)  # prepared once for every recipe
    for name, tags in recipes.items():
        kinds = crop_kinds.kind_rows(fold, tags, CROPS, anatomy)
        mr = kinds["MR"]
        row = {"MR": mr, "CT": kinds["CT"], **faint.summary(kinds), "ct_found": found_share(kinds["CT"]),
               "false_alarm_share": faint.false_alarm_share(tags, CROPS, anatomy),
               "hypointense_found": round(mr["hypointense"]["found"] / mr["hypointense"]["crops"], 4),
               "faint_enhancing_10_25": bin_found(mr, ("faint", "enhancing"), BRAIN2_BIN)}
        out["rows"][name] = row
        print(name, json.dumps({k: v for k, v in row.items() if k not in ("MR", "CT")}), flush=True)
    recorded = json.loads((HERE / "faint_pilot.json").read_text())["rows"][CURRENT]
    cur = out["rows"][CURRENT]
    out["current_reproduces_faint_pilot"] = all(
        cur["MR"][k][f] == recorded["MR"][k][f] for k in recorded["MR"] for f in ("crops", "found", "dice")
    ) and cur["false_alarm_share"] == recorded["false_alarm_share"]
    out["go"] = {name: goes(cur, row) for name, row in out["rows"].items() if name != CURRENT}
    name = "input_pilot.json" if args.round == 1 else f"input_pilot_round{args.round}.json"
    (HERE / name).write_text(json.dumps(out, indent=1))
    print("reproduces faint_pilot:", out["current_reproduces_faint_pilot"], "go:", out["go"])


if __name__ == "__main__":
    main()
