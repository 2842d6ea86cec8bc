"""2D slices or 3D patches? The same U-Net recipe both ways, measured on synthetic and real lesions.

The issue asks which is better. The slice-wise model is the shipped recipe's 2.5D member of seed 1234
(``train.py --context 1 --tag _ctx1``: each slice with one neighbour each side, the centre slice
labelled, batch 12). The 3D one (``train.py --dims 3 --context 2 --batch 4 --tag _3d``, same seed,
steps, widths, anatomy, lesions and augmentation) sees patches of 5 slices x 96 x 96 mm and labels all
five: ``nets.UNet3dAniso``, which pools in-plane only because the slices are 5-6.5 mm thick. Per step
it sees 20 labelled slices where the 2.5D model sees 12, at about 2.5 times the compute. Both run
through the MedLens engine with the plugin's own post-processing (organ, component rule: "peak" when
recorded, "mean" since the re-check); the 3D one as a 3D plugin (sliding windows of the training
patch, overlap 0.5) on the slice spacing it was trained on (the study's registry sets it per series: a
shipped 3D plugin would need the contract to keep a series' own slice spacing, as it does for 2D
models).

The rule, set before running: 3D patches are the better choice when the mean Dice on synthetic whole
volumes of each fold's own training anatomy (one lesion each, a seed no other study used; voxels of a
real lesion in that anatomy count neither way) is higher over the four folds and in at least three of
them. The real lesions (leave-one-case-out, single seed) are reported beside it, not used to decide.

    .venv/bin/python plugins/lesion_seg/dims_study.py [--per-modality 3] [--folds lung1 lung2 ...]

Writes ``dims_study.json`` (the folds run so far are merged); the card quotes it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medlens.training import members, sources, studies
from medlens.training.engine import registry_for

HERE = Path(__file__).resolve().parent
SEED = 4355  # not a training, validation or other study seed
TAGS = {"2.5d": "_ctx1", "3d": "_3d"}
PATCH = (5, 96, 96)  # z, y, x: the 3D members' training patch (--context 2 --crop 96)
OUT = HERE / "dims_study.json"


def variant(fold: str, name: str, z_mm: float) -> tuple[Path, int, dict[str, Any] | None]:
    """Weights, slice context and [input] fields of variant ``name`` of ``fold`` on ``z_mm`` slices."""
    norm = members.trained_fields(HERE, fold, (TAGS[name],))
    if name == "2.5d":
        return members.fold_onnx(fold, (TAGS[name],)), 1, norm
    fields = {"dims": 3, "spacing": [1.0, 1.0, z_mm], "spatial_shape": list(PATCH), **norm}
    return members.folds_dir() / f"seg_{fold}{TAGS[name]}.onnx", 0, fields


def synthetic(fold: str, per_modality: int) -> dict[str, list[float]]:
    scores: dict[str, list[float]] = {k: [] for k in TAGS}
    registries: dict[tuple[str, float], tuple[Any, str]] = {}
    for a, img, lab in studies.fold_volumes(fold, per_modality, SEED):
        for name in TAGS:
            key = (name, float(a.spacing[2]))
            if key not in registries:
                weights, context, fields = variant(fold, *key)
                registries[key] = registry_for(HERE, weights, suffix=f"dims-{name.replace('.', '')}-{fold}",
                                               slice_context=context, input_fields=fields)
            reg, pid = registries[key]
            scores[name].append(round(studies.engine_dice(reg, pid, a, img, lab), 4))
    return scores


def real(fold: str) -> dict[str, dict]:
    evaluate = studies.script_module(HERE / "evaluate.py")
    z_mm = float(sources.load_case(fold).spacing[2])
    out = {}
    for name in TAGS:
        weights, context, fields = variant(fold, name, z_mm)
        out[name] = evaluate.run_model(fold, weights, context=context, input_fields=fields)[0]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-modality", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--folds", nargs="+", default=list(sources.CASES), choices=list(sources.CASES))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    done = json.loads(OUT.read_text()) if OUT.is_file() else {}
    folds = done.get("folds", {})
    for fold in args.folds:
        syn = synthetic(fold, args.per_modality)
        folds[fold] = {"synthetic_dice": {k: round(float(np.mean(v)), 4) for k, v in syn.items()},
                       "synthetic_per_volume": syn, "real": real(fold),
                       "members": {k: members.info(fold, t) for k, t in TAGS.items()}}
        print(fold, json.dumps({k: folds[fold][k] for k in ("synthetic_dice", "real")}), flush=True)
    out: dict[str, Any] = {"seed": SEED, "per_modality": args.per_modality, "patch": PATCH, "tags": TAGS,
                           "folds": folds}
    if len(folds) == len(sources.CASES):
        mean = {k: round(float(np.mean([f["synthetic_dice"][k] for f in folds.values()])), 4) for k in TAGS}
        wins = sum(f["synthetic_dice"]["3d"] > f["synthetic_dice"]["2.5d"] for f in folds.values())
        real_mean = {k: round(float(np.mean([f["real"][k]["dice"] for f in folds.values()])), 4)
                     for k in TAGS}
        out |= {"synthetic_mean_dice": mean, "folds_where_3d_wins": wins, "real_mean_dice": real_mean,
                "better": "3d" if mean["3d"] > mean["2.5d"] and wins >= 3 else "2.5d"}
        print(json.dumps({k: out[k] for k in ("synthetic_mean_dice", "folds_where_3d_wins", "real_mean_dice",
                                              "better")}))
    OUT.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
