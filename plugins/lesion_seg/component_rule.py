"""Choose how the lesion U-Net's output is reduced to one lesion, on SYNTHETIC volumes only.

The network leaves several candidate regions per series; the plugin reports one. Which one —
the largest, or the most confident — is a post-processing choice, and choosing it on the four
real lesions would leak the test set into the product. So each fold model is run through the
MedLens engine on whole volumes of *its own training anatomy* with one synthetic lesion each
(``baseline.synthetic_volumes``, a seed the training never used), and every rule is scored there,
alone and grown by hysteresis (``options.grow_threshold``: the kept region joined by the connected
voxels above a lower probability).

    .venv/bin/python plugins/lesion_seg/component_rule.py [--tags _ctx1 _ctx1s2] [--per-modality 6]

Writes ``component_rule{tag}.json`` (per fold and rule: mean Dice, share of volumes where the chosen
component is the lesion); the card quotes it and ``plugin.toml`` carries the winner. With
``--tag _ctx1 --context 1`` the same study for one member per 2.5D fold: the leak-free comparison of 2D
and 2.5D on whole volumes (the crop-level validation Dice of training does not count false positives
elsewhere). ``--tags`` (the shipped recipe) studies each fold's mean of those members: it exports the
mean (``members.fold_onnx``) when a member changed and reads the slice context from their records.

``--seed S`` draws other volumes (``component_rule{tag}_{S}.json``) and adds a decision for a re-check,
its rule set before the first such run (2026-11-30): the shipped rule (``--current``) is replaced only
by a variant with a higher mean Dice over the four folds that is also higher in at least three folds.
The first study shipped its plain winner; a re-check of a shipped choice asks it to win consistently.

    .venv/bin/python plugins/lesion_seg/component_rule.py --tags _ctx1 _ctx1s2 --per-modality 18 \
        --seed 4474      # the re-check on 36 volumes per fold (the first used 12), 40 min
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from medlens.inference.postprocess import COMPONENT_RULES, grow_region, select_component
from medlens.inference.runner import ranking_scores
from medlens.training import lesion_data, members, sources, studies
from medlens.training.engine import registry_for
from medlens.training.metrics import dice
from medlens.viewer.model import Geometry, Volume, VolumeMeta

HERE = Path(__file__).resolve().parent
SEED = 4242  # not the training, validation or baseline-tuning seed
GROW = (0.3, 0.2, 0.1)  # hysteresis thresholds tried (options.grow_threshold); "peak>0.2" = peak, grown
VARIANTS = {**{r: (r, None) for r in COMPONENT_RULES},
            **{f"{r}>{g}": (r, g) for r in COMPONENT_RULES if r != "size" for g in GROW}}


def candidates(
    registry: object, plugin_id: str, anatomy: lesion_data.Anatomy, image: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Thresholded labels (every component) and the probability map on the working grid."""
    from medlens.inference import RunOptions, run_plugin

    vol = Volume(image.astype(np.float32), Geometry(anatomy.spacing, (0.0, 0.0, 0.0)),
                 VolumeMeta(modality=anatomy.modality))
    result = run_plugin(plugin_id, vol, RunOptions(keep_largest_component=False, use_cache=False),
                        registry=registry)  # type: ignore[arg-type]
    assert result.label_map is not None and result.heatmaps
    return np.asarray(result.label_map.array), np.asarray(result.heatmaps[0].array, np.float32)


def study(
    fold: str, per_modality: int, weights: Path | None = None, context: int | None = None, seed: int = SEED,
    tags: tuple[str, ...] = (),
) -> dict:
    """Every rule's Dice on synthetic whole volumes of ``fold``'s training anatomy (``weights``: the
    fold's, members ``tags``, run with the MR scale they trained with; None: the shipped model)."""
    if weights is not None and not tags:
        raise ValueError("fold weights need the members' tags: their MR scale decides the input")
    fields = members.trained_fields(HERE, fold, tags) if weights else None
    reg, pid = (registry_for(HERE, weights, suffix=f"rule-{fold}", slice_context=context, input_fields=fields)
                if weights else registry_for(HERE))
    ranked_context = reg.manifest(pid).input.slice_context  # as the engine ranks (2.5D end slices)
    vols = studies.fold_volumes(fold, per_modality, seed)
    scores: dict[str, list[float]] = {name: [] for name in VARIANTS}
    n_components = []
    for a, img, lab in vols:
        labels, prob = candidates(reg, pid, a, img)
        labels[a.ignore] = 0  # a real lesion in training anatomy is neither hit nor false positive
        n_components.append(int(ndimage.label(labels > 0, np.ones((3, 3, 3), bool))[1]))
        for name, (rule, grow) in VARIANTS.items():
            kept = select_component(labels, ranking_scores(prob, ranked_context), rule)
            if grow is not None:
                kept = grow_region(kept, prob, grow, 1)
            scores[name].append(dice(kept > 0, lab))
    return {
        "volumes": len(vols),
        "median_components": float(np.median(n_components)),
        "dice": {r: round(float(np.mean(v)), 4) for r, v in scores.items()},
        "hit_rate": {r: round(float(np.mean(np.asarray(v) > 0.1)), 3) for r, v in scores.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-modality", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tags", nargs="+", default=None,
                    help="members per fold (e.g. _ctx1 _ctx1s2): study each fold's mean of them")
    ap.add_argument("--tag", default="", help="one fold weights file per fold, seg_<case><tag>.onnx "
                    "(_ctx1: one 2.5D member; '': the 2D folds)")
    ap.add_argument("--context", type=int, default=None, help="slice_context of --tag's folds")
    ap.add_argument("--seed", type=int, default=SEED, help="the synthetic volumes' seed (see above)")
    ap.add_argument("--current", default="peak", help="the shipped rule a re-check (--seed) judges")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    folds = members.folds_dir()
    tags = tuple(args.tags) if args.tags else None
    tag = members.mean_tag(tags) if tags else args.tag
    out: dict = {"seed": args.seed, "per_modality": args.per_modality, "tag": tag, "folds": {}}
    for case in sources.CASES:
        if tags:
            weights, context = members.fold_onnx(case, tags), members.context_of(case, tags)
        else:
            weights, context = folds / f"seg_{case}{args.tag}.onnx", args.context
        out["folds"][case] = study(case, args.per_modality, weights, context, args.seed, tags or (args.tag,))
        print(case, out["folds"][case], flush=True)
    folds_out = out["folds"].values()
    mean = {r: round(float(np.mean([f["dice"][r] for f in folds_out])), 4) for r in VARIANTS}
    out["mean_dice"] = mean
    out["chosen"] = max(VARIANTS, key=lambda r: mean[r])
    out["per_fold_choice"] = {c: max(VARIANTS, key=lambda r: f["dice"][r]) for c, f in out["folds"].items()}
    name = f"component_rule{tag}.json"
    if args.seed != SEED:
        best, cur = out["chosen"], args.current
        wins = sum(f["dice"][best] > f["dice"][cur] for f in folds_out)
        out["recheck"] = {"current": cur, "best": best, "folds_where_best_wins": wins,
                          "ship": best if mean[best] > mean[cur] and wins >= 3 else cur}
        name = f"component_rule{tag}_{args.seed}.json"
        print(json.dumps(out["recheck"]))
    (HERE / name).write_text(json.dumps(out, indent=1))
    print(json.dumps({"mean_dice": mean, "chosen": out["chosen"], "per_fold": out["per_fold_choice"]}))


if __name__ == "__main__":
    main()
