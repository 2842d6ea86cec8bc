"""Build the per-slice lesion classifier from the lesion U-Nets of the same fold, and calibrate it.

    .venv/bin/python plugins/lesion_cls/train.py --fold lung1   # on seg fold "lung1" (lung1 left out)
    .venv/bin/python plugins/lesion_cls/train.py --fold all     # the shipped model

Why this design: a separately trained small CNN classifier (global-max-pooled logit map on 128 mm
crops) did not learn within the CPU budget (synthetic validation AUC 0.58 after 600 steps, loss at
chance). The segmentation U-Net, trained on the same synthetic lesions, already is a dense lesion
detector, so the classifier is that network - the mean of the fold's seeds (``members.CLS_TAGS``) -
with a slice-level head: logit map -> 5x5 mean (one hot pixel is not a lesion) -> global max -> Platt
scaling. Nothing here sees the fold's test case: the U-Nets of the fold were trained without it
(``plugins/lesion_seg/train.py --fold CASE``), and the Platt parameters (a, b) and the operating
threshold are fitted on *whole synthetic slices* built from the fold's training anatomy (one 3D
synthetic lesion per volume, other seed). The shipped model is built the same way on the all-anatomy
members, and its threshold is written to plugin.toml's ``options.threshold`` (the score plot's line).

The operating threshold, since 0.6.1: the lowest at which ``MIN_SPECIFICITY`` (90 %) of the synthetic
lesion-free validation slices stay below it (``metrics.specificity_threshold``). Until 0.6.0 it was
Youden's J on the same slices (kept in the record as ``threshold_youden``), which settled at 0.06-0.14
and flagged most of the real lesion-free CT slices, while plugin.toml said 0.5, a threshold no figure
in the card was measured at. The floor is set for a slice flag that should direct a reader's attention
(at 90 %, about four normal slices of a 40-slice study flagged); synthetic negatives are easier than
real ones, so on real slices it is a floor in name only - the card reports what it gives.
"""

from __future__ import annotations

import argparse
import json
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from medlens.training import baseline, members, studies
from medlens.training import lesion_data as L  # noqa: N812
from medlens.training.export import export_onnx, sha256_of, stamp_sha256
from medlens.training.metrics import roc_auc, specificity_threshold, youden_threshold

HERE = Path(__file__).resolve().parent
SEED = 4321
MIN_SPECIFICITY = 0.90  # on the synthetic lesion-free validation slices (module docstring)


