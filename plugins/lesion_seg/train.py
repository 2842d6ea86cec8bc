"""Train the lesion U-Net on real anatomy with synthetic lesions (one member), or ship the ensemble.

    .venv/bin/python plugins/lesion_seg/train.py --fold lung1 --context 1 --tag _k3 --mr-scale 3
                                                  # lung1 left out (seed 1234; --tag _k3s2 --seed 2345)
    .venv/bin/python plugins/lesion_seg/train.py --fold all --context 1 --tag _k3 --mr-scale 3  # all anatomy
    .venv/bin/python plugins/lesion_seg/train.py --ensemble                             # model.onnx here
    (before 0.5: --tag _ctx1 / _ctx1s2 without --mr-scale; the classifier is still built on those)
    .venv/bin/python plugins/lesion_seg/train.py --fold lung1 --dims 3 --context 2 --batch 4 --tag _3d
                                                                  # 3D patches of 5 slices (dims_study.py)

Anatomy (DATA.md): pyradiomics lung1/lung2 chest CT, brain1/brain2 T1 MR, Colin27 (mricron-data),
MNI152 (nilearn). A fold drops its test case entirely; the real lesions of the remaining cases are
excluded (zero loss weight, no synthetic lesion on them). Model selection (best checkpoint) uses a
fixed validation set of *synthetic* crops drawn from the fold's own training anatomy with another seed.
Every trained network is a member in the training cache (``medlens.training.members``): a fold's
cross-validated model is the mean of its seeds, and ``--ensemble`` ships the mean of all members.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from medlens.training import lesion_data as L  # noqa: N812
from medlens.training import members
from medlens.training.export import export_onnx, sha256_of, stamp_sha256
from medlens.training.nets import UNet2d, UNet3dAniso

HERE = Path(__file__).resolve().parent
SEED = 1234


def anatomy_for(fold: str) -> list[L.Anatomy]:
    names = [n for n in (*L.ANATOMY_CT, *L.ANATOMY_MR) if n != fold]
    return [L.prepare(n) for n in names]


def to_tensors(crops: list[L.Crop]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N, C, H, W) slices with their neighbours as channels, or (N, 1, Z, H, W) for 3D patches (crops
    whose label covers every slice); labels and weights (N, 1, [Z,] H, W)."""
    x = torch.from_numpy(np.stack([c.image for c in crops]))
    if crops[0].label.ndim == 3:
        x = x[:, None]
    y = torch.from_numpy(np.stack([c.label for c in crops]))[:, None]
    w = torch.from_numpy(np.stack([c.weight for c in crops]))[:, None]
    return x, y, w


DICE_MODES = ("batch", "crop", "crop_all", "mix")


def loss_fn(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor, dice: str = "batch") -> torch.Tensor:
    """Weighted BCE + soft Dice (Dice keeps small lesions from being ignored).

    ``dice`` "batch" (the shipped recipe): one Dice over the whole batch, where large, easy lesions
    dominate the overlap. The others are study options (``input_pilot.py``): "crop", each lesion crop's
    own Dice averaged over the crops that hold a lesion, so a 3 mm faint lesion weighs as much as a 3 cm
    mass, lesion-free crops left to the BCE term; "crop_all", every crop's own Dice, so a lesion-free
    crop costs up to 1 for whatever it predicts; "mix", the mean of "batch" and "crop"."""
    if dice not in DICE_MODES:
        raise ValueError(f"dice must be one of {DICE_MODES}, got {dice!r}")
    bce = (F.binary_cross_entropy_with_logits(logits, y, reduction="none") * w).sum() / w.sum().clamp(min=1)
    p = torch.sigmoid(logits) * w
    batch = 1 - (2 * (p * y).sum() + 1) / (p.sum() + (y * w).sum() + 1)
    if dice == "batch":
        return bce + batch
    dims = tuple(range(1, y.ndim))
    yw = (y * w).sum(dims)
    per = 1 - (2 * (p * y).sum(dims) + 1) / (p.sum(dims) + yw + 1)
    if dice == "crop_all":
        return bce + per.mean()
    has = yw > 0
    crop = per[has].mean() if bool(has.any()) else per.sum() * 0
    return bce + (crop if dice == "crop" else 0.5 * (batch + crop))


