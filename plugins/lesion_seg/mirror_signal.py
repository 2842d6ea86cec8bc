"""How much the mid-sagittal mirror says about faint MR lesions, with no network (round 5's prior).

``input_pilot.py`` round 5 gives the U-Net the centre slice mirrored about the volume's own plane.
Before its result this asks whether the channel carries the signal at all, with the lesion's true outline
given (an upper bound on what any detector reads from it): on the round's seed-5 faint lesion crops of
the brain2 fold's training anatomy, and on its seed-6 lesion-free crops with the same outlines laid on
them, how well do these separate lesion from normal tissue (AUC, lesion positive)?

- ``ring``: the mean inside the outline minus the mean of a 1-3 px ring around it (what one side of the
  head shows; the contrast ``crop_kinds.local_contrast`` bins);
- ``mirror``: the mean inside the outline minus the mirror channel's mean inside it;
- ``both``: the two added, each divided by its SD on the lesion-free crops (no fitted weights).

Also how well each of the fold's volumes matches its mirror (``plane_fit``): the correlation inside the
brain (the body on CT) with the flip about the image centre and with the reflection about the plane
found (``lesion_data.mirror_plane``).

    .venv/bin/python plugins/lesion_seg/mirror_signal.py      # ~1 min; mirror_signal.json
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from medlens.training import lesion_data, studies, symmetry
from medlens.training.metrics import roc_auc

HERE = Path(__file__).resolve().parent
FOLD, MR_SCALE, CROPS, LESION_SEED, FREE_SEED = "brain2", 3.0, 400, 5, 6


def differences(image: np.ndarray, outline: np.ndarray, centre: int) -> tuple[float, float]:
    """(inside - ring, inside - mirror) on channel ``centre`` of a mirror crop (the mirror is last)."""
    inside = outline > 0.5
    ring = ndimage.binary_dilation(inside, iterations=3) & ~ndimage.binary_dilation(inside, iterations=1)
    mean = float(image[centre][inside].mean())
    return mean - float(image[centre][ring].mean()), mean - float(image[-1][inside].mean())


def separation(lesion: np.ndarray, free: np.ndarray) -> dict[str, float]:
    """AUC of ``ring``, ``mirror`` and ``both`` from (N, 2) differences on lesion and lesion-free crops."""
    labels = np.r_[np.ones(len(lesion)), np.zeros(len(free))]
    both = np.r_[lesion, free] / free.std(axis=0)
    return {"ring": round(roc_auc(np.r_[lesion[:, 0], free[:, 0]], labels), 3),
            "mirror": round(roc_auc(np.r_[lesion[:, 1], free[:, 1]], labels), 3),
            "both": round(roc_auc(both.sum(axis=1), labels), 3)}


def plane_fit(a: lesion_data.Anatomy) -> dict[str, float]:
    """Correlation of ``a`` with its mirror inside ``lesion_data.mirror_mask``: about the image centre,
    and about the plane found (``lesion_data.mirror_plane``)."""
    mask = lesion_data.mirror_mask(a)
    half_width = (a.image.shape[2] - 1) * a.spacing[0] / 2
    plane = lesion_data.mirror_plane(a)
    centre = symmetry.reflection_coords(a.image.shape, a.spacing, 0.0, half_width)
    found = symmetry.reflection_coords(a.image.shape, a.spacing, plane["angle"], plane["offset"])
    return {"image_centre": round(symmetry.symmetry_score(a.image, centre, mask), 3),
            "plane": round(symmetry.symmetry_score(a.image, found, mask), 3)}


def main() -> None:
    every = studies.fold_anatomy(FOLD)
    anat = [a for a in every if a.modality == "MR"]
    ratio = (MR_SCALE, MR_SCALE)
    with_lesion = lesion_data.CropSampler(anat, np.random.default_rng(LESION_SEED), context=1, p_lesion=1.0,
                                          augment=False, mr_hi_ratio=ratio, mirror=True)
    free_crops = lesion_data.CropSampler(anat, np.random.default_rng(FREE_SEED), context=1, p_lesion=0.0,
                                         augment=False, mr_hi_ratio=ratio, mirror=True)
    crops: list[lesion_data.Crop] = []
    while len(crops) < CROPS:
        c = with_lesion.sample()
        if c.present:
            crops.append(c)
    free = [free_crops.sample() for _ in range(CROPS)]
    faint = [c for c in crops if c.kind == "faint"]
    lesion = np.array([differences(c.image, c.label, 1) for c in faint])
    # the i-th faint outline laid on the i-th lesion-free crop: the same shapes, no lesion
    blank = np.array([differences(f.image, c.label, 1) for c, f in zip(faint, free, strict=False)])
    out = {"fold": FOLD, "faint_crops": len(faint), "auc": separation(lesion, blank),
           "median_difference_lesion": [round(float(v), 4) for v in np.median(lesion, axis=0)],
           "sd_difference_lesion_free": [round(float(v), 4) for v in blank.std(axis=0)],
           "plane_fit": {a.name: plane_fit(a) for a in every}}
    (HERE / "mirror_signal.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
