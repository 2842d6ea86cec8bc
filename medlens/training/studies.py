"""What the synthetic-volume studies share: their command line, their volumes and their rule.

Why: post-processing, slice-head, saliency and training-recipe choices (``component_rule.py``,
``end_slices.py``, ``organ_bound.py``, ``tta_study.py``, ``dims_study.py``, ``recipe_study.py``,
``organ_scale_study.py``, ``bright_negatives_study.py``,
``ig_baseline.py``, ``gradcam_layer.py``) are decided on synthetic whole volumes built from each
fold's *own training anatomy*, never on the real test cases. Building those volumes and reading the
options the same way in every study keeps the protocol one protocol.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from scipy import ndimage

from medlens.training import baseline, lesion_data, members, sources


def fold_anatomy(fold: str) -> list[lesion_data.Anatomy]:
    """Every anatomy volume the fold trained on (all but the fold's test case)."""
    names = (*lesion_data.ANATOMY_CT, *lesion_data.ANATOMY_MR)
    return [lesion_data.prepare(n) for n in names if n != fold]


def fold_volumes(
    fold: str, per_modality: int, seed: int
) -> list[tuple[lesion_data.Anatomy, np.ndarray, np.ndarray]]:
    """``per_modality`` CT then MR whole volumes of ``fold``'s training anatomy, one synthetic lesion
    each: (anatomy, image, lesion mask)."""
    anat = fold_anatomy(fold)
    return [v for m in ("CT", "MR") for v in baseline.synthetic_volumes(anat, m, per_modality, seed)]


def _engine_output(
    registry: Any, plugin_id: str, anatomy: lesion_data.Anatomy, image: np.ndarray, options: Any,
    clear_real: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The label map (bool; with ``clear_real`` a real lesion's voxels cleared) and the first heat map
    (None without one) the engine returns for plugin ``plugin_id`` on a synthetic volume of
    ``anatomy``."""
    from medlens.inference import RunOptions, run_plugin
    from medlens.viewer.model import Geometry, Volume, VolumeMeta

    vol = Volume(image.astype(np.float32), Geometry(anatomy.spacing, (0.0, 0.0, 0.0)),
                 VolumeMeta(modality=anatomy.modality))
    result = run_plugin(plugin_id, vol, options or RunOptions(use_cache=False), registry=registry)
    assert result.label_map is not None
    found = np.asarray(result.label_map.array) > 0
    if clear_real:
        found[anatomy.ignore] = False
    return found, np.asarray(result.heatmaps[0].array) if result.heatmaps else None


def engine_dice(
    registry: Any, plugin_id: str, anatomy: lesion_data.Anatomy, image: np.ndarray, lesion: np.ndarray,
    options: Any = None,
) -> float:
    """Dice of the label map the MedLens engine returns for plugin ``plugin_id`` on a synthetic volume
    (``fold_volumes``), with the plugin's own post-processing; voxels of a real lesion in that anatomy
    (``anatomy.ignore``) count neither as hit nor as false positive. ``options``: ``RunOptions``, by
    default without the result cache (every study volume is new)."""
    from medlens.training.metrics import dice

    return dice(_engine_output(registry, plugin_id, anatomy, image, options)[0], lesion)


def engine_scores(
    registry: Any, plugin_id: str, anatomy: lesion_data.Anatomy, image: np.ndarray, lesion: np.ndarray,
    options: Any = None,
) -> dict[str, float]:
    """``engine_dice`` (rounded to 4 places) and the highest probability inside the lesion (3 places):
    a recipe study's row per volume and recipe (``recipe_decision``)."""
    from medlens.training.metrics import dice

    found, prob = _engine_output(registry, plugin_id, anatomy, image, options)
    assert prob is not None
    return {"dice": round(dice(found, lesion), 4), "lesion_peak": round(float(prob[lesion].max()), 3)}


def recipe_rows(
    plugin_dir: Path, fold: str, recipes: Mapping[str, tuple[tuple[str, ...], float | None]],
    per_modality: int, seed: int, label: str, scorer: Callable[..., dict] | None = None,
) -> list[dict]:
    """A training-recipe study's rows for ``fold``: per synthetic volume (``fold_volumes``) its modality,
    anatomy, lesion size and, per recipe (name -> (member tags, MR scale k the members must have
    trained with)), ``engine_scores`` of the fold model (the mean of those members). ``label`` names
    the registries (one per recipe and fold); ``scorer`` replaces ``engine_scores`` (same arguments).
    Stops if a member trained with another MR scale: a study must never compare recipes it does not
    name."""
    regs = {}
    for name, (tags, k) in recipes.items():
        if members.mr_scale(fold, tags) != k:
            raise ValueError(f"{name}: members {tags} of {fold} did not train with MR scale {k}")
        regs[name] = members.fold_registry(plugin_dir, fold, tags, f"{label}-{name}-{fold}")
    rows = []
    for a, img, lab in fold_volumes(fold, per_modality, seed):
        row: dict = {"modality": a.modality, "anatomy": a.name, "lesion_voxels": int(lab.sum())}
        for name, (reg, pid) in regs.items():
            row[name] = (scorer or engine_scores)(reg, pid, a, img, lab)
        rows.append(row)
        print(fold, json.dumps(row), flush=True)
    return rows


def engine_scores_real_aside(
    registry: Any, plugin_id: str, anatomy: lesion_data.Anatomy, image: np.ndarray, lesion: np.ndarray,
) -> dict[str, float]:
    """``engine_scores`` and ``dice_real_aside``: the Dice of the region the engine reports when the
    regions touching a real lesion of the anatomy (``anatomy.ignore``) are not candidates.

    Why: a synthetic volume built on lung2 or brain1 still holds that case's real lesion, and the
    engine reports one region per series. A model that finds the real lesion reports it, and
    ``engine_scores`` then scores the synthetic lesion as missed (the real lesion's voxels count
    neither way, so the volume scores 0): the better a recipe finds real lesions, the more it is
    penalised. Here the engine's own post-processing (organ bound, component rule, tie-break, growth)
    runs once on every region it keeps; ``dice`` is its pick among all of them (it must equal the
    engine's output: ``steps_study.py`` checks it on the first volume of each modality and fold),
    ``dice_real_aside`` its pick among those not touching a real lesion.
    """
    from medlens.inference import RunOptions
    from medlens.training.metrics import dice

    options = RunOptions(keep_largest_component=False, use_cache=False)  # every region the organ keeps
    kept, heat = _engine_output(registry, plugin_id, anatomy, image, options, clear_real=False)
    assert heat is not None
    prob = heat.astype(np.float32, copy=False)
    if kept.shape != image.shape or prob.shape != image.shape:
        raise ValueError("the study volume is not on the model's grid: the pick cannot be replayed")
    every, aside = replay_picks(kept, prob, registry.manifest(plugin_id), anatomy.ignore, anatomy.spacing)
    return {"dice": round(dice(every, lesion), 4), "lesion_peak": round(float(prob[lesion].max()), 3),
            "dice_real_aside": round(dice(aside, lesion), 4)}


def checked_real_aside_scorer() -> Callable[..., dict[str, float]]:
    """A ``recipe_rows`` scorer: ``engine_scores_real_aside``, and on the first volume of each modality
    and plugin also the engine's own output (``engine_scores``), which must give the same figures.

    Why: the replayed pick is what the real-aside studies decide on; a drift between the replay and
    the engine would silently score a model the engine never runs. Raises ``RuntimeError`` on a
    mismatch."""
    checked: set[tuple[str, str]] = set()

    def scorer(reg: Any, pid: str, a: lesion_data.Anatomy, img: np.ndarray, lab: np.ndarray) -> dict:
        row = engine_scores_real_aside(reg, pid, a, img, lab)
        if (a.modality, pid) not in checked:
            engine = engine_scores(reg, pid, a, img, lab)
            if engine != {k: row[k] for k in engine}:
                raise RuntimeError(f"{pid} on {a.name}: replayed pick {row}, engine {engine}")
            checked.add((a.modality, pid))
        return row

    return scorer


def require_steps(fold: str, recipes: Mapping[str, tuple[tuple[str, ...], float | None]],
                  steps: Mapping[str, int]) -> None:
    """Stop (``ValueError``) unless every member of each recipe (name -> (tags, MR scale)) of ``fold``
    trained the number of ``steps`` its name is given: a steps study must compare what it names."""
    for name, (tags, _) in recipes.items():
        for tag in tags:
            got = members.info(fold, tag)["steps"]
            if got != steps[name]:
                raise ValueError(f"{name}: member {tag} of {fold} trained {got} steps, not {steps[name]}")


def cached_folds(cache: Callable[[str], Path]) -> dict[str, list[dict]]:
    """A recipe study's cached rows (``recipe_study_main``) of the folds scored so far, in case order."""
    return {f: json.loads(cache(f).read_text()) for f in sources.CASES if cache(f).exists()}


def val_dice_synthetic(folds: Iterable[str],
                       recipes: Mapping[str, tuple[tuple[str, ...], float | None]]) -> dict[str, float]:
    """Each member's ``best_val_dice_synthetic`` (its checkpoint's synthetic validation Dice), by
    member name, for ``folds`` and every tag of ``recipes``: what a recipe study reports beside it."""
    return {f"seg_{f}{tag}": members.info(f, tag)["best_val_dice_synthetic"]
            for f in folds for tags, _ in recipes.values() for tag in tags}


def real_aside_rows(folds: Mapping[str, list[dict]], names: Sequence[str]) -> dict[str, list[dict]]:
    """The rows of a real-aside study with each recipe's ``dice`` replaced by its ``dice_real_aside``,
    so ``recipe_decision`` (which reads ``dice``) applies the rule to the real-aside Dice."""
    return {f: [{**r, **{n: {"dice": r[n]["dice_real_aside"], "lesion_peak": r[n]["lesion_peak"]}
                         for n in names}} for r in rows] for f, rows in folds.items()}


def replay_picks(
    kept: np.ndarray, prob: np.ndarray, manifest: Any, ignore: np.ndarray, spacing_xyz: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """The region the engine's component rule (``manifest``: rule, ranker, growth; the 2.5D end slices
    not ranked) picks among ``kept`` (every region the organ bound keeps, on the model's grid), and
    the one it picks when the regions touching ``ignore`` (a real lesion) are set aside; both with the
    ``ignore`` voxels cleared, as the studies score them (``engine_scores_real_aside``)."""
    from medlens.inference.runner import pick_component

    def pick(labels: np.ndarray) -> np.ndarray:
        found = pick_component(labels, prob, manifest, 1, tuple(spacing_xyz)[::-1]) > 0
        found[ignore] = False
        return found

    labels = kept.astype(np.uint8)
    regions, _ = ndimage.label(kept, np.ones((3, 3, 3), bool))
    touching = np.unique(regions[ignore & (regions > 0)])
    aside = np.where(np.isin(regions, touching), 0, labels).astype(np.uint8)
    return pick(labels), pick(aside)


def member_registry(plugin_dir: Path, fold: str, tag: str, suffix: str) -> tuple[Any, str, int]:
    """A registry running ``fold``'s single U-Net member ``tag`` (``members.fold_onnx``) with its own
    slice context, and that context: how the recipe studies compare one member per recipe."""
    reg, pid = members.fold_registry(plugin_dir, fold, (tag,), suffix)
    return reg, pid, members.context_of(fold, (tag,))


def study_args(doc: str | None, threads: int = 1) -> argparse.Namespace:
    """A study's command line: ``--per-modality`` (volumes per modality and fold), ``--threads`` (applied
    to torch here) and ``--tags`` (the U-Net members each fold model is the mean of)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-modality", type=int, default=6)
    ap.add_argument("--threads", type=int, default=threads)
    ap.add_argument("--tags", nargs="+", default=list(members.SEED_TAGS))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    return args


def record_path(plugin_dir: Path, stem: str, tags: Sequence[str]) -> Path:
    """Where a study on members ``tags`` writes: ``{stem}.json`` for the members its recorded decision
    was made on (``members.SEED_TAGS``), ``{stem}{mean_tag}.json`` beside it for others, so a re-run on
    newer members never overwrites the record the card quotes as the decision."""
    tags = tuple(tags)
    suffix = "" if tags == members.SEED_TAGS else members.mean_tag(tags)
    return plugin_dir / f"{stem}{suffix}.json"


def script_module(path: Path) -> ModuleType:
    """A plugin's script (``train.py``) as a module, for its network head and seeds: plugin folders
    are not packages, and a study must build the network exactly as the script does."""
    spec = importlib.util.spec_from_file_location(f"medlens_script_{path.parent.name}_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # before running it: a dataclass in the script looks its module up
    spec.loader.exec_module(mod)
    return mod


def choose_over_folds(study: Callable[[str], dict], current: str, candidates: Sequence[str]) -> dict:
    """Run ``study`` on every fold and apply the rule the pointing studies set before running: the
    candidate pointing best pooled over the four folds replaces ``current`` when it points better
    pooled and in at least three folds (a tie is not a win).

    ``study(fold)`` returns a dict with ``pointing`` (share of hits per variant) and ``_hits`` (the hits
    themselves, per variant, pooled here). Returns the folds, the pooled shares, the best candidate,
    the folds where it wins and the variant to adopt.
    """
    folds: dict[str, dict] = {}
    pooled: dict[str, list[bool]] = {}
    for case in sources.CASES:
        r = study(case)
        for k, v in r.pop("_hits").items():
            pooled.setdefault(k, []).extend(v)
        folds[case] = r
        print(case, json.dumps(r), flush=True)
    mean = {k: round(float(np.mean(v)), 3) for k, v in pooled.items()}
    return {"folds": folds, "pooled": mean, **adoption(folds, mean, current, candidates)}


def adoption(
    folds: dict[str, dict], pooled: dict[str, float], current: str, candidates: Sequence[str]
) -> dict:
    """The pointing studies' rule on their figures (``choose_over_folds``): the candidate pointing best
    ``pooled`` replaces ``current`` when it points better pooled and in at least three of ``folds``
    (each with ``pointing`` per variant). Returns ``best`` (None without candidates),
    ``folds_where_it_wins`` and ``adopt``."""
    if not candidates:
        return {"best": None, "folds_where_it_wins": 0, "adopt": current}
    best = max(candidates, key=lambda k: pooled[k])
    wins = sum(f["pointing"][best] > f["pointing"][current] for f in folds.values())
    adopt = best if pooled[best] > pooled[current] and wins >= 3 else current
    return {"best": best, "folds_where_it_wins": wins, "adopt": adopt}


def recipe_summary(rows: Sequence[dict], names: Sequence[str], modality: str | None = None,
                   hit: float = 0.1, peaks: bool = True) -> dict:
    """Mean Dice, hits (Dice > ``hit``), volumes and (``peaks``) lesions whose highest probability
    exceeds 0.5, per recipe ``names``, over ``rows`` (one per synthetic volume, each with a
    ``{name: {"dice", "lesion_peak"}}`` entry per recipe) of ``modality`` or all."""
    sel = [r for r in rows if modality is None or r["modality"] == modality]
    out = {}
    for name in names:
        out[name] = {"dice": round(float(np.mean([r[name]["dice"] for r in sel])), 4),
                     "hits": int(sum(r[name]["dice"] > hit for r in sel))}
        if peaks:
            out[name]["lesion_peak_over_0.5"] = int(sum(r[name]["lesion_peak"] > 0.5 for r in sel))
        out[name]["volumes"] = len(sel)
    return out


def recipe_decision(folds: dict[str, list[dict]], current: str, candidate: str, hit: float = 0.1,
                    peaks: bool = True) -> dict:
    """The training-recipe studies' rule (``organ_scale_study.py``, ``bright_negatives_study.py``) on
    their per-volume rows per fold: ``candidate`` replaces ``current`` when its mean Dice over the
    folds is higher **and** it is higher in at least three folds. Returns the per-fold and pooled
    summaries (all volumes, CT, MR), ``mean_dice``, ``folds_where_candidate_wins`` and ``adopt``."""
    names = (current, candidate)

    def by_modality(rows: list[dict]) -> dict:
        return {m: recipe_summary(rows, names, None if m == "all" else m, hit, peaks)
                for m in ("all", "CT", "MR")}

    out: dict = {"folds": {f: by_modality(rows) for f, rows in folds.items()}}
    out["pooled"] = by_modality([r for rows in folds.values() for r in rows])
    mean = {n: float(np.mean([v["all"][n]["dice"] for v in out["folds"].values()])) for n in names}
    wins = sum(v["all"][candidate]["dice"] > v["all"][current]["dice"] for v in out["folds"].values())
    out["mean_dice"] = {n: round(v, 4) for n, v in mean.items()}
    out["folds_where_candidate_wins"] = wins
    out["adopt"] = candidate if mean[candidate] > mean[current] and wins >= 3 else current
    return out


def write_decision(path: Path, out: dict) -> dict:
    """Write a recipe study's record (``recipe_decision`` and its volumes) to ``path`` and print the
    decision."""
    path.write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in ("pooled", "mean_dice", "folds_where_candidate_wins", "adopt")}))
    return out


def recipe_study_main(
    doc: str | None,
    fold_rows: Callable[[str], list[dict]],
    decide: Callable[[], dict],
    cache: Callable[[str], Path],
    sweep: Callable[[], Any] | None = None,
) -> None:
    """The command line of a training-recipe study: ``--folds`` runs ``fold_rows`` per fold (one
    process per core) into ``cache(fold)``, ``--decide`` applies the rule to the cached rows
    (``recipe_decision``), ``--sweep`` (when given) a study's own diagnosis."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folds", nargs="+", default=list(sources.CASES))
    ap.add_argument("--decide", action="store_true", help="no network: the decision from the cached rows")
    if sweep is not None:
        ap.add_argument("--sweep", action="store_true", help="the study's diagnosis (see its docstring)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.decide:
        decide()
        return
    import torch

    torch.set_num_threads(args.threads)
    if sweep is not None and args.sweep:
        sweep()
        return
    for f in args.folds:
        cache(f).write_text(json.dumps(fold_rows(f)))


def fold_classifier(plugin_dir: Path, fold: str, tags: tuple[str, ...]) -> Any:
    """``fold``'s slice classifier network as the plugin builds it (``train.SliceScore`` on the fold's
    U-Nets, with the organ channel), in eval mode: what the pointing studies explain."""
    train = script_module(plugin_dir / "train.py")
    return train.SliceScore(members.mean_unet((fold,), tags), organ_channel=True).eval()


def lesion_slice_inputs(
    plugin_dir: Path, fold: str, per_modality: int, seed: int, tags: tuple[str, ...]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every slice with >= 5 px of synthetic lesion in ``fold``'s volumes (``fold_volumes``) as the
    input ``(1, C, H, W)`` float32 of a classifier built on members ``tags`` - the slice normalised as
    they trained, their neighbour slices each side and the organ mask the engine gives the plugin -
    with the slice's lesion mask."""
    from medlens.training.engine import engine_organ

    context, k = members.context_of(fold, tags), members.mr_scale(fold, tags)
    for a, img, lab in fold_volumes(fold, per_modality, seed):
        organ = engine_organ(plugin_dir, img, a.spacing, a.modality)
        norm = members.normalized(a, img, k)
        nz = norm.shape[0]
        for z in np.flatnonzero(lab.sum(axis=(1, 2)) >= 5):
            x = np.concatenate([norm[lesion_data.context_slices(int(z), context, nz)], organ[z][None]])[None]
            yield np.ascontiguousarray(x, np.float32), lab[z]
