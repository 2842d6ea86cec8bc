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

Round 3 (``--round 3``), set before round 2's candidates had finished training (2026-12-02, committed
with this text). Why: round 1's per-lesion-crop Dice raised the probability of every kind of lesion
*and* of lesion-free tissue, and a threshold is the engine's own knob for that trade (``threshold`` in
plugin.toml), so its candidates are compared with the current at the same false-alarm share rather
than at the same 0.5. **Test-informed motivation:** before this was written, round 1's members had been
run on brain2's real scan (``real_candidates_brain2_mean_k3l4pd.json``): the per-lesion-crop member
ranked the real tumour first, the first recipe to do so. The decision below uses synthetic crops only.
- Current at the engine's 0.5. Each loss candidate (``per_crop_dice``, ``crop_all``, ``mix``) at its
  matched threshold: the lowest on the grid 0.50, 0.51 ... 0.99, 0.991 ... 0.999 at which its
  false-alarm share on 400 *other* lesion-free MR crops (seed 7) is no higher than the current's at 0.5
  on the same crops (none: the candidate fails).
- At that threshold: found per kind on the seed-5 lesion crops, and the false-alarm share on the seed-6
  crops (as rounds 1-2).
- Go to the four-fold two-seed whole-volume study (each fold's threshold matched the same way on its
  own synthetic crops) by round 1's rule at those thresholds: faint MR found >= current + 10 points,
  all MR >= current - 5, all CT >= current - 5, seed-6 false alarms <= current + 5.

    .venv/bin/python plugins/lesion_seg/input_pilot.py --round 3     # ~15 min; input_pilot_round3.json

Round 3 went: no go for any. At the current's false alarms neither per-crop loss finds more faint
lesions (22 of 70 against 24); all MR and CT found rise. So faint lesions are no more separable from
lesion-free brain, whatever the input or loss: round 4 varies the anatomy instead.

Round 4 (``--round 4``), set before its candidate started training (2026-12-02, committed with this
text): ``anatomy_aug``, the shipped recipe with every augmented training crop also warped by a smooth
random displacement (up to 4 px) and, on MR, shaded by a smooth bias field (SD up to 10 %)
(``lesion_data.vary_anatomy``; ``train.py --anatomy-aug``, tag ``_k3l4ea``). Each fold sees three real
brains; varying their normal folds and intensities may stop the network from taking faint lesions for
normal tissue it has learnt by heart. Compared as round 3 (at the threshold matching the current's
false alarms on the seed-7 crops) by the same rule.

    .venv/bin/python plugins/lesion_seg/train.py --fold brain2 --context 1 --tag _k3l4ea --mr-scale 3 \\
        --steps 4000 --anatomy-aug                           # ~35 min
    .venv/bin/python plugins/lesion_seg/input_pilot.py --round 4     # ~8 min; input_pilot_round4.json

Round 4 went: no go (faint 15 of 70 against 24 at matched false alarms).

Round 5 (``--round 5``), set as its candidate started training (2026-12-02, committed with this text):
``mirror``, the shipped recipe with one more input channel, the centre slice reflected about the volume's
own mid-sagittal plane (``symmetry.find_plane``, ``lesion_data.mirror_plane_coords``; ``train.py
--mirror``, tag ``_k3l4sym``). Why: rounds 1-4 changed what the network sees of one side of the head and
none separated faint lesions from normal tissue. A reader asks another question, whether the other side
looks the same there; a faint tumour is asymmetric even where its contrast matches normal structures.
The synthetic lesion is in the slice before it is reflected, so a lesion near the plane also shows in
the mirror channel, as a real one would. Compared as rounds 3-4 (at the threshold matching the
current's false alarms on the seed-7 crops) by the same rule; the crops are the same (the channel draws
no random numbers). Brain2's real scan is not run: the engine has no mirror input, and a go would first
build it for the four-fold whole-volume study.

    .venv/bin/python plugins/lesion_seg/train.py --fold brain2 --context 1 --tag _k3l4sym --mr-scale 3 \\
        --steps 4000 --mirror --threads 2                     # ~30 min alone
    .venv/bin/python plugins/lesion_seg/input_pilot.py --round 5     # ~4 min; input_pilot_round5.json

Round 5 went: no go. At matched false alarms (threshold 0.61) the mirror member finds fewer faint lesions
(18 of 70 against 24) and fewer of every MR kind; CT 0.75 -> 0.67. ``mirror_signal.py``, run before the
result, had given the channel little to add even with the true outline (AUC 0.888 -> 0.898).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from medlens.training import studies

