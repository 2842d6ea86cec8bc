"""Training crops for the lesion models: real anatomy on the working grid + synthetic lesions.

Why here and not in a plugin script: the segmentation and classification plugins (and their folds)
must draw from exactly the same anatomy, masks, normalisation and lesion generator, so that their
cross-validated figures describe the same data.

Leakage rules enforced here: a fold's anatomy list never contains its test case; the real lesion of
every *training* case is excluded (no synthetic lesion is placed on it, its voxels carry zero loss
weight and classifier crops touching it are dropped); normalisation statistics come from each
training volume alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from medlens.inference import organs
from medlens.training import lesions, sources, symmetry

INPLANE_MM = 1.0
MR_SLICE_MM = 6.5  # thin MR templates are thickened to the real cases' slice thickness
PERCENTILES = (0.5, 99.5)  # the plugins' normalisation (engine kind "percentile", to [0, 1])
ANATOMY_CT = ("lung1", "lung2")
ANATOMY_MR = ("brain1", "brain2", "colin27", "mni152")
# MR crops are normalised as if the volume's 99.5th percentile were this many times the median brain
# intensity (drawn per crop). Why: the engine normalises a whole T1 series by its percentiles, and where
# the brain lands depends on what else is in the field of view - scalp fat and enhancing vessels in a
# whole-head contrast T1, none in a skull-stripped template (MNI152 1.43x, Colin27 1.87x here). With each
# volume's own percentiles, lesions 1.2-2x as bright as the brain saturated in the templates and the
# network learnt "lesion = saturated", which a whole-head contrast T1 (brain at ~0.3) never shows.
# The range was set after the ratio had been computed on the real MR cases too (2.9x, 3.3x): a
# test-informed choice, stated in the lesion-seg model card.
MR_HI_RATIO = (1.4, 4.0)


@dataclass
class Anatomy:
    """One training volume on the working grid with what lesion insertion needs."""

    name: str
    modality: str
    image: np.ndarray  # (z, y, x) raw units, working grid
    spacing: tuple[float, float, float]
    organ: np.ndarray  # bool
    ignore: np.ndarray  # bool: the real lesion, dilated (zero loss weight, no synthetic lesion)
    lo: float  # normalisation: percentiles of this volume
    hi: float
    noise_sd: float
    reference: float  # MR: median brain intensity
    label: np.ndarray | None = None  # real lesion (evaluation only)
    body: np.ndarray | None = None  # bool: the patient / head (lesion-free crops are drawn from all of it)

    def normalize(self, x: np.ndarray, hi: float | None = None) -> np.ndarray:
        """``lo``..``hi`` -> [0, 1], clipped; ``hi`` defaults to this volume's percentile."""
        top = self.hi if hi is None else hi
        return np.clip((x - self.lo) / (top - self.lo), 0.0, 1.0).astype(np.float32)


def context_slices(z: int, context: int, nz: int) -> np.ndarray:
    """Slice ``z`` and ``context`` neighbours each side, the ends repeated (as the engine's
    ``runner.model_channels`` pads a 2.5D model's input)."""
    return np.clip(np.arange(z - context, z + context + 1), 0, nz - 1)


def _cache_dir() -> Path:
    from medlens.sample import cache_root

    d = cache_root() / "training"
    d.mkdir(parents=True, exist_ok=True)
    return d


def brain_mask_native(scan: sources.Scan) -> np.ndarray:
    """Brain mask of a pyradiomics MR case on its native grid: deepbet through the MedLens engine
    (plugin ``deepbet.brain-extraction``), cached; the crude morphological mask if deepbet is absent."""
    path = _cache_dir() / f"{scan.name}_brain.npy"
    if path.exists():
        return np.load(path)
    try:
        from medlens.inference.adapters import deepbet
        from medlens.viewer.model import Volume, VolumeMeta

        vol = Volume.from_sitk(scan.extra["sitk"], VolumeMeta(modality="MR"))  # type: ignore[arg-type]
        mask = deepbet.brain_mask(np.asarray(vol.array), vol.geometry)
    except Exception:
        mask = None
    if mask is None:
        mask = organs.brain_mask_t1(scan.image, scan.spacing)
    np.save(path, mask)
    return mask