@torch.no_grad()
def val_dice(model: torch.nn.Module, val: list[L.Crop]) -> float:
    """Mean per-crop Dice on validation crops that hold a lesion (threshold 0.5)."""
    model.eval()
    scores = []
    for i in range(0, len(val), 16):
        x, y, _ = to_tensors(val[i : i + 16])
        p = torch.sigmoid(model(x)) > 0.5
        for pi, yi in zip(p, y > 0.5, strict=True):
            if yi.sum() == 0:
                continue
            scores.append(float(2 * (pi & yi).sum() / (pi.sum() + yi.sum())))
    model.train()
    return float(np.mean(scores))


def train(
    fold: str, steps: int, batch: int, context: int, base: int, crop: int, out: Path, tag: str = "",
    seed: int = SEED, dims: int = 2, mr_scale: float | None = None, bright_share: float = 0.0,
    mr_faint_share: float | None = None, contrast_px: int = 0, dice: str = "batch", anatomy_aug: bool = False,
    mirror: bool = False,
) -> dict:
    """One member. ``dims`` 3: a 3D patch U-Net on ``2 * context + 1`` slices, every slice labelled
    (``nets.UNet3dAniso``); 2: the slice-wise (2.5D with ``context``) U-Net. ``mr_scale`` k: MR crops
    normalised with the brain's median at 1 / k (the engine's ``organ_scale``), not at a random place.
    ``bright_share``: lesion-free crops centred on bright tissue inside the organ (``CropSampler``).
    ``mr_faint_share``: the share of faint MR training lesions (validation crops keep the default mix).
    ``contrast_px``: a local-contrast stem (``nets.LocalContrast``; 2D only); ``dice``: how the Dice
    term is pooled (``loss_fn``); ``anatomy_aug``: warp and shade the anatomy (``CropSampler``);
    ``mirror``: the centre slice mirrored about the mid-sagittal plane as one more channel (2D only). All
    four are study options (``input_pilot.py``)."""
    torch.manual_seed(seed)
    anat = anatomy_for(fold)
    volume = dims == 3
    ratio = L.MR_HI_RATIO if mr_scale is None else (mr_scale, mr_scale)
    sampler = L.CropSampler(anat, np.random.default_rng(seed), crop=crop, context=context,
                            volume_label=volume, mr_hi_ratio=ratio, bright_share=bright_share,
                            mr_faint_share=mr_faint_share, anatomy_aug=anatomy_aug, mirror=mirror)
    val_sampler = L.CropSampler(anat, np.random.default_rng(SEED + 999), context=context, p_lesion=1.0,
                                augment=False, volume_label=volume, mr_hi_ratio=ratio, mirror=mirror)
    val = [c for c in (val_sampler.sample() for _ in range(120)) if c.present][:80]
    if volume and (contrast_px or mirror):
        raise ValueError("the contrast stem and the mirror channel are for the slice-wise network (dims 2)")
    in_ch = 2 * context + 1 + int(mirror)
    model = (UNet3dAniso(base=base) if volume
             else UNet2d(in_ch=in_ch, base=base, contrast_px=contrast_px))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    best, best_state, log = -1.0, None, []
    t0 = time.time()
    for step in range(1, steps + 1):
        x, y, w = to_tensors(L.batch(sampler, batch))
        loss = loss_fn(model(x), y, w, dice)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        log.append(float(loss.detach()))
        if step % 250 == 0 or step == steps:
            d = val_dice(model, val)
            if d > best:
                best, best_state = d, copy.deepcopy(model.state_dict())
            print(f"[{fold}] step {step} loss {np.mean(log[-250:]):.3f} val_dice {d:.3f} "
                  f"{time.time() - t0:.0f}s", flush=True)
    assert best_state is not None
    model.load_state_dict(best_state)
    model.eval()
    torch.save(best_state, members.folds_dir() / f"seg_{fold}{tag}.state.pt")  # the classifier is built on it
    if volume:  # fixed patches: the engine's 3D sliding window hands it (2 * context + 1, crop, crop)
        sha = export_onnx(model, torch.zeros(1, 1, 2 * context + 1, crop, crop), out, dynamic_hw=False,
                          spatial_output=True)
    else:
        sha = export_onnx(model, torch.zeros(1, in_ch, 128, 128), out, dynamic_hw=True, spatial_output=True)
    info = {"fold": fold, "steps": steps, "batch": batch, "crop": crop, "context": context, "base": base,
            "seed": seed, "dims": dims, "mr_hi_ratio": list(ratio), "bright_share": bright_share,
            "mr_faint_share": mr_faint_share, "contrast_px": contrast_px, "dice": dice,
            "anatomy_aug": anatomy_aug, "mirror": mirror,
            "best_val_dice_synthetic": round(best, 4), "seconds": round(time.time() - t0), "sha256": sha,
            "anatomy": [a.name for a in anat]}
    out.with_suffix(".json").write_text(json.dumps(info, indent=1))
    return info


