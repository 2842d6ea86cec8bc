"""Which synthetic lesion kinds a fold model finds in crops of its own training anatomy (a diagnosis).

Whole-volume studies mix two failures: the network never responds to the lesion (sensitivity), or a
false region outranks it. On crops centred near one synthetic lesion only the first counts, so this
separates them and says which kinds (CT solid / sub-solid / necrotic; MR enhancing / faint / ring /
hypo-intense, ``lesions.insert_lesion``) the network is blind to. Crops: ``--crops`` per modality
with a lesion of at least 5 px, no augmentation, seed 5 (not a training, validation or study seed),
drawn from the fold's own training anatomy (never a real lesion), MR scaled as the members trained.

Per kind: crops, found (highest probability inside the lesion > 0.5) and mean crop Dice at 0.5, and the
same found count by the lesion's visible contrast on the centre slice (``local_contrast``: the lesion's
mean against a 1-3 px ring around it, relative to the ring): a kind the network misses only when
its contrast is small is a generator question (invisible lesions labelled as lesions), one it misses
at any contrast is the network's.

    .venv/bin/python plugins/lesion_seg/crop_kinds.py --fold brain2 --tags _k3 [--crops 120]

Writes ``crop_kinds_{fold}{mean_tag}.json``, with the real MR lesions' contrast by the same measure
(``real_contrast``: brain1, brain2) beside the crops', and how much of the fold's lesion-free brain lies
in the hypo-intense and enhancing lesions' intensity ranges (``tissue_in_lesion_ranges``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from medlens.training import lesion_data, lesions, members, studies

HERE = Path(__file__).resolve().parent
SEED = 5
CONTRAST_BINS = (0.1, 0.25)  # |relative contrast| edges: under 10 %, 10-25 %, 25 % and over


def local_contrast(image: np.ndarray, label: np.ndarray) -> float:
    """The lesion's mean on ``image`` (one slice) relative to a 1-3 px ring just outside it, signed:
    what a reader sees of it against its surroundings, whatever the kind was meant to look like."""
    lab = label > 0.5
    ring = ndimage.binary_dilation(lab, iterations=3) & ~ndimage.binary_dilation(lab, iterations=1)
    if not lab.any() or not ring.any():
        return float("nan")
    around = float(image[ring].mean())
    return (float(image[lab].mean()) - around) / max(abs(around), 1e-3)


def contrast_bin(c: float) -> str:
    """The ``CONTRAST_BINS`` label of a relative contrast ("unmeasured" when there was no ring)."""
    lo, hi = CONTRAST_BINS
    if np.isnan(c):
        return "unmeasured"
    a = abs(c)
    return f"<{lo}" if a < lo else (f"{lo}-{hi}" if a < hi else f">={hi}")


def real_contrast(case: str) -> list[float]:
    """``local_contrast`` of a real case's lesion on each slice it covers by 5 px or more (native grid,
    raw intensities: on MR the percentile normalisation starts near 0, so the ratio is comparable with
    the crops'; not on CT, whose HU offset it shifts)."""
    from medlens.training.cases import case_volume

    vol, mask = case_volume(case)
    img = np.asarray(vol.array, np.float32)
    return [round(local_contrast(img[z], mask[z].astype(np.float32)), 3)
            for z in range(mask.shape[0]) if mask[z].sum() >= 5]


def tissue_in_lesion_ranges(anatomy: list[lesion_data.Anatomy]) -> dict[str, dict[str, float]]:
    """Per MR anatomy, the share of its brain's voxels (real lesion left out) whose intensity lies in the
    range the generator draws hypo-intense and enhancing lesions from (``lesions.MR_HYPO_RANGE``,
    ``MR_ENHANCING_RANGE``, x the brain's median): how much lesion-free tissue looks like each kind by
    intensity alone."""
    ranges = {"hypointense": lesions.MR_HYPO_RANGE, "enhancing": lesions.MR_ENHANCING_RANGE}
    out = {}
    for a in anatomy:
        if a.modality != "MR":
            continue
        v = a.image[a.organ & ~a.ignore] / a.reference
        out[a.name] = {kind: round(float(np.mean((v >= lo) & (v <= hi))), 3)
                       for kind, (lo, hi) in ranges.items()}
    return out


def kind_rows(fold: str, tags: tuple[str, ...], crops: int,
              anatomy: list[lesion_data.Anatomy] | None = None, threshold: float = 0.5) -> dict[str, dict]:
    """Per modality and kind: crops, found and mean Dice of ``fold``'s model (mean of ``tags``) on crops of
    ``anatomy`` (default: the fold's training anatomy, ``studies.fold_anatomy``; a caller scoring several
    recipes prepares it once), at probability ``threshold`` (the engine's 0.5 unless a study moves it)."""
    model = members.mean_unet((fold,), tags)
    model.eval()
    context = members.context_of(fold, tags)
    out: dict[str, dict] = {}
    every = studies.fold_anatomy(fold) if anatomy is None else anatomy  # once for both modalities
    for modality in ("CT", "MR"):
        anat = [a for a in every if a.modality == modality]
        sampler = members.crop_sampler(fold, tags, anat, SEED, p_lesion=1.0)
        got: list[lesion_data.Crop] = []
        while len(got) < crops:
            c = sampler.sample()
            if c.present:
                got.append(c)
        with torch.no_grad():
            prob = torch.sigmoid(model(torch.from_numpy(np.stack([c.image for c in got])))).numpy()[:, 0]
        for c, p in zip(got, prob, strict=True):
            lab = c.label > 0.5
            hit = p > threshold
            row = out.setdefault(modality, {}).setdefault(
                str(c.kind), {"crops": 0, "found": 0, "dice": [], "by_contrast": {}})
            row["crops"] += 1
            found = int(p[lab].max() > threshold)
            row["found"] += found
            cbin = row["by_contrast"].setdefault(contrast_bin(local_contrast(c.image[context], lab)),
                                                 {"crops": 0, "found": 0})
            cbin["crops"] += 1
            cbin["found"] += found
            row["dice"].append(float(2 * (hit & lab).sum() / (hit.sum() + lab.sum())))
        for rows in out[modality].values():
            rows["dice"] = round(float(np.mean(rows["dice"])), 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fold", required=True)
    ap.add_argument("--tags", nargs="+", required=True)
    ap.add_argument("--crops", type=int, default=120, help="lesion crops per modality")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tags = tuple(args.tags)
    anatomy = studies.fold_anatomy(args.fold)
    out = {"fold": args.fold, "tags": tags, "seed": SEED,
           "kinds": kind_rows(args.fold, tags, args.crops, anatomy),
           "real_mr_lesion_contrast": {c: real_contrast(c) for c in ("brain1", "brain2")},
           "brain_tissue_in_lesion_ranges": tissue_in_lesion_ranges(anatomy)}
    path = HERE / f"crop_kinds_{args.fold}{members.mean_tag(tags)}.json"
    path.write_text(json.dumps(out, indent=1))
    print(json.dumps(out["kinds"]))


if __name__ == "__main__":
    main()