def prepare(name: str) -> Anatomy:
    """Load ``name`` (a pyradiomics case, ``colin27`` or ``mni152``) onto the working grid."""
    if name in sources.CASES:
        scan = sources.load_case(name)
        if scan.modality == "MR":
            scan.organ = brain_mask_native(scan)
    elif name == "colin27":
        scan = sources.load_colin27()
    elif name == "mni152":
        scan = sources.load_mni152()
    else:
        raise ValueError(f"unknown anatomy source {name!r}")
    w = sources.to_working_grid(scan, INPLANE_MM, MR_SLICE_MM if scan.modality == "MR" else None)
    if scan.modality == "CT":
        organ = organs.lung_mask(w.image, w.spacing)
        tissue = organs.body_mask_ct(w.image) & (w.image > -100) & (w.image < 100)
        reference = 0.0
    else:
        assert w.organ is not None
        organ = np.asarray(w.organ, bool)
        tissue = ndimage.binary_erosion(organ, iterations=2)
        reference = float(np.median(w.image[organ])) if organ.any() else 1.0
    label = w.label
    if label is not None and label.any():
        ignore = ndimage.binary_dilation(label > 0, structure=np.ones((3, 7, 7), bool))
    else:
        ignore = np.zeros(w.image.shape, bool)
    lo, hi = (float(v) for v in np.percentile(w.image, PERCENTILES))
    if scan.modality == "CT":
        body = organs.body_mask_ct(w.image)
    else:
        body = w.image > 0.1 * float(np.percentile(w.image, 99))
    return Anatomy(
        name, scan.modality, w.image, w.spacing, organ, ignore, lo, max(hi, lo + 1.0),
        lesions.noise_level(w.image, tissue & ~ignore), reference, label, body,
    )


def mirror_mask(a: Anatomy) -> np.ndarray:
    """Where ``a`` is compared with its mirror: the brain on MR (scalp and orbits are less symmetric),
    the body on CT."""
    return a.organ if a.modality == "MR" or a.body is None else a.body


def mirror_plane(a: Anatomy) -> dict[str, float]:
    """``a``'s mid-sagittal plane (``symmetry.find_plane`` inside ``mirror_mask``): angle (rad), offset
    (mm) and the search's correlation; a source's plane is cached by name."""
    named = a.name in (*ANATOMY_CT, *ANATOMY_MR)  # only the sources' planes are cached
    path = _cache_dir() / f"{a.name}_mirror_plane.json" if named else None
    if path is not None and path.exists():
        return json.loads(path.read_text())
    angle, offset, score = symmetry.find_plane(a.image, a.spacing, mirror_mask(a))
    plane = {"angle": angle, "offset": offset, "correlation": score}
    if path is not None:
        path.write_text(json.dumps(plane))
    return plane


def mirror_plane_coords(a: Anatomy) -> np.ndarray:
    """In-plane (y, x) index of each pixel's mirror about ``a``'s ``mirror_plane``: (2, Y, X) float32,
    the same on every slice (the plane is parallel to z)."""
    plane = mirror_plane(a)
    coords = symmetry.reflection_coords((1, *a.image.shape[1:]), a.spacing, plane["angle"], plane["offset"])
    return coords[1:, 0]


HARD_NEGATIVE_SHARE = 0.5  # lesion-free crops centred on the organ border
# "Bright" tissue inside the organ, where a bright-structure hard negative is centred: on CT anything
# denser than aerated lung inside the lung field (vessels, seen end-on as round blobs; hila, fissures,
# airway walls), on MR anything brighter than 1.3 x the brain's median (in a contrast T1: enhancing
# veins and sinuses, choroid plexus, dura; in the plain T1 templates hardly anything).
BRIGHT_CT_HU = -300.0
BRIGHT_MR_RATIO = 1.3


