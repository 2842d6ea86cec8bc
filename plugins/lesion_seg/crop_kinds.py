"""Which synthetic lesion kinds a fold model finds in crops of its own training anatomy (a diagnosis).

Whole-volume studies mix two failures: the network never responds to the lesion (sensitivity), or a
false region outranks it. On crops centred near one synthetic lesion only the first counts, so this
separates them and says which kinds (CT solid / sub-solid / necrotic; MR enhancing / faint / ring /
hypo-intense, ``lesions.insert_lesion``) the network is blind to. Crops: ``--crops`` per modality
with a lesion of at least 5 px, no augmentation, seed 5 (not a training, validation or study seed),
drawn from the fold's own training anatomy (never a real lesion), MR scaled as the members trained.

Per kind: crops, found (highest probability inside the lesion > 0.5) and mean crop Dice at 0.5.

    .venv/bin/python plugins/lesion_seg/crop_kinds.py --fold brain2 --tags _k3 [--crops 120]

Writes ``crop_kinds_{fold}{mean_tag}.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from medlens.training import lesion_data, members, studies

HERE = Path(__file__).resolve().parent
SEED = 5


def kind_rows(fold: str, tags: tuple[str, ...], crops: int,
              anatomy: list[lesion_data.Anatomy] | None = None) -> dict[str, dict]:
    """Per modality and kind: crops, found and mean Dice of ``fold``'s model (mean of ``tags``) on crops of
    ``anatomy`` (default: the fold's training anatomy, ``studies.fold_anatomy``; a caller scoring several
    recipes prepares it once)."""
    model = members.mean_unet((fold,), tags)
    model.eval()
    context = members.context_of(fold, tags)
    k = members.mr_scale(fold, tags)
    ratio = lesion_data.MR_HI_RATIO if k is None else (k, k)
    out: dict[str, dict] = {}
    every = studies.fold_anatomy(fold) if anatomy is None else anatomy  # once for both modalities
    for modality in ("CT", "MR"):
        anat = [a for a in every if a.modality == modality]
        sampler = lesion_data.CropSampler(anat, np.random.default_rng(SEED), context=context, p_lesion=1.0,
                                          augment=False, mr_hi_ratio=ratio)
        got: list[lesion_data.Crop] = []
        while len(got) < crops:
            c = sampler.sample()
            if c.present:
                got.append(c)
        with torch.no_grad():
            prob = torch.sigmoid(model(torch.from_numpy(np.stack([c.image for c in got])))).numpy()[:, 0]
        for c, p in zip(got, prob, strict=True):
            lab = c.label > 0.5
            hit = p > 0.5
            row = out.setdefault(modality, {}).setdefault(str(c.kind), {"crops": 0, "found": 0, "dice": []})
            row["crops"] += 1
            row["found"] += int(p[lab].max() > 0.5)
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
    out = {"fold": args.fold, "tags": tags, "seed": SEED, "kinds": kind_rows(args.fold, tags, args.crops)}
    path = HERE / f"crop_kinds_{args.fold}{members.mean_tag(tags)}.json"
    path.write_text(json.dumps(out, indent=1))
    print(json.dumps(out["kinds"]))


if __name__ == "__main__":
    main()
