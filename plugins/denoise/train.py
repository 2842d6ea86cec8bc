"""Train the blind CT/MR denoiser (residual U-Net) on clean real volumes with simulated noise.

Data (DATA.md, all installed offline), split by volume:
  train  CT: pyradiomics lung1 (48 slices) + pydicom-data head CT slice 693;
         MR: Colin27 ch2 (mricron-data), MNI152 2009 (nilearn), pyradiomics brain1
  test   CT: lung2          MR: brain2          (never read here)
Noise: CT image-domain Poisson-like correlated noise, SD drawn uniformly in 0-80 HU (blind: the model
is never told the level); MR Rician noise, sigma 0-8 % of the foreground median. Why from 0: the
"clean" volumes carry their own acquisition noise (~15-18 HU in lung1 / lung2); a model that never sees
a patch without added noise learns to remove that too and then damages a normal-dose scan. Drawing from
0 teaches it to take an image back to a normal-dose appearance and to leave one that already has it.
Normalisation = the plugin's: z-score over the whole (noisy) volume, as the engine computes it.

    .venv/bin/python plugins/denoise/train.py [--arch unet] [--steps 1500] [--threads 1]

The shipped weights (version 0.4, ``--arch unet``) and the commands that made them are in MODEL_CARD.md,
"Reproduce"; so are those of the DnCNN of versions 0.1-0.2 (``--arch dncnn``).
``--holdout`` keeps every sixth slice of lung1 / brain1 out of training and reports PSNR on them: the
validation set for choosing between versions without looking at the test volumes
(``--validate-only WEIGHTS`` scores existing weights on it).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from medlens.training import noise, sources
from medlens.training.export import export_onnx, stamp_sha256
from medlens.training.nets import DnCNN, FFDNetBlind, UNetDenoiser

HERE = Path(__file__).resolve().parent
TRAIN_CT = ("lung1", "headct693")
TRAIN_MR = ("colin27", "mni152", "brain1")
SEED = 20240611
CT_SD_HU = (0.0, 80.0)  # defaults of --ct-sd / --mr-sigma
MR_SIGMA = (0.0, 0.08)  # x the foreground median
VAL_CASES = ("lung1", "brain1")  # --holdout: their slices z % 6 == 3 are kept out of training, for
VAL_LEVELS = {"CT": (10.0, 20.0, 40.0, 80.0), "MR": (0.02, 0.04, 0.08)}  # choosing between versions


def is_validation(name: str, z: int) -> bool:
    """Slices held out of training by ``--holdout`` (a validation set inside the training volumes)."""
    return name in VAL_CASES and z % 6 == 3


def load_training_volumes() -> list[sources.Scan]:
    """The training volumes at their native grids (no resampling: a denoiser works on native pixels)."""
    scans = [sources.load_case("lung1"), sources.load_head_ct_slice(),
             sources.load_colin27(), sources.load_mni152(), sources.load_case("brain1")]
    return scans


def zscore_stats(image: np.ndarray) -> tuple[float, float]:
    """Mean and SD over the whole volume (the engine's ``zscore`` with ``nonzero = false``)."""
    return float(image.mean(dtype=np.float64)), float(image.std(dtype=np.float64))


def vary_kernel(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A CT slice as if reconstructed with another kernel: half the time blurred (Gaussian, 0-0.8 px),
    half the time sharpened (unsharp mask, amount 0-0.8, radius 0.7-1.5 px). Its native noise changes
    grain and amplitude with it, and it is the reference too, so it is kept.

    Why (``--kernel-aug``, a study option): with one chest CT to learn from, the model keeps lung1's
    native noise and removes lung2's as if it were added; on the training scan's held-out slices it
    leads NLM at every level, on lung2 it trails by ~1.7 dB more (``shift_report.py``). Varying the
    native texture may teach it to leave any normal-dose texture alone."""
    from scipy import ndimage

    if rng.random() < 0.5:
        return ndimage.gaussian_filter(image, rng.uniform(0.0, 0.8)).astype(image.dtype)
    amount, radius = rng.uniform(0.0, 0.8), rng.uniform(0.7, 1.5)
    return (image + amount * (image - ndimage.gaussian_filter(image, radius))).astype(image.dtype)


class PatchSampler:
    """Random noisy/clean patch pairs, normalised like the plugin normalises a noisy volume."""

    def __init__(self, scans: list[sources.Scan], patch: int, rng: np.random.Generator,
                 by_slices: bool = False, ct_sd: tuple[float, float] = CT_SD_HU,
                 mr_sigma: tuple[float, float] = MR_SIGMA, holdout: bool = False,
                 kernel_aug: bool = False) -> None:
        self.kernel_aug = kernel_aug
        self.scans, self.patch, self.rng, self.by_slices = scans, patch, rng, by_slices
        self.ct_sd, self.mr_sigma = ct_sd, mr_sigma
        self.stats = [zscore_stats(s.image) for s in scans]
        self.refs = [noise.mr_reference(s.image) if s.modality == "MR" else 0.0 for s in scans]
        self.ct = [i for i, s in enumerate(scans) if s.modality == "CT"]
        self.mr = [i for i, s in enumerate(scans) if s.modality == "MR"]
        # --by-slices: CT volumes drawn in proportion to their slice count (the single head CT slice
        # otherwise supplies half of all CT patches)
        n = np.array([scans[i].image.shape[0] for i in self.ct], float)
        self.ct_weights = n / n.sum()
        # slices worth sampling: some tissue in them
        self.slices = []
        for s in scans:
            thr = -500 if s.modality == "CT" else 0.2 * float(np.percentile(s.image, 99))
            frac = (s.image > thr).mean(axis=(1, 2))
            keep = np.flatnonzero(frac > 0.1)
            if holdout:
                keep = np.array([z for z in keep if not is_validation(s.name, int(z))], int)
            self.slices.append(keep)

    def one(self) -> tuple[np.ndarray, np.ndarray, float]:
        """A (noisy, clean) pair and its added noise level as a share of the top of its modality's
        range (0-1; ``--balance-levels`` weighs the loss with it)."""
        rng, p = self.rng, self.patch
        if rng.random() < 0.6:
            w = self.ct_weights if self.by_slices else None
            i = int(rng.choice(self.ct, p=w))
        else:
            i = int(rng.choice(self.mr))
        s = self.scans[i]
        z = int(rng.choice(self.slices[i]))
        _, h, w = s.image.shape
        y0, x0 = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
        # a margin so the correlated-noise filter sees context, then cropped
        m = 8
        ya, xa = max(0, y0 - m), max(0, x0 - m)
        big = s.image[z, ya : y0 + p + m, xa : x0 + p + m]
        if self.kernel_aug and s.modality == "CT":  # guarded: the default stream draws nothing more
            big = vary_kernel(big, rng)
        if s.modality == "CT":
            level = float(rng.uniform(*self.ct_sd))
            noisy_big = big + noise.ct_noise(big, level, rng)
            share = level / CT_SD_HU[1]
        else:
            level = float(rng.uniform(*self.mr_sigma))
            noisy_big = noise.rician(big, level * self.refs[i], rng)
            share = level / MR_SIGMA[1]
        clean = big[y0 - ya : y0 - ya + p, x0 - xa : x0 - xa + p]
        noisy = noisy_big[y0 - ya : y0 - ya + p, x0 - xa : x0 - xa + p]
        mean, sd = self.stats[i]
        sd *= float(rng.uniform(0.97, 1.05))  # the engine's stats come from the noisy volume
        if rng.random() < 0.5:
            clean, noisy = clean[:, ::-1], noisy[:, ::-1]
        return ((noisy - mean) / sd).astype(np.float32), ((clean - mean) / sd).astype(np.float32), share

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Noisy and clean patches (N, 1, H, W) and each patch's noise share (N,) (``one``)."""
        pairs = [self.one() for _ in range(n)]
        x = torch.from_numpy(np.stack([a for a, _, _ in pairs])[:, None].copy())
        y = torch.from_numpy(np.stack([b for _, b, _ in pairs])[:, None].copy())
        return x, y, torch.tensor([c for _, _, c in pairs], dtype=torch.float32)


def level_weights(share: torch.Tensor, floor: float | None) -> torch.Tensor:
    """Per-patch loss weights for ``--balance-levels FLOOR``: 1 / (share + FLOOR), scaled to a mean of
    1 over the batch. Why: a patch's L1 error grows with its noise, so with equal weights the 60-80 HU
    patches steer training and the low levels, where the model trails NLM (MODEL_CARD.md, "Goal"), get
    the least of it; the floor (the reference's own noise, ~10 HU = 0.125 of the CT range) keeps
    noise-free patches from dominating in turn. None: equal weights (every version so far)."""
    if floor is None:
        return torch.ones_like(share)
    w = 1.0 / (share + floor)
    return w / w.mean()


def build(arch: str) -> torch.nn.Module:
    """``unet``: the shipped network (0.3-0.4, ``UNetDenoiser``); ``dncnn``: that of versions 0.1-0.2;
    ``ffdnet``: the half-resolution variant with a whole-slice noise branch (``FFDNetBlind``), tried
    and not shipped (MODEL_CARD.md)."""
    if arch == "unet":
        return UNetDenoiser(base=32)
    return DnCNN(depth=8, width=32) if arch == "dncnn" else FFDNetBlind(depth=12, width=48)


Denoise = Callable[[np.ndarray, float, sources.Scan, float], np.ndarray]


def validation_psnr(scans: list[sources.Scan], denoise: Denoise) -> dict[str, float]:
    """Mean PSNR (dB) per volume and level on the ``--holdout`` slices of ``denoise(noisy, sigma, scan,
    level)`` (HU / scanner units in and out), with fixed noise seeds: one set of noisy slices for the
    model (``validate``) and for any method it is compared with there (``shift_report.py``)."""
    from medlens.training.metrics import psnr

    out: dict[str, float] = {}
    for s in scans:
        if s.name not in VAL_CASES:
            continue
        ref = noise.mr_reference(s.image) if s.modality == "MR" else 0.0
        lo, hi = noise.data_range(s.modality, s.image)
        zs = [z for z in range(s.image.shape[0]) if is_validation(s.name, z)]
        for level in VAL_LEVELS[s.modality]:
            vals = []
            for z in zs:
                clean = s.image[z]
                noisy, sigma = noise.add_noise(clean, s.modality, level, ref, 7000 + z)
                den = denoise(noisy, sigma, s, level)
                vals.append(psnr(np.clip(den, lo, hi), np.clip(clean, lo, hi), hi - lo))
            out[f"{s.name}@{level:g}"] = round(float(np.mean(vals)), 3)
    return out


def validate(model: torch.nn.Module, scans: list[sources.Scan],
             tta_axes: tuple[str, ...] | None = None) -> dict[str, float]:
    """``validation_psnr`` of ``model``, normalised as the plugin normalises a volume.

    Why here and not evaluate.py: choosing between versions must not look at the test volumes.
    ``tta_axes`` ("y", "x"): average over those flips as the engine's flip TTA would
    (``options.tta_flips``), to decide whether it is worth its extra passes.
    """
    from medlens.inference.tta import flip_tta, flip_variants

    variants = [()] if tta_axes is None else flip_variants(3, tta_axes)
    stats = {s.name: zscore_stats(s.image) for s in scans if s.name in VAL_CASES}

    def run(x: np.ndarray, _: int) -> np.ndarray:  # (C, z = 1, y, x) in and out, as flip_tta passes it
        with torch.no_grad():
            return model(torch.from_numpy(np.ascontiguousarray(x[:, 0]))[None])[0, :, None].numpy()

    def denoise(noisy: np.ndarray, _sigma: float, s: sources.Scan, _level: float) -> np.ndarray:
        mean, sd = stats[s.name]
        x = ((noisy - mean) / sd).astype(np.float32)[None, None]
        return flip_tta(x, run, variants)[0][0, 0] * sd + mean

    model.eval()
    return validation_psnr(scans, denoise)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--init", type=Path, default=None, help="continue from these weights (state dict)")
    ap.add_argument("--max-lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--by-slices", action="store_true")
    ap.add_argument("--arch", choices=("unet", "dncnn", "ffdnet"), default="unet",
                    help="unet: shipped (0.3-0.4); dncnn: versions 0.1-0.2; ffdnet: tried, not shipped")
    ap.add_argument("--holdout", action="store_true",
                    help="keep lung1/brain1 slices z %% 6 == 3 out of training and report PSNR on them")
    ap.add_argument("--validate-only", type=Path, default=None, metavar="STATE_DICT",
                    help="only print the --holdout validation PSNR of these weights (with --arch)")
    ap.add_argument("--tta-axes", nargs="+", choices=("y", "x"), default=None,
                    help="with --validate-only: average over these flips (the engine's flip TTA)")
    ap.add_argument("--ct-sd", type=float, nargs=2, default=CT_SD_HU, metavar=("LO", "HI"),
                    help="added CT noise SD range, HU")
    ap.add_argument("--mr-sigma", type=float, nargs=2, default=MR_SIGMA, metavar=("LO", "HI"),
                    help="Rician sigma range, x the foreground median")
    ap.add_argument("--balance-levels", type=float, default=None, metavar="FLOOR",
                    help="weigh each patch's L1 loss by 1 / (noise share + FLOOR) (level_weights)")
    ap.add_argument("--kernel-aug", action="store_true",
                    help="vary CT patches' reconstruction kernel, reference included (vary_kernel; a study)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    scans = load_training_volumes()
    model = build(args.arch)
    if args.validate_only is not None:
        model.load_state_dict(torch.load(args.validate_only, weights_only=True))
        tta = tuple(args.tta_axes) if args.tta_axes else None
        print(json.dumps(validate(model, scans, tta)))
        return
    sampler = PatchSampler(scans, args.patch, rng, by_slices=args.by_slices,
                           ct_sd=tuple(args.ct_sd), mr_sigma=tuple(args.mr_sigma), holdout=args.holdout,
                           kernel_aug=args.kernel_aug)
    if args.init is not None:
        model.load_state_dict(torch.load(args.init, weights_only=True))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.max_lr, total_steps=args.steps,
                                                pct_start=0.1)
    t0, log = time.time(), []
    for step in range(1, args.steps + 1):
        x, y, share = sampler.batch(args.batch)
        if args.balance_levels is None:  # the shipped recipe's loss, the same float operations
            loss = torch.nn.functional.l1_loss(model(x), y)
        else:
            per_patch = (model(x) - y).abs().mean(dim=(1, 2, 3))
            loss = (per_patch * level_weights(share, args.balance_levels)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        log.append(float(loss.detach()))
        if step % 50 == 0:
            print(f"step {step} loss {np.mean(log[-50:]):.4f} {time.time() - t0:.0f}s", flush=True)
    model.eval()
    val = validate(model, scans) if args.holdout else None
    torch.save(model.state_dict(), args.out / "model.pt")
    sha = export_onnx(model, torch.zeros(1, 1, 64, 64), args.out / "model.onnx", dynamic_hw=True,
                      spatial_output=True)
    if (args.out / "plugin.toml").exists():
        stamp_sha256(args.out / "plugin.toml", sha)
    previous = []
    if args.init is not None and (args.init.parent / "train_log.json").exists():
        previous = [json.loads((args.init.parent / "train_log.json").read_text())]
    (args.out / "train_log.json").write_text(json.dumps(
        {"phases_before": previous, "init": str(args.init) if args.init else None,
         "by_slices": args.by_slices, "arch": args.arch, "holdout": args.holdout, "validation_psnr": val,
         "ct_sd_hu": args.ct_sd, "mr_sigma": args.mr_sigma,
         "balance_levels": args.balance_levels, "kernel_aug": args.kernel_aug, "max_lr": args.max_lr,
         "steps": args.steps,
         "batch": args.batch, "patch": args.patch, "seed": args.seed,
         "seconds": round(time.time() - t0), "final_loss": float(np.mean(log[-100:])), "sha256": sha},
        indent=1))
    print("done", sha)


if __name__ == "__main__":
    main()
