"""Which layer should GradCAM explain? Decided on SYNTHETIC volumes.

Up to version 0.5 GradCAM explained layer ``unet``: the two U-Nets' mean logit map, one channel. On a
one-channel layer GradCAM degenerates: its weight is one positive number, so the map is just
``ReLU(logit map)`` - the raw, unbounded evidence, and an empty map wherever every logit of the slice
is below zero (a weak detection). GradCAM was made for a convolutional layer with many channels,
whose weighted sum says which features the score used. The candidates are the members' decoder blocks
(``dec.2`` full resolution, 16 channels; ``dec.1`` half, 32; ``dec.0`` quarter, 64) and their
bottleneck (``bottom``, 1/8, 128): the classifier is the mean of two U-Nets, so the map of a candidate
is the sum of the two members' GradCAM maps at that block (each with its own gradient weights, which
come from the ensemble's score). For each fold's classifier network (``train.SliceScore`` on the
fold's U-Nets, with the organ channel as shipped) and every lesion slice of whole synthetic volumes of
the fold's own training anatomy (``studies.fold_volumes``, a seed no other study used), is the
maximum of the map - computed by the viewer's own ``grad_cam`` - inside the synthetic lesion?

The rule, set before running: the candidate with the best pooled pointing replaces ``unet`` when it
points better than ``unet`` pooled over the four folds and in at least three of them (a tie is not a
win).

    .venv/bin/python plugins/lesion_cls/gradcam_layer.py [--per-modality 6] [--threads 2]

Writes ``gradcam_layer.json``; the card quotes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from medlens.inference.saliency.gradcam import grad_cam
from medlens.inference.saliency.methods import Target, make_reduce
from medlens.training import studies

HERE = Path(__file__).resolve().parent
SEED = 4354  # not a training, validation or other study seed
CURRENT = "unet"
CANDIDATES = {CURRENT: ("",), "dec.2": (".dec.2",), "dec.1": (".dec.1",), "dec.0": (".dec.0",),
              "bottom": (".bottom",)}


def layers_of(name: str, n_members: int) -> list[str]:
    """The layer paths in ``train.SliceScore`` whose GradCAM maps are summed for candidate ``name``."""
    if name == CURRENT:
        return [CURRENT]
    (suffix,) = CANDIDATES[name]
    return [f"unet.members.{i}{suffix}" for i in range(n_members)]


def study(fold: str, per_modality: int, tags: tuple[str, ...]) -> dict:
    net = studies.fold_classifier(HERE, fold, tags)
    reduce = make_reduce(Target("classification", 0, "sigmoid"))
    hits: dict[str, list[bool]] = {k: [] for k in CANDIDATES}
    empty = dict.fromkeys(CANDIDATES, 0)
    for x, lesion in studies.lesion_slice_inputs(HERE, fold, per_modality, SEED, tags):
        for name in CANDIDATES:
            amap = grad_cam(net, layers_of(name, len(tags)), torch.from_numpy(x), reduce)[0][0].numpy()
            empty[name] += int(amap.max() <= 0)
            hits[name].append(bool(lesion.flat[int(np.argmax(amap))]))
    pointing = {k: round(float(np.mean(v)), 3) for k, v in hits.items()}
    return {"slices": len(hits[CURRENT]), "pointing": pointing, "empty_maps": empty, "_hits": hits}


def main() -> None:
    args = studies.study_args(__doc__, threads=2)
    r = studies.choose_over_folds(lambda case: study(case, args.per_modality, tuple(args.tags)), CURRENT,
                                  [k for k in CANDIDATES if k != CURRENT])
    out = {"seed": SEED, "per_modality": args.per_modality, "tags": args.tags, "folds": r["folds"],
           "pooled": r["pooled"], "best_candidate": r["best"],
           "folds_where_it_wins": r["folds_where_it_wins"], "adopt": r["adopt"]}
    studies.record_path(HERE, "gradcam_layer", args.tags).write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in ("pooled", "best_candidate", "folds_where_it_wins", "adopt")}))


if __name__ == "__main__":
    main()
