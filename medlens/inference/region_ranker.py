"""A learnt component rule: candidate regions scored by a logistic model of their features.

Why: a lesion detector leaves several candidate regions per series and the plugin reports one. The
fixed rules (largest, most confident, highest mean) each look at one property; a region that is
small but uniformly confident, or large but tubular like a vessel, is judged better by several at
once. The weights are fitted on synthetic volumes (``plugins/lesion_seg/region_ranker.py``) and
travel in ``plugin.toml`` (``[options.region_ranker]``), so the plugin stays one manifest and the
engine needs only numpy to apply them. (The built-in segmenter tested it on synthetic volumes and
kept "mean": its rule was not consistently better; see that plugin's card.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# What the engine can compute for a region from the probability map and the grid alone (no image,
# no organ: both are already spent on the candidates). Volumes and lengths in mm, so a model on a
# 1 mm grid and a study on another grid describe a region the same way.
FEATURES: tuple[str, ...] = (
    "log_volume",  # log10 mm³
    "mean",  # mean probability
    "peak",  # highest probability
    "high_share",  # share of voxels with probability >= 0.9
    "log_mass",  # log10 of the probability summed over the region, in mm³
    "log_elongation",  # log10 sqrt(largest / smallest spread of its voxels' mm positions): vessels are long
    "fill",  # voxels / voxels of its bounding box: compact blobs fill it, branching vessels do not
    "log_z_extent",  # log10 of the slices it spans times the slice spacing, in mm
)
MIN_VOXELS = 10  # as the "mean" rule: a smaller region is speckle and is chosen only when nothing else is


def region_features(
    components: np.ndarray, index: np.ndarray, scores: np.ndarray, spacing_zyx: Sequence[float]
) -> np.ndarray:
    """(len(index), len(FEATURES)) features of the regions ``index`` of the labelled ``components``
    (``ndimage.label`` output, axes z, y, x) from ``scores`` (the probability map, same grid) and the
    voxel spacing in mm along z, y, x."""
    spacing = np.asarray(spacing_zyx, np.float64)
    voxel_mm3 = float(np.prod(spacing))
    out = np.zeros((len(index), len(FEATURES)), np.float64)
    boxes = ndimage.find_objects(components)
    for row, i in enumerate(index):
        box = boxes[int(i) - 1]
        inside = components[box] == i
        p = scores[box][inside].astype(np.float64)
        n = p.size
        coords = np.argwhere(inside) * spacing
        spread = np.linalg.eigvalsh(np.cov(coords.T)) if n > 1 else np.zeros(3)
        spread = np.clip(spread, 1e-3, None)  # a one-voxel-thin region has no spread across
        out[row] = (
            np.log10(n * voxel_mm3),
            p.mean(),
            p.max(),
            float(np.mean(p >= 0.9)),
            np.log10(max(p.sum(), 1e-6) * voxel_mm3),
            0.5 * np.log10(spread[-1] / spread[0]),
            n / inside.size,
            np.log10((box[0].stop - box[0].start) * spacing[0]),
        )
    return out


@dataclass(frozen=True)
class RegionRanker:
    """Logistic weights over standardised :data:`FEATURES`: score = intercept + coef · (x - mean) / scale."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def __post_init__(self) -> None:
        unknown = set(self.features) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown region features {sorted(unknown)}; known: {', '.join(FEATURES)}")
        n = len(self.features)
        if not n or any(len(v) != n for v in (self.mean, self.scale, self.coef)):
            raise ValueError("region_ranker needs one mean, scale and coef per feature")
        if min(self.scale) <= 0:
            raise ValueError("region_ranker scales must be positive")

    def logits(self, table: np.ndarray) -> np.ndarray:
        """Scores of regions given their full :data:`FEATURES` table (rows: regions)."""
        cols = [FEATURES.index(f) for f in self.features]
        x = (table[:, cols] - np.asarray(self.mean)) / np.asarray(self.scale)
        return self.intercept + x @ np.asarray(self.coef)

    def choose(
        self, components: np.ndarray, index: np.ndarray, scores: np.ndarray, spacing_zyx: Sequence[float]
    ) -> int:
        """The region of ``index`` with the highest score; regions under :data:`MIN_VOXELS` voxels only
        when every region is that small."""
        logit = self.logits(region_features(components, index, scores, spacing_zyx))
        return int(index[pick(logit, ndimage.sum_labels(components > 0, components, index))])


def pick(logits: np.ndarray, voxels: np.ndarray) -> int:
    """Position of the highest of ``logits`` among regions of at least :data:`MIN_VOXELS` ``voxels``
    (among all when every region is smaller): the choice of :meth:`RegionRanker.choose`, shared with
    the study that replays it on stored candidate tables."""
    small = np.asarray(voxels) < MIN_VOXELS
    return int(np.argmax(np.where(small, -np.inf, logits) if not small.all() else logits))
