"""The lesion U-Nets in the training cache, and the means of several of them that are evaluated and shipped.

Why: with one or two chest CTs in a fold's training set, which candidate region a single U-Net ranks
first changes with the seed (the lung1 fold reported another candidate region, Dice 0, with one seed
and outlined the nodule, Dice 0.74, with the next). So a fold's cross-validated model is the mean of its
``SEED_TAGS`` networks (same data and recipe, other seeds), the classifier is built on that mean, and
the shipped segmenter is the mean of every member (all anatomy and the four folds, each seed of
``SEG_TAGS``; the classifier's are ``CLS_TAGS``).

A member ``seg_{name}{tag}`` is ``{state.pt, json, onnx}`` in ``folds_dir()``: ``name`` is a test case
left out, or ``all``; the json records its context, width, seed and sha256.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medlens.training import lesion_data
from medlens.training.engine import registry_for
from medlens.training.export import export_onnx
from medlens.training.nets import MeanLogits, UNet2d

SEED_TAGS = ("_ctx1", "_ctx1s2")  # 2.5D U-Nets trained with seeds 1234 and 2345
# lesion-seg 0.5's and lesion-cls 0.6.x's members: the same recipe and seeds with MR crops scaled by the
# brain (``train.py --mr-scale 3``, the engine's ``organ_scale``; ``organ_scale_study.py``,
# ``lesion_cls/organ_scale_rebuild.py``). Archived: those versions' records were computed on them. The
# studies recorded before then stay on ``SEED_TAGS``.
K3_TAGS = ("_k3", "_k3s2")
# The recipe ``lesion_seg/steps_pair_study.py`` adopted: the same, trained 4 000 steps instead of 2 000.
# The segmenter ships on them since lesion-seg 0.6, the classifier since lesion-cls 0.7
# (``lesion_cls/steps_rebuild.py``).
STEPS_4000_TAGS = ("_k3l4", "_k3l4s2")
SEG_TAGS = STEPS_4000_TAGS  # the segmenter's (lesion-seg 0.6)
CLS_TAGS = STEPS_4000_TAGS  # the classifier's (lesion-cls 0.7)


def folds_dir() -> Path:
    d = lesion_data._cache_dir() / "folds"
    d.mkdir(parents=True, exist_ok=True)
    return d


def info(name: str, tag: str) -> dict:
    """The training record of member ``seg_{name}{tag}``."""
    return json.loads((folds_dir() / f"seg_{name}{tag}.json").read_text())


def load_unet(name: str, tag: str) -> UNet2d:
    """Member ``seg_{name}{tag}`` in eval mode (its shape from its training record)."""
    rec = info(name, tag)
    if int(rec.get("dims", 2)) != 2:
        raise ValueError(f"seg_{name}{tag} is a 3D patch network (dims_study.py), not a slice-wise member")
    net = UNet2d(in_ch=2 * int(rec.get("context", 0)) + 1 + int(bool(rec.get("mirror", False))),
                 base=int(rec["base"]),
                 contrast_px=int(rec.get("contrast_px", 0)))
    net.load_state_dict(torch.load(folds_dir() / f"seg_{name}{tag}.state.pt", weights_only=True))
    return net.eval()


def mean_unet(names: tuple[str, ...], tags: tuple[str, ...] = SEED_TAGS) -> MeanLogits:
    """The mean logit map of members ``names`` x ``tags`` (one network, eval mode)."""
    return MeanLogits([load_unet(n, t) for n in names for t in tags]).eval()


def member_shas(name: str, tags: tuple[str, ...]) -> dict[str, str]:
    """sha256 of each member ``seg_{name}{tag}``, as a classifier's build record keeps them: the record
    matches the cache only while these are equal."""
    return {f"seg_{name}{t}": info(name, t)["sha256"] for t in tags}


def classifier_stem(name: str, tags: tuple[str, ...]) -> Path:
    """Where fold ``name``'s slice classifier on members ``tags`` is built (``lesion_cls/train.py
    --fold``): ``{stem}.onnx``, ``.pt`` and the build record ``.json``."""
    return folds_dir() / f"cls_{name}{mean_tag(tags)}"


def built_on_cache(record: dict[str, Any], name: str, tags: tuple[str, ...]) -> bool:
    """Whether a classifier's build record was made on the members ``name`` x ``tags`` the cache
    holds now (their sha256, ``member_shas``): a retrained member makes it stale."""
    return record.get("seg_members") == member_shas(name, tags)


def classifier_record(name: str, tags: tuple[str, ...]) -> dict[str, Any]:
    """Fold ``name``'s classifier build record. Raises ``ValueError`` saying how to rebuild it when it
    is missing or was built on other U-Net weights than the cache holds."""
    path = classifier_stem(name, tags).with_suffix(".json")
    rebuild = f"(lesion_cls/train.py --fold {name} --tags {' '.join(tags)})"
    if not path.is_file():
        raise ValueError(f"{path.name} is not built yet {rebuild}")
    record = json.loads(path.read_text())
    if not built_on_cache(record, name, tags):
        raise ValueError(f"{path.name} was built on other U-Net weights than the cache holds now: rebuild it "
                         f"{rebuild}")
    return record


def context_of(name: str, tags: tuple[str, ...] = SEED_TAGS) -> int:
    """Neighbour slices each side the members take (all members of a mean must agree)."""
    contexts = {int(info(name, t).get("context", 0)) for t in tags}
    if len(contexts) != 1:
        raise ValueError(f"members of {name} {tags} differ in slice context: {sorted(contexts)}")
    return contexts.pop()


def uses_mirror(name: str, tags: tuple[str, ...] = SEED_TAGS) -> bool:
    """Whether members ``name`` x ``tags`` take the mirrored centre slice as one more channel
    (``train.py --mirror``; all members of a mean must agree). Their crops must then be drawn with
    ``CropSampler(mirror=True)``; the engine has no such input."""
    flags = {bool(info(name, t).get("mirror", False)) for t in tags}
    if len(flags) != 1:
        raise ValueError(f"members of {name} {tags} differ in the mirror channel")
    return flags.pop()


def crop_sampler(name: str, tags: tuple[str, ...], anatomy: list[lesion_data.Anatomy], seed: int,
                 p_lesion: float) -> lesion_data.CropSampler:
    """Unaugmented crops of ``anatomy`` as members ``name`` x ``tags`` take them: their slice context, MR
    scale and mirror channel (the crop studies' sampler; ``seed`` and ``p_lesion`` are the study's)."""
    k = mr_scale(name, tags)
    ratio = lesion_data.MR_HI_RATIO if k is None else (k, k)
    return lesion_data.CropSampler(anatomy, np.random.default_rng(seed), context=context_of(name, tags),
                                   p_lesion=p_lesion, augment=False, mr_hi_ratio=ratio,
                                   mirror=uses_mirror(name, tags))


def mean_tag(tags: tuple[str, ...] = SEED_TAGS) -> str:
    """File-name suffix of a mean of members ``tags`` (``_mean_ctx1_ctx1s2``)."""
    return "_mean" + "".join(tags)


def fold_onnx(case: str, tags: tuple[str, ...] = SEED_TAGS) -> Path:
    """ONNX of the fold model that never saw ``case`` (the mean of its seeds), exported on first use
    and again whenever a member's weights change (their sha256 are recorded beside it)."""
    out = folds_dir() / f"seg_{case}{mean_tag(tags)}.onnx"
    stamp = out.with_suffix(".json")
    shas = [info(case, t)["sha256"] for t in tags]
    if out.is_file() and stamp.is_file() and json.loads(stamp.read_text()).get("members") == shas:
        return out
    if uses_mirror(case, tags):
        raise ValueError(f"members of {case} {tags} take a mirror channel, which the engine cannot give")
    context = context_of(case, tags)
    export_onnx(mean_unet((case,), tags), torch.zeros(1, 2 * context + 1, 128, 128), out, dynamic_hw=True,
                spatial_output=True)
    stamp.write_text(json.dumps({"fold": case, "tags": list(tags), "context": context, "members": shas}))
    return out