def ship_ensemble(tags: tuple[str, ...]) -> dict:
    """The shipped model: the mean of every member (all anatomy and the four folds, each seed ``tags``)
    as ONNX + TorchScript twin (gradient saliency and fine-tuning need a differentiable graph), sha256
    stamped in ``plugin.toml``; ``train_log.json`` lists the members' training records."""
    names = ("all", *L.sources.CASES)
    model = members.mean_unet(names, tags)
    context = members.context_of("all", tags)
    example = torch.zeros(1, 2 * context + 1, 128, 128)
    sha = export_onnx(model, example, HERE / "model.onnx", dynamic_hw=True, spatial_output=True)
    stamp_sha256(HERE / "plugin.toml", sha)
    torch.jit.trace(model, example).save(str(HERE / "model.pt"))
    sha_pt = sha256_of(HERE / "model.pt")
    stamp_sha256(HERE / "plugin.toml", sha_pt, key="extra_weights.saliency")
    info = {"context": context, "tags": list(tags), "sha256": sha, "sha256_pt": sha_pt,
            "members": {f"seg_{n}{t}": members.info(n, t) for n in names for t in tags}}
    (HERE / "train_log.json").write_text(json.dumps(info, indent=1))
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fold", default="all", choices=["all", *L.sources.CASES])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--context", type=int, default=0, help="neighbour slices each side (2.5D); 0 = 2D")
    ap.add_argument("--base", type=int, default=8)
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tag", default="")
    ap.add_argument("--seed", type=int, default=SEED, help="weights and crops (validation crops stay fixed)")
    ap.add_argument("--dims", type=int, default=2, choices=[2, 3],
                    help="3: a 3D patch U-Net on 2 * context + 1 slices, all labelled (a study; not shipped)")
    ap.add_argument("--mr-scale", type=float, default=None,
                    help="k: MR crops with the brain's median at 1/k (engine normalisation organ_scale)")
    ap.add_argument("--bright-negatives", type=float, default=0.0,
                    help="share of lesion-free crops centred on bright tissue inside the lung / brain "
                         "(vessels, enhancing veins; bright_negatives_study.py)")
    ap.add_argument("--mr-faint-share", type=float, default=None,
                    help="share of faint MR training lesions (default mix: 0.2; faint_pilot.py)")
    ap.add_argument("--contrast-px", type=int, default=0,
                    help="odd window (px): a local-contrast stem in front of the U-Net (input_pilot.py)")
    ap.add_argument("--dice", default="batch", choices=DICE_MODES,
                    help="how the Dice term is pooled: over the batch (shipped), per lesion crop, per crop, "
                         "or the mean of batch and per lesion crop (input_pilot.py; _k3l4pd: crop)")
    ap.add_argument("--anatomy-aug", action="store_true",
                    help="also warp (smooth displacement) and, on MR, shade (bias field) the training crops "
                         "(input_pilot.py round 4)")
    ap.add_argument("--mirror", action="store_true",
                    help="one more input channel: the centre slice mirrored about the mid-sagittal plane "
                         "(input_pilot.py round 5; crops only, the engine has no such input)")
    ap.add_argument("--ensemble", action="store_true",
                    help="no training: ship the mean of all members (--tags)")
    ap.add_argument("--tags", nargs="+", default=list(members.SEG_TAGS), help="members' tags for --ensemble")
    args = ap.parse_args()
    if args.ensemble:
        info = ship_ensemble(tuple(args.tags))
        print(json.dumps({k: v for k, v in info.items() if k != "members"}))
        return
    torch.set_num_threads(args.threads)
    out = members.folds_dir() / f"seg_{args.fold}{args.tag}.onnx"
    info = train(args.fold, args.steps, args.batch, args.context, args.base, args.crop, out, args.tag,
                 args.seed, args.dims, args.mr_scale, args.bright_negatives, args.mr_faint_share,
                 args.contrast_px, args.dice, args.anatomy_aug, args.mirror)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
