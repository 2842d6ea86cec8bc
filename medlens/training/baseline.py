"""The classical segmentation baseline: threshold + opening + largest connected component in the organ.

Why this baseline: it is what a careful engineer would try first without any learning, and it is
tuned on exactly the data the U-Net may use (synthetic lesions in the fold's training anatomy), so
the comparison on the real lesions is fair: neither method sees the test case before it is scored.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medlens.training import lesions
from medlens.training.lesion_data import Anatomy
from medlens.training.metrics import dice

CT_THRESHOLDS = (-500.0, -400.0, -300.0, -200.0, -100.0)  # HU
MR_FACTORS = (1.1, 1.2, 1.3, 1.4, 1.5, 1.7)  # x median brain intensity
OPEN_PX = (0, 1, 2, 3)


@dataclass(frozen=True)
class BaselineParams:
    level: float  # CT: HU threshold; MR: factor of the median brain intensity
    open_px: int  # in-plane opening radius (removes vessels / thin enhancement)


def _disk(r: int) -> np.ndarray:
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return ((yy**2 + xx**2) <= r * r)[None]


def segment(image: np.ndarray, organ: np.ndarray, modality: str, reference: float,
            params: BaselineParams) -> np.ndarray:
    """Bright-enough voxels inside the organ, opened, then the largest 3D connected component."""
    thr = params.level if modality == "CT" else params.level * reference
    cand = (image > thr) & organ
    if params.open_px > 0:
        cand = ndimage.binary_opening(cand, structure=_disk(params.open_px))
    lab, n = ndimage.label(cand)
    if n == 0:
        return cand
    sizes = ndimage.sum_labels(cand, lab, index=np.arange(1, n + 1))
    return lab == (int(np.argmax(sizes)) + 1)


def synthetic_volumes(anatomies: list[Anatomy], modality: str, n: int, seed: int
                      ) -> list[tuple[Anatomy, np.ndarray, np.ndarray]]:
    """``n`` whole volumes of ``modality`` with one synthetic 3D lesion each: (anatomy, image, label)."""
    rng = np.random.default_rng(seed)
    pool = [a for a in anatomies if a.modality == modality]
    out = []
    while len(out) < n and pool:
        a = pool[len(out) % len(pool)]
        region = a.organ & ~ndimage.binary_dilation(a.ignore, iterations=10)
        if modality == "CT":
            region &= a.image < -300
        img = a.image.copy()
        les = lesions.insert_lesion(img, a.organ, a.spacing, modality, rng,
                                    center=lesions.pick_center(region, rng), noise_sd=a.noise_sd,
                                    reference=a.reference)
        if les is None or les.label.sum() < 20:
            continue
        label = np.zeros(img.shape, bool)
        nz, ny, nx = les.label.shape
        label[les.z0 : les.z0 + nz, les.y0 : les.y0 + ny, les.x0 : les.x0 + nx] = les.label
        out.append((a, img, label))
    return out


def tune(
    volumes: list[tuple[Anatomy, np.ndarray, np.ndarray]], modality: str
) -> tuple[BaselineParams, float]:
    """Grid search of the baseline's parameters for the best mean Dice on synthetic volumes."""
    levels = CT_THRESHOLDS if modality == "CT" else MR_FACTORS
    best, best_score = BaselineParams(levels[0], 0), -1.0
    for level, r in itertools.product(levels, OPEN_PX):
        p = BaselineParams(level, r)
        scores = [dice(segment(img, a.organ & ~a.ignore, modality, a.reference, p), lab)
                  for a, img, lab in volumes]
        if np.mean(scores) > best_score:
            best, best_score = p, float(np.mean(scores))
    return best, best_score