class SliceScore(nn.Module):
    """U-Net logit map -> smoothed -> calibrated (a * logit + b) -> [inside the organ] -> global max:
    one logit per slice.

    Pads the slice to a multiple of 8 inside the graph, so whole slices of any size go in. With
    ``organ_channel`` the last input channel is the organ mask the engine appends
    (``input.organ_channel``): outside it the evidence is lowered to the slice's minimum, so the
    maximum - the slice score - lies inside the lung field / brain (decided on synthetic volumes:
    ``organ_bound.py``).
    """

    def __init__(self, unet: nn.Module, a: float = 1.0, b: float = 0.0, smooth: int = 5,
                 organ_channel: bool = False) -> None:
        super().__init__()
        self.unet = unet
        self.smooth = smooth
        self.organ_channel = organ_channel
        self.register_buffer("a", torch.tensor(float(a)))
        self.register_buffer("b", torch.tensor(float(b)))

    def evidence(self, x: torch.Tensor) -> torch.Tensor:
        """Calibrated per-pixel lesion logits (N, 1, H, W): the map saliency is compared with."""
        image = x[:, :-1] if self.organ_channel else x
        h, w = x.shape[2], x.shape[3]
        ph, pw = (8 - h % 8) % 8, (8 - w % 8) % 8
        logits = self.unet(F.pad(image, (0, pw, 0, ph)))[:, :, :h, :w]
        k = self.smooth
        logits = F.avg_pool2d(logits, k, stride=1, padding=k // 2, count_include_pad=False)
        ev = logits * self.a + self.b
        if self.organ_channel:
            floor = torch.amin(ev, dim=(2, 3), keepdim=True)
            ev = torch.where(x[:, -1:] > 0.5, ev, floor)
        return ev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.amax(self.evidence(x), dim=(2, 3))


def val_slices(anat: list[L.Anatomy], seed: int, context: int = 0, organ_channel: bool = False,
               mr_scale: float | None = None) -> list[tuple[np.ndarray, int]]:
    """Whole normalised synthetic slices (image (2 * context + 1, H, W): the slice and its neighbours,
    ends repeated as the engine does, then the engine's organ mask when ``organ_channel``; lesion
    present) from the training anatomy; MR normalised as members of ``mr_scale`` trained
    (``members.normalized``)."""
    from medlens.training.engine import engine_organ

    out = []
    for mod in ("CT", "MR"):
        for a, img, lab in baseline.synthetic_volumes(anat, mod, n=6, seed=seed):
            norm = members.normalized(a, img, mr_scale)
            organ = engine_organ(HERE, img, a.spacing, mod) if organ_channel else None
            nz = norm.shape[0]
            for z in np.flatnonzero(a.organ.sum(axis=(1, 2)) >= 500):
                if a.ignore[z].any():
                    continue  # a real lesion is in this slice: neither positive nor negative
                area = int(lab[z].sum())
                if area >= 5 or area == 0:
                    x = norm[L.context_slices(z, context, nz)]
                    if organ is not None:
                        x = np.concatenate([x, organ[z][None].astype(np.float32)])
                    out.append((x, int(area >= 5)))
    return out


@torch.no_grad()
def logits_of(model: nn.Module, slices: list[tuple[np.ndarray, int]]) -> np.ndarray:
    return np.asarray([float(model(torch.from_numpy(s[None]))[0, 0]) for s, _ in slices])


def platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Fit p = sigmoid(a * logit + b) by maximum likelihood, a in [0.01, 10], b in [-30, 30].

    Bounded (scipy L-BFGS-B) because an unbounded fit diverges when the validation slices happen to
    be nearly separable, which would make the calibrated output a step function.
    """
    from scipy.optimize import minimize

    t = np.clip(np.asarray(logits, float), -40.0, 40.0)
    yy = np.asarray(y, float)

    def nll(ab: np.ndarray) -> tuple[float, np.ndarray]:
        z = ab[0] * t + ab[1]
        p = 1.0 / (1.0 + np.exp(-z))
        loss = float(np.mean(np.logaddexp(0.0, z) - yy * z))
        g = p - yy
        return loss, np.array([np.mean(g * t), np.mean(g)])

    res = minimize(nll, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B",
                   bounds=[(0.01, 10.0), (-30.0, 30.0)])
    return float(res.x[0]), float(res.x[1])


def thresholds(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The operating threshold (``MIN_SPECIFICITY`` on the validation negatives, rounded up to 4
    decimals so the rounding never lets one more negative through) and Youden's, for the record."""
    spec = float(np.ceil(specificity_threshold(p, y, MIN_SPECIFICITY) * 1e4) / 1e4)
    return {"threshold": spec, "threshold_youden": round(youden_threshold(p, y), 4)}


@dataclass
class CalibratedValidation:
    """Fold ``fold``'s mean U-Net, its synthetic validation slices' raw logits and labels, the Platt
    fit on them and the calibrated probabilities: everything the head and threshold are made from."""

    unet: nn.Module
    context: int
    organ_channel: bool
    anatomy: list[L.Anatomy]
    mr_scale: float | None
    logits: np.ndarray
    y: np.ndarray
    a: float
    b: float

    @property
    def p(self) -> np.ndarray:
        """Calibrated probabilities of the validation slices."""
        return 1 / (1 + np.exp(-(self.a * self.logits + self.b)))


def calibrated_validation(fold: str, tags: tuple[str, ...]) -> CalibratedValidation:
    """Build ``CalibratedValidation`` for fold ``fold`` on members ``tags``: what ``build`` ships and
    ``operating_point.py`` re-checks against the build record."""
    context = members.context_of(fold, tags)
    organ_channel = bool(tomllib.loads((HERE / "plugin.toml").read_text())["input"].get("organ_channel"))
    unet = members.mean_unet((fold,), tags)
    raw = SliceScore(unet, organ_channel=organ_channel).eval()
    anat = studies.fold_anatomy(fold)
    k = members.mr_scale(fold, tags)
    val = val_slices(anat, SEED + 7, context, organ_channel, k)
    yv = np.array([y for _, y in val])
    lv = logits_of(raw, val)
    a, b = platt(lv, yv)
    return CalibratedValidation(unet, context, organ_channel, anat, k, lv, yv, a, b)


def build(fold: str, out_dir: Path, stem: str, tags: tuple[str, ...] = members.CLS_TAGS) -> dict:
    t0 = time.time()
    v = calibrated_validation(fold, tags)
    unet, context, organ_channel, a, b = v.unet, v.context, v.organ_channel, v.a, v.b
    lv, yv, anat, k = v.logits, v.y, v.anatomy, v.mr_scale
    model = SliceScore(unet, a, b, organ_channel=organ_channel).eval()
    example = torch.zeros(1, 2 * context + 1 + int(organ_channel), 96, 96)
    if organ_channel:
        example[:, -1] = 1.0
    sha = export_onnx(model, example, out_dir / f"{stem}.onnx", dynamic_hw=True, spatial_output=False)
    traced = torch.jit.trace_module(model, {"forward": example, "evidence": example})
    traced.save(str(out_dir / f"{stem}.pt"))
    info = {"fold": fold, "seg_members": members.member_shas(fold, tags),
            "seed": SEED, "context": context, "organ_channel": organ_channel, "mr_scale": k,
            "val_auc_synthetic": round(roc_auc(lv, yv), 4), "platt": [a, b], **thresholds(v.p, yv),
            "n_val_slices": len(yv), "n_val_positive": int(yv.sum()), "seconds": round(time.time() - t0),
            "sha256": sha, "sha256_pt": sha256_of(out_dir / f"{stem}.pt"), "anatomy": [x.name for x in anat]}
    (out_dir / f"{stem}.json").write_text(json.dumps(info, indent=1))
    return info


def stamp_threshold(toml: Path, threshold: float) -> None:
    """Write ``threshold`` into the ``threshold = ...`` line of ``[options]`` (comments kept)."""
    import re

    text = toml.read_text(encoding="utf-8")
    head, sep, options = text.partition("\n[options]\n")
    if not sep:
        raise ValueError(f"{toml} has no [options] table")
    options, n = re.subn(r"(?m)^threshold = [0-9.]+", f"threshold = {threshold:g}", options, count=1)
    if n != 1:
        raise ValueError(f"{toml}: no threshold line in [options]")
    toml.write_text(head + sep + options, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fold", default="all", choices=["all", *L.sources.CASES])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tags", nargs="+", default=list(members.CLS_TAGS), help="the U-Net members' tags")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    tags = tuple(args.tags)
    if args.fold == "all":
        norm = tomllib.loads((HERE / "plugin.toml").read_text())["input"]["normalization"]
        k = members.mr_scale("all", tags)
        if norm.get("organ_scale", {}).get("MR") != k:
            ap.error(f"members {tags} trained with MR scale {k}: set input.normalization.organ_scale "
                     f"to {{ MR = {k} }} in plugin.toml (or remove it when None) before shipping them")
        info = build("all", HERE, "model", tags)
        stamp_sha256(HERE / "plugin.toml", info["sha256"])
        stamp_sha256(HERE / "plugin.toml", info["sha256_pt"], key="extra_weights.saliency")
        stamp_threshold(HERE / "plugin.toml", info["threshold"])
        (HERE / "model.json").rename(HERE / "train_log.json")
    else:
        stem = members.classifier_stem(args.fold, tags)
        info = build(args.fold, stem.parent, stem.name, tags)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