HERE = Path(__file__).resolve().parent
CURRENT = "current"
RECIPES = {CURRENT: ("_k3l4",), "contrast": ("_k3l4c15",), "per_crop_dice": ("_k3l4pd",)}
ROUND2 = {CURRENT: ("_k3l4",), "crop_all": ("_k3l4pda",), "mix": ("_k3l4pdm",)}
ROUND3 = {CURRENT: ("_k3l4",), "per_crop_dice": ("_k3l4pd",), "crop_all": ("_k3l4pda",), "mix": ("_k3l4pdm",)}
ROUND4 = {CURRENT: ("_k3l4",), "anatomy_aug": ("_k3l4ea",)}
ROUND5 = {CURRENT: ("_k3l4",), "mirror": ("_k3l4sym",)}
CAL_SEED = 7
THRESHOLDS = tuple(round(0.5 + 0.01 * i, 3) for i in range(50)) + tuple(round(0.991 + 0.001 * i, 3)
                                                                       for i in range(9))
CROPS = 400
GAIN_FAINT, MAX_LOSS_ALL, MAX_LOSS_CT, MAX_FP_RISE = 0.10, 0.05, 0.05, 0.05
BRAIN2_BIN = "0.1-0.25"


def bin_found(rows: dict[str, dict], kinds: tuple[str, ...], cbin: str) -> list[int]:
    """[found, crops] of ``kinds`` in contrast bin ``cbin``."""
    got = [rows[k]["by_contrast"].get(cbin, {"found": 0, "crops": 0}) for k in kinds if k in rows]
    return [sum(g["found"] for g in got), sum(g["crops"] for g in got)]


def matched_threshold(prob: np.ndarray, counted: np.ndarray, target: float,
                      alarm_share: Callable[..., float]) -> float | None:
    """The lowest of ``THRESHOLDS`` at which the false-alarm share of ``prob`` is <= ``target``."""
    return next((t for t in THRESHOLDS if alarm_share(prob, counted, t) <= target), None)


def goes(cur: dict, cand: dict) -> bool:
    """The protocol's rule: faint gain, and the guards on all MR, all CT and false alarms."""
    return bool(cand["faint_found"] >= cur["faint_found"] + GAIN_FAINT
                and cand["all_found"] >= cur["all_found"] - MAX_LOSS_ALL
                and cand["ct_found"] >= cur["ct_found"] - MAX_LOSS_CT
                and cand["false_alarm_share"] <= cur["false_alarm_share"] + MAX_FP_RISE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--round", type=int, default=1, choices=[1, 2, 3, 4, 5])
    args = ap.parse_args()
    recipes = {1: RECIPES, 2: ROUND2, 3: ROUND3, 4: ROUND4, 5: ROUND5}[args.round]
    matched = args.round >= 3  # candidates at the threshold matching the current's false alarms
    torch.set_num_threads(1)
    faint = studies.script_module(HERE / "faint_pilot.py")
    crop_kinds = studies.script_module(HERE / "crop_kinds.py")
    fold = faint.FOLD
    out: dict = {"fold": fold, "crops": CROPS, "recipes": {k: list(v) for k, v in recipes.items()},
                 "rows": {}}
    anatomy = studies.fold_anatomy(fold)  # prepared once for every recipe
    target = None
    for name, tags in recipes.items():
        threshold: float | None = 0.5
        if matched:  # the current first: its share at 0.5 on the calibration crops is the target
            cal = faint.lesion_free_probs(tags, CROPS, anatomy, CAL_SEED)
            if name == CURRENT:
                target = faint.alarm_share(*cal)
            else:
                threshold = matched_threshold(*cal, target, faint.alarm_share)
            if threshold is None:
                out["rows"][name] = {"threshold": None, "calibration_alarm_target": target}
                print(name, "no threshold matches", flush=True)
                continue
        kinds = crop_kinds.kind_rows(fold, tags, CROPS, anatomy, threshold)
        mr = kinds["MR"]
        row = {"threshold": threshold, "MR": mr, "CT": kinds["CT"], **faint.summary(kinds),
               "ct_found": faint.found_share(kinds["CT"]),
               "false_alarm_share": faint.alarm_share(*faint.lesion_free_probs(tags, CROPS, anatomy),
                                                      threshold),
               "hypointense_found": round(mr["hypointense"]["found"] / mr["hypointense"]["crops"], 4),
               "faint_enhancing_10_25": bin_found(mr, ("faint", "enhancing"), BRAIN2_BIN)}
        if matched:
            row["calibration_alarm_target"] = target
        out["rows"][name] = row
        print(name, json.dumps({k: v for k, v in row.items() if k not in ("MR", "CT")}), flush=True)
    recorded = json.loads((HERE / "faint_pilot.json").read_text())["rows"][CURRENT]
    cur = out["rows"][CURRENT]
    out["current_reproduces_faint_pilot"] = all(
        cur["MR"][k][f] == recorded["MR"][k][f] for k in recorded["MR"] for f in ("crops", "found", "dice")
    ) and cur["false_alarm_share"] == recorded["false_alarm_share"]
    out["go"] = {name: bool(row["threshold"] is not None and goes(cur, row))
                 for name, row in out["rows"].items() if name != CURRENT}
    name = "input_pilot.json" if args.round == 1 else f"input_pilot_round{args.round}.json"
    (HERE / name).write_text(json.dumps(out, indent=1))
    print("reproduces faint_pilot:", out["current_reproduces_faint_pilot"], "go:", out["go"])


if __name__ == "__main__":
    main()