def near_real_lesion(a: Anatomy) -> np.ndarray:
    """The real lesion (``ignore``) grown by 12 px in-plane: no synthetic lesion and no hard-negative
    crop is centred there."""
    return ndimage.binary_dilation(a.ignore, structure=np.ones((1, 25, 25), bool))


def organ_bright(a: Anatomy) -> np.ndarray:
    """Bright tissue inside the organ (``BRIGHT_CT_HU``, ``BRIGHT_MR_RATIO``), away from the real
    lesion: the lesion look-alikes a bright-structure hard negative is centred on."""
    level = BRIGHT_CT_HU if a.modality == "CT" else BRIGHT_MR_RATIO * a.reference
    bright = a.organ & (a.image > level)
    return bright & ~near_real_lesion(a)


def organ_border(a: Anatomy, outside_px: int = 10, inside_px: int = 4) -> np.ndarray:
    """Tissue around the organ's edge, inside the body and away from the real lesion: the band
    from ``inside_px`` inside to ``outside_px`` outside the organ mask, per slice."""
    out = np.zeros(a.organ.shape, bool)
    body = a.body if a.body is not None else np.ones(a.organ.shape, bool)
    for z in range(a.organ.shape[0]):
        s = a.organ[z]
        if not s.any():
            continue
        grown = ndimage.binary_dilation(s, iterations=outside_px)
        core = ndimage.binary_erosion(s, iterations=inside_px)
        out[z] = grown & ~core & body[z]
    return out & ~near_real_lesion(a)


@dataclass
class Crop:
    image: np.ndarray  # (C, H, W) normalised
    label: np.ndarray  # (H, W) float 0/1; (C, H, W) for a sampler with ``volume_label``
    weight: np.ndarray  # like ``label``, float: 0 on a real (excluded) lesion
    present: bool  # a synthetic lesion of at least ``min_pos_px`` pixels lies in the crop
    kind: str | None = None  # the synthetic lesion's kind (``lesions.Lesion.kind``), None without one


def _extract(a: np.ndarray, cy: int, cx: int, size: int, fill: float) -> np.ndarray:
    """``size`` x ``size`` window of the last two axes centred at (cy, cx), padded with ``fill``."""
    h, w = a.shape[-2:]
    out = np.full((*a.shape[:-2], size, size), fill, dtype=a.dtype)
    y0, x0 = cy - size // 2, cx - size // 2
    ys, xs = max(0, y0), max(0, x0)
    ye, xe = min(h, y0 + size), min(w, x0 + size)
    if ye > ys and xe > xs:
        out[..., ys - y0 : ye - y0, xs - x0 : xe - x0] = a[..., ys:ye, xs:xe]
    return out


