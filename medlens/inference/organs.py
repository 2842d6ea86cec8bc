"""Crude organ masks: the lungs in chest CT and the brain in T1 MR.

Why: a lesion detector should only report a finding inside the organ it was trained for (nodule
CAD segments the lungs first; a brain-tumour model looks inside the brain), the training puts
synthetic lesions where real ones sit (in the lung touching pleura or vessels, in the brain
touching cortex), and the classical baseline segments "inside the organ". These are classical
thresholds + morphology: good enough to bound where a lesion may be, not to be shown to a user as a
segmentation. The lung field works on chest CT; the T1 brain mask does not separate the scalp of a
whole-head contrast T1, so the engine takes the brain from the deepbet adapter when it is installed
(``runner.organ_on_model_grid``) and falls back to :func:`brain_mask_t1` with a warning.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

ORGANS = ("lungs", "brain")
# The lung *field* a finding may sit in: a 20 mm closing fills the dent a mass makes against the
# chest wall up to ~4 cm across (the 10 mm mask used to place training lesions left most of a 5 cm
# juxtapleural mass outside), while the heart and the diaphragm domes (~10 cm) stay outside.
LUNG_FIELD_CLOSING_MM = 20.0


def _disk(radius_px: int) -> np.ndarray:
    r = max(1, int(radius_px))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return (yy**2 + xx**2) <= r * r


def _largest_components(mask: np.ndarray, keep: int, min_fraction: float = 0.0) -> np.ndarray:
    lab, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = ndimage.sum_labels(mask, lab, index=np.arange(1, n + 1))
    order = np.argsort(sizes)[::-1][:keep]
    keep_ids = [i + 1 for i in order if sizes[i] >= min_fraction * sizes[order[0]]]
    return np.isin(lab, keep_ids)


def body_mask_ct(hu: np.ndarray) -> np.ndarray:
    """The patient (not the table, not outside air): largest component above -500 HU, holes filled."""
    body = _largest_components(hu > -500, 1)
    return np.stack([ndimage.binary_fill_holes(s) for s in body])


def lung_mask(hu: np.ndarray, spacing: tuple[float, float, float], closing_mm: float = 10.0) -> np.ndarray:
    """Both lungs *including* what sits in them (vessels, nodules, masses touching the pleura).

    Air inside the body below -400 HU, the one or two largest components (trachea and bowel gas
    are small), then a per-slice closing of ``closing_mm`` and hole filling so that a solid mass
    against the chest wall is still inside the mask.
    """
    body = body_mask_ct(hu)
    air = (hu < -400) & body
    air = ndimage.binary_opening(air, structure=np.ones((1, 3, 3), bool))
    lungs = _largest_components(air, 2, min_fraction=0.2)
    r = round(closing_mm / float(spacing[0]))
    pad = r + 1
    out = np.zeros_like(lungs)
    for z in range(lungs.shape[0]):
        if not lungs[z].any():
            continue
        s = np.pad(lungs[z], pad)
        s = ndimage.binary_closing(s, structure=_disk(r))
        out[z] = ndimage.binary_fill_holes(s)[pad:-pad, pad:-pad]
    return out & body


def brain_mask_t1(image: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """A crude brain mask for a whole-head T1: threshold, erode to cut the skull, largest part, regrow.

    The dark skull separates brain from the bright scalp; an erosion of ~4 mm breaks the thin
    bridges left by the threshold, the largest 3D component is the brain, and the same dilation
    brings the border back. Holes (ventricles, dark tumour cores) are filled per slice.
    """
    fg = image[image > 0]
    if fg.size == 0:
        return np.zeros(image.shape, bool)
    smooth = ndimage.gaussian_filter(image, sigma=(0, 1, 1))
    thr = 0.45 * float(np.percentile(smooth[smooth > np.percentile(fg, 20)], 50))
    mask = smooth > thr
    r = max(1, round(4.0 / float(spacing[0])))
    eroded = np.stack([ndimage.binary_erosion(s, structure=_disk(r)) for s in mask])
    core = _largest_components(eroded, 1)
    grown = np.stack([ndimage.binary_dilation(s, structure=_disk(r)) for s in core]) & mask
    return np.stack([ndimage.binary_fill_holes(s) for s in grown])


def organ_mask(image: np.ndarray, spacing: tuple[float, float, float], organ: str) -> np.ndarray:
    """``organ`` (one of :data:`ORGANS`) in ``image`` (z, y, x with axial slices along z; HU for CT),
    ``spacing`` (x, y, z) mm. Per-slice morphology: meant for axial series (what the built-in models
    run on after reorienting to LPS)."""
    if organ == "lungs":
        return lung_mask(image, spacing, closing_mm=LUNG_FIELD_CLOSING_MM)
    if organ == "brain":
        return brain_mask_t1(image, spacing)
    raise ValueError(f"unknown organ {organ!r} (known: {', '.join(ORGANS)})")