def mr_scale(case: str, tags: tuple[str, ...]) -> float | None:
    """k when every member of ``case`` x ``tags`` trained with MR crops scaled by the brain at k
    (``train.py --mr-scale k``), None when the scale was drawn per crop (members before lesion-seg 0.5)."""
    ratios = {tuple(info(case, t).get("mr_hi_ratio", lesion_data.MR_HI_RATIO)) for t in tags}
    if len(ratios) != 1:
        raise ValueError(f"members of {case} {tags} trained with different MR scales: {sorted(ratios)}")
    lo, hi = ratios.pop()
    return float(lo) if lo == hi else None


def normalized(anatomy: lesion_data.Anatomy, image: np.ndarray, k: float | None) -> np.ndarray:
    """``image`` of ``anatomy`` normalised as the engine feeds members of MR scale ``k``
    (``mr_scale``): an MR series with its upper bound at k x the brain's median, anything else (or
    k None) by the volume's percentiles. For studies that call the networks directly."""
    hi = anatomy.reference * k if k is not None and anatomy.modality == "MR" else None
    return anatomy.normalize(image, hi=hi)


def normalization_fields(plugin_dir: Path, k: float | None) -> dict[str, Any]:
    """``[input]`` fields for ``registry_for``: the plugin's normalisation with MR scaled by the brain,
    ``organ_scale = { MR = k }``, or by the percentiles alone when k is None."""
    norm = tomllib.loads((plugin_dir / "plugin.toml").read_text(encoding="utf-8"))["input"]["normalization"]
    norm = {key: v for key, v in norm.items() if key != "organ_scale"}
    return {"normalization": {**norm, **({"organ_scale": {"MR": k}} if k is not None else {})}}


def trained_fields(plugin_dir: Path, case: str, tags: tuple[str, ...]) -> dict[str, Any]:
    """``[input]`` fields that run fold ``case``'s members ``tags`` with the MR normalisation they
    trained with (``mr_scale``): the one place studies take that from, so none feeds older members the
    shipped manifest's scale."""
    return normalization_fields(plugin_dir, mr_scale(case, tags))


def fold_registry(plugin_dir: Path, case: str, tags: tuple[str, ...], suffix: str) -> tuple[Any, str]:
    """A registry running fold ``case``'s mean of ``tags`` through the engine with their slice context
    and the MR normalisation they trained with (``mr_scale``). Returns the registry and the plugin id.

    Why: the shipped manifest scales MR by the brain since lesion-seg 0.5, and a study re-run on older
    members must not feed them an input scale they never saw.
    """
    return registry_for(plugin_dir, fold_onnx(case, tags), suffix=suffix,
                        slice_context=context_of(case, tags),
                        input_fields=trained_fields(plugin_dir, case, tags))