def _warp_crop(
    img: np.ndarray, lab: np.ndarray, wgt: np.ndarray, warp: Callable[[np.ndarray, int, float], np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply one in-plane ``warp(x, order, cval)`` to every image channel (linear), the label (linear,
    then > 0.5) and the weight (nearest, outside = 1), slice by slice for a labelled slab: the affine
    augmentation and ``vary_anatomy`` move a crop and its labels the same way."""
    img = np.stack([warp(ch, 1, 0.0) for ch in img])
    if lab.ndim == 3:  # a labelled slab: each slice
        lab = (np.stack([warp(sl, 1, 0.0) for sl in lab]) > 0.5).astype(np.float32)
        wgt = (np.stack([warp(sl, 0, 1.0) for sl in wgt]) > 0.5).astype(np.float32)
    else:
        lab = (warp(lab, 1, 0.0) > 0.5).astype(np.float32)
        wgt = (warp(wgt, 0, 1.0) > 0.5).astype(np.float32)
    return img, lab, wgt


def vary_anatomy(
    img: np.ndarray, lab: np.ndarray, wgt: np.ndarray, modality: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth random displacement (8 px correlation, up to 0-4 px) of a (C, S, S) crop's image, label
    and weight alike, and on MR a smooth multiplicative bias field (24 px correlation, SD 0-10 %).

    Why: each fold trains on three real brains, so the network can learn their normal folds and
    intensities by heart and still take a faint lesion for one of them (``input_pilot.py``: at equal
    false alarms no loss or input found more faint lesions). Warping and shading the anatomy varies
    normal tissue more than three subjects do; the lesion is warped with it, so the label stays true.
    A study option (``CropSampler(anatomy_aug=True)``)."""
    size = img.shape[-1]

    def field(sigma: float) -> np.ndarray:
        f = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma)
        return f / (np.abs(f).max() + 1e-8)

    amp = rng.uniform(0.0, 4.0)
    coords = np.mgrid[:size, :size].astype(np.float64) + amp * np.stack([field(8.0), field(8.0)])

    def warp(x: np.ndarray, order: int, cval: float) -> np.ndarray:
        return ndimage.map_coordinates(x, coords, order=order, mode="constant", cval=cval)

    img, lab, wgt = _warp_crop(img, lab, wgt, warp)
    if modality == "MR":
        f = ndimage.gaussian_filter(rng.standard_normal((size, size)), 24.0)
        img = img * np.exp(f / (f.std() + 1e-8) * rng.uniform(0.0, 0.1))
    return img, lab, wgt


class CropSampler:
    """Random training crops: ``p_lesion`` of them with one synthetic lesion near the centre.

    ``bright_share``: the share of lesion-free crops centred on bright tissue inside the organ
    (``organ_bright``); the rest are split between the organ border and anywhere in the body as
    before. 0 (the default) draws exactly the stream of the recipes trained before it existed.
    ``mr_faint_share``: the share of faint MR lesions (``lesions.insert_lesion``; None: the default mix).
    ``anatomy_aug``: augmented crops are also warped by a smooth random displacement field and, on MR,
    multiplied by a smooth bias field (``vary_anatomy``; a study option, ``input_pilot.py`` round 4).
    False (the default) draws exactly the stream of the recipes trained before it existed.
    ``mirror``: one more image channel, the centre slice mirrored about the volume's mid-sagittal plane
    (``mirror_plane_coords``), the synthetic lesion included (a study option, ``input_pilot.py`` round 5).
    It draws no random numbers, so the other channels are exactly those drawn without it.

    ``volume_label``: label and weight every slice of the slab (``2 * context + 1`` slices), for a 3D
    patch model; otherwise only the centre slice is labelled (2D / 2.5D models).
    """

    def __init__(
        self,
        anatomies: list[Anatomy],
        rng: np.random.Generator,
        crop: int = 128,
        context: int = 0,
        p_lesion: float = 0.7,
        min_pos_px: int = 5,
        augment: bool = True,
        volume_label: bool = False,
        mr_hi_ratio: tuple[float, float] = MR_HI_RATIO,
        bright_share: float = 0.0,
        mr_faint_share: float | None = None,
        anatomy_aug: bool = False,
        mirror: bool = False,
    ) -> None:
        self.anat, self.rng, self.crop, self.context = anatomies, rng, crop, context
        self.mr_hi_ratio = mr_hi_ratio
        self.volume_label = volume_label
        self.p_lesion, self.min_pos_px, self.augment = p_lesion, min_pos_px, augment
        self.by_mod = {m: [a for a in anatomies if a.modality == m] for m in ("CT", "MR")}
        self.by_mod = {m: v for m, v in self.by_mod.items() if v}
        self.avoid = [near_real_lesion(a) for a in anatomies]
        self.organ_slices = [np.flatnonzero(a.organ.sum(axis=(1, 2)) > 200) for a in anatomies]
        self.body_slices = [np.flatnonzero(a.body.sum(axis=(1, 2)) > 200) if a.body is not None
                            else self.organ_slices[i] for i, a in enumerate(anatomies)]
        # hard negatives only matter when lesion-free crops are drawn (not for validation samplers)
        self.border = [organ_border(a) if p_lesion < 1.0 else np.zeros((0, 0, 0), bool) for a in anatomies]
        self.border_slices = [np.flatnonzero(b.sum(axis=(1, 2)) > 50) for b in self.border]
        self.bright_share = bright_share
        self.mr_faint_share = mr_faint_share
        self.anatomy_aug = anatomy_aug
        self.mirror = [mirror_plane_coords(a) for a in anatomies] if mirror else None
        self.bright = [organ_bright(a) if bright_share > 0 and p_lesion < 1.0 else np.zeros((0, 0, 0), bool)
                       for a in anatomies]
        self.bright_slices = [np.flatnonzero(b.sum(axis=(1, 2)) > 20) for b in self.bright]

    def sample(self) -> Crop:
        rng = self.rng
        mods = sorted(self.by_mod)
        mod = mods[int(rng.integers(len(mods)))]
        pool = self.by_mod[mod]
        a = pool[int(rng.integers(len(pool)))]
        ai = self.anat.index(a)
        want = rng.random() < self.p_lesion
        # lesion-free crops come from anywhere in the patient (mediastinum, neck, abdomen, scalp...):
        # otherwise the network never learns that those are not lesions; half of them are centred on
        # the organ's border (hila, diaphragm domes, chest wall; cortex, dura), where the round
        # soft-tissue profiles that look most like lesions are (hard negatives)
        bright = (not want and self.bright_share > 0 and self.bright_slices[ai].size > 0
                  and rng.random() < self.bright_share)
        hard = (not want and not bright and self.border_slices[ai].size > 0
                and rng.random() < HARD_NEGATIVE_SHARE)
        if want:
            z = int(rng.choice(self.organ_slices[ai]))
        elif bright:
            z = int(rng.choice(self.bright_slices[ai]))
        else:
            z = int(rng.choice(self.border_slices[ai] if hard else self.body_slices[ai]))
        c = self.context
        zs = context_slices(z, c, a.image.shape[0])
        slab = a.image[zs].copy()
        organ = a.organ[zs]
        lesion = None
        organ_z = a.organ[z] & ~self.avoid[ai][z]
        if a.modality == "CT":  # centres in aerated lung: a lesion in the mediastinum would be invisible
            organ_z = organ_z & (a.image[z] < -300)
        if not organ_z.any():
            organ_z = a.organ[z]
        pts = np.flatnonzero(organ_z)
        region = a.body[z] if a.body is not None and a.body[z].any() else organ_z
        if hard and self.border[ai][z].any():
            region = self.border[ai][z]
        if bright:
            region = self.bright[ai][z]
        if not want and region.any():
            cy, cx = np.unravel_index(int(rng.choice(np.flatnonzero(region))), region.shape)
        elif pts.size == 0:
            cy, cx = a.image.shape[1] // 2, a.image.shape[2] // 2
        else:
            pick = lesions.pick_center(organ_z[None], rng)
            cy, cx = (pick[1], pick[2]) if pick else np.unravel_index(int(rng.choice(pts)), organ_z.shape)
        if want and pts.size:
            lo, hi = (2.5, 30.0) if a.modality == "CT" else (3.0, 25.0)
            radius = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
            dz = rng.uniform(-0.8, 0.8) * radius / a.spacing[2]
            lesion = lesions.insert_lesion(
                slab, organ, a.spacing, a.modality, rng, center=(c + dz, cy, cx),  # type: ignore[arg-type]
                noise_sd=a.noise_sd, reference=a.reference, radius_mm=radius,
                mr_faint_share=self.mr_faint_share,
            )
        if self.mirror is not None:  # the lesioned centre slice, reflected (lesions near the plane: twice)
            flipped = ndimage.map_coordinates(slab[c], self.mirror[ai], order=1, mode="nearest")
            slab = np.concatenate([slab, flipped[None].astype(slab.dtype)])
        labelled = range(len(zs)) if self.volume_label else (c,)
        label = np.zeros((len(labelled), *slab.shape[1:]), np.float32)
        if lesion is not None:
            ny, nx = lesion.label.shape[1:]
            for i, k in enumerate(labelled):
                zi = k - lesion.z0
                if 0 <= zi < lesion.label.shape[0]:
                    label[i, lesion.y0 : lesion.y0 + ny, lesion.x0 : lesion.x0 + nx] = lesion.label[zi]
        weight = (~a.ignore[zs[list(labelled)]]).astype(np.float32)
        if not self.volume_label:
            label, weight = label[0], weight[0]
        size = self.crop
        big = int(size * 1.5) if self.augment else size
        oy, ox = (rng.integers(-size // 3, size // 3 + 1, 2) if lesion is not None else (0, 0))
        cyy, cxx = int(cy + oy), int(cx + ox)
        img = _extract(self._normalize(a, slab), cyy, cxx, big, 0.0)
        lab = _extract(label, cyy, cxx, big, 0.0)
        wgt = _extract(weight, cyy, cxx, big, 1.0)
        if self.augment:
            img, lab, wgt = self._augment(img, lab, wgt, size, a.modality)
        present = bool(lab.sum() >= self.min_pos_px)
        return Crop(img.astype(np.float32), lab, wgt, present, lesion.kind if lesion is not None else None)

    def _normalize(self, a: Anatomy, slab: np.ndarray) -> np.ndarray:
        """CT: the volume's own percentiles (HU are absolute); MR: ``mr_hi_ratio`` (see ``MR_HI_RATIO``;
        a fixed ratio (k, k) matches the engine's ``organ_scale`` normalisation, which puts the brain's
        median at 1 / k whatever else is in the field of view). The draw is made for MR crops either way,
        as it always was, so a fixed ratio leaves every other random choice of the stream unchanged."""
        if a.modality != "MR":
            return a.normalize(slab)
        return a.normalize(slab, hi=a.reference * float(self.rng.uniform(*self.mr_hi_ratio)))

    def _augment(
        self, img: np.ndarray, lab: np.ndarray, wgt: np.ndarray, size: int, modality: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = self.rng
        ang = np.deg2rad(rng.uniform(-15, 15))
        scale = rng.uniform(0.85, 1.2)
        flip = rng.random() < 0.5
        m = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]]) / scale
        if flip:
            m = m @ np.diag([1.0, -1.0])
        cin = np.array(img.shape[-2:]) / 2.0
        offset = cin - m @ (np.array([size, size]) / 2.0)

        def warp(x: np.ndarray, order: int, cval: float) -> np.ndarray:
            return ndimage.affine_transform(x, m, offset=offset, output_shape=(size, size), order=order,
                                            mode="constant", cval=cval)

        out, lab, wgt = _warp_crop(img, lab, wgt, warp)
        if self.anatomy_aug:
            out, lab, wgt = vary_anatomy(out, lab, wgt, modality, rng)
        if modality == "MR" and rng.random() < 0.7:
            out = np.clip(out, 0, 1) ** rng.uniform(0.8, 1.25)
        out = out * rng.uniform(0.93, 1.07) + rng.uniform(-0.03, 0.03)
        if rng.random() < 0.2:
            out = ndimage.gaussian_filter(out, (0, 0.6, 0.6))
        return out.astype(np.float32), lab, wgt


def batch(sampler: CropSampler, n: int, balance: bool = False) -> list[Crop]:
    """``n`` crops; with ``balance`` half of them have a lesion present and half not (classifier)."""
    if not balance:
        return [sampler.sample() for _ in range(n)]
    pos: list[Crop] = []
    neg: list[Crop] = []
    while len(pos) < n // 2 or len(neg) < n - n // 2:
        c = sampler.sample()
        lab_any = c.label.sum() > 0
        if c.present and len(pos) < n // 2:
            pos.append(c)
        elif not lab_any and len(neg) < n - n // 2 and c.weight.min() > 0:
            neg.append(c)
    return pos + neg
