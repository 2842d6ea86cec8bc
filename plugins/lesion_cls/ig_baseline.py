"""Which Integrated Gradients baseline points at the lesion? Decided on SYNTHETIC volumes.

The viewer's Integrated Gradients integrates from a black image (the darkest normalised value, air).
From black, every bright, high-contrast structure the network looks at earns credit - on the real CT
lesions the maximum sat on the chest wall or on vessels far more often than in the lesion. A blurred
copy of the slice is the usual alternative: only what the blur removes (structure smaller than the
blur, such as a nodule) is integrated over. Which one the viewer should use is decided here without the
real test cases: for each fold's classifier network (``train.SliceScore`` on the fold's U-Nets, with the
organ channel as shipped) and every lesion slice of whole synthetic volumes of the fold's own training
anatomy (``studies.fold_volumes``, a seed no other study used), is the maximum of the signed map
(summed over the input slices, as the viewer shows it) inside the synthetic lesion?

The rule, set before running: a blurred baseline replaces black when it points better pooled over the
four folds and in at least three of them; between the two blur widths, the better pooled one.

    .venv/bin/python plugins/lesion_cls/ig_baseline.py [--per-modality 3] [--threads 2]

Writes ``ig_baseline.json``; the card quotes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medlens.inference.saliency.methods import Target, attribute, blurred_copy, make_reduce
from medlens.training import studies

HERE = Path(__file__).resolve().parent
SEED = 4353  # not a training, validation or other study seed
BASELINES = {"black": None, "blur4": 4.0, "blur8": 8.0}  # Gaussian sigma in pixels (1 mm grid)


def baseline_of(x: np.ndarray, sigma: float | None, image_channels: int) -> Any:
    """The baseline input for ``x`` (1, C, H, W): black (the darkest value, a scalar) or each image
    channel blurred in-plane by ``sigma`` pixels (the organ channel is held by ``attribute``)."""
    if sigma is None:
        return float(x[:, :image_channels].min())
    return torch.from_numpy(blurred_copy(x, sigma, image_channels))  # the viewer's own blur


def study(fold: str, per_modality: int, tags: tuple[str, ...]) -> dict:
    net = studies.fold_classifier(HERE, fold, tags)
    reduce = make_reduce(Target("classification", 0, "sigmoid"))
    hits: dict[str, list[bool]] = {k: [] for k in BASELINES}
    for x, lesion in studies.lesion_slice_inputs(HERE, fold, per_modality, SEED, tags):
        for name, sigma in BASELINES.items():
            amap = attribute("integrated_gradients", torch.from_numpy(x), net, reduce, module=net,
                             baseline=baseline_of(x, sigma, x.shape[1] - 1), fixed_channels=1)
            hits[name].append(bool(lesion.flat[int(np.argmax(amap))]))
    pointing = {k: round(float(np.mean(v)), 3) for k, v in hits.items()}
    return {"slices": len(hits["black"]), "pointing": pointing, "_hits": hits}


def main() -> None:
    args = studies.study_args(__doc__, threads=2)
    r = studies.choose_over_folds(lambda case: study(case, args.per_modality, tuple(args.tags)), "black",
                                  ("blur4", "blur8"))
    out = {"seed": SEED, "per_modality": args.per_modality, "tags": args.tags, "folds": r["folds"],
           "pooled": r["pooled"], "best_blur": r["best"], "folds_where_it_wins": r["folds_where_it_wins"],
           "adopt": r["adopt"]}
    studies.record_path(HERE, "ig_baseline", args.tags).write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in ("pooled", "best_blur", "folds_where_it_wins", "adopt")}))


if __name__ == "__main__":
    main()
