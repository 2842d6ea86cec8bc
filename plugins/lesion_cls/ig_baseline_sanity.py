"""Do Integrated Gradients' maps from each baseline pass the viewer's sanity check? Decided on SYNTHETIC
volumes; amends ``ig_baseline.py``'s rule, which looked at pointing alone.

Why the amendment: ig_baseline.py's rule picked a blur of 8 px on 0.6's members (pointing 0.27 vs
black 0.18). Set in the viewer, that map pointed at the sample CT's nodule on 3 of 3 slices (black:
1 of 3) but failed the viewer's randomisation check on 2 of them (rank similarity to the randomised
model 0.64 and 0.68 inside the lung, limit 0.5; black 0.24-0.29, blur 4 px 0.38-0.46). Integrated
Gradients from a blur weights the gradient by ``x - blur(x)``, a high-pass copy of the image, so the map
can show edges whatever the weights hold - the failure Adebayo et al. (2018) report for gradient x
input. A baseline whose maps the viewer itself flags as "may show image structure" cannot be the
default. (The sample is the real case lung1 and the map came from the shipped model, which trained on
it: the amendment was prompted by a real case; its rule and limit below were set before this study ran.)

The rule, set before running: for every fold's classifier (the fold's traced twin, as the engine runs
it in the leave-one-case-out evaluation) and every lesion slice of ig_baseline.py's synthetic volumes
(same seed and count), run the viewer's check on each baseline's map: full weight randomisation (seed
0), maps compared inside the organ, deletion of the most salient pixels to the darkest value against
random orders (``sanity.judge``). A baseline is eligible when its maps pass on at least 90 % of the
slices pooled over the four folds. Black is the default; an eligible blur replaces it by ig_baseline.py's
rule on this run's pointing (the best eligible blur pooled, when it points better pooled and in at least
three folds).

    .venv/bin/python plugins/lesion_cls/ig_baseline_sanity.py [--per-modality 3] [--threads 2]

Writes ``ig_baseline_sanity.json`` (``*_mean_<tags>.json`` for members other than the seeds').
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from medlens.inference.saliency import sanity
from medlens.inference.saliency.methods import Target, attribute, make_reduce
from medlens.training import members, sources, studies

HERE = Path(__file__).resolve().parent
MIN_PASS = 0.90
ig = studies.script_module(HERE / "ig_baseline.py")


def fold_twin(fold: str, tags: tuple[str, ...]) -> torch.jit.ScriptModule:
    """The fold classifier's traced twin (``train.py --fold``), refusing one built on other members."""
    members.classifier_record(fold, tags)  # raises when stale
    return torch.jit.load(str(members.classifier_stem(fold, tags).with_suffix(".pt"))).eval()


def study(fold: str, per_modality: int, tags: tuple[str, ...]) -> dict:
    net = fold_twin(fold, tags)
    rnd = sanity.randomized_copy(net, seed=0)
    target = Target("classification", 0, "sigmoid")
    reduce, prob = make_reduce(target), make_reduce(target, probability=True)

    def score(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return prob(net(torch.from_numpy(batch))).numpy()

    hits: dict[str, list[bool]] = {k: [] for k in ig.BASELINES}
    passes: dict[str, list[bool]] = {k: [] for k in ig.BASELINES}
    sims: dict[str, list[float]] = {k: [] for k in ig.BASELINES}
    for x, lesion in studies.lesion_slice_inputs(HERE, fold, per_modality, ig.SEED, tags):
        image = x.shape[1] - 1
        darkest = float(x[:, :image].min())
        organ = sanity.bounding_organ(x[0, -1] > 0.5)
        t = torch.from_numpy(x)
        for name, sigma in ig.BASELINES.items():
            base = ig.baseline_of(x, sigma, image)
            kw = {"baseline": base, "fixed_channels": 1}
            amap = attribute("integrated_gradients", t, net, reduce, module=net, **kw)
            rmap = attribute("integrated_gradients", t, rnd, reduce, module=rnd, **kw)
            sim, _ = sanity.randomisation_similarities(amap, rmap, organ)
            auc, random_auc = sanity.deletion_aucs(x, amap, score, baseline=darkest, normalise=False, seed=0,
                                                   fixed_channels=1)
            hits[name].append(bool(lesion.flat[int(np.argmax(amap))]))
            passes[name].append(sanity.judge(sim, auc, random_auc)[0])
            sims[name].append(sim)
    return {
        "slices": len(hits["black"]),
        "pointing": {k: round(float(np.mean(v)), 3) for k, v in hits.items()},
        "sanity_pass": {k: round(float(np.mean(v)), 3) for k, v in passes.items()},
        "median_rank_similarity": {k: round(float(np.median(v)), 3) for k, v in sims.items()},
        "_hits": hits, "_passes": passes,
    }


def decide(folds: dict[str, dict], hits: dict[str, list[bool]], passes: dict[str, list[bool]]) -> dict:
    """The rule of the module docstring on the pooled hits and passes and the per-fold pointing."""
    pointing = {k: round(float(np.mean(v)), 3) for k, v in hits.items()}
    passing = {k: round(float(np.mean(v)), 3) for k, v in passes.items()}
    eligible = [k for k in ig.BASELINES if k != "black" and passing[k] >= MIN_PASS]
    rule = studies.adoption(folds, pointing, "black", eligible)
    return {"pooled_pointing": pointing, "pooled_sanity_pass": passing, "eligible_blurs": eligible,
            "best_eligible_blur": rule["best"], "folds_where_it_wins": rule["folds_where_it_wins"],
            "adopt": rule["adopt"]}


def main() -> None:
    args = studies.study_args(__doc__, threads=2)
    tags = tuple(args.tags)
    folds: dict[str, dict] = {}
    hits: dict[str, list[bool]] = {}
    passes: dict[str, list[bool]] = {}
    for case in sources.CASES:
        r = study(case, args.per_modality, tags)
        for k, v in r.pop("_hits").items():
            hits.setdefault(k, []).extend(v)
        for k, v in r.pop("_passes").items():
            passes.setdefault(k, []).extend(v)
        folds[case] = r
        print(case, json.dumps(r), flush=True)
    out = {"seed": ig.SEED, "per_modality": args.per_modality, "tags": args.tags, "min_pass": MIN_PASS,
           "folds": folds, **decide(folds, hits, passes)}
    studies.record_path(HERE, "ig_baseline_sanity", args.tags).write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k != "folds"}))


if __name__ == "__main__":
    main()
