"""Synthetic lesions inserted into real anatomy: the training signal for the lesion models.

Why: no labelled multi-subject lesion set installs offline, but real anatomy does. A lesion is
rendered as a random 3D shape on the working grid (1 mm in-plane, thick slices) and blended into
the image, so the models see real lungs, vessels, pleura, cortex and scalp around every lesion.

What varies (priors from general radiology knowledge, never fitted to the four real test lesions;
the faint and extra-axial MR lesions were added in version 0.4 after brain2's faint, partly
extra-axial tumour had been missed - a test-informed addition, stated in the model card):

* size: radius log-uniform 2.5-30 mm (CT nodules to masses), 3-25 mm (MR tumours);
* shape: an ellipsoid (axes x0.7-1.3, random rotation) whose radius is modulated by random lobes
  (smooth bumps to spiculation-like spikes) and by fine 3D noise;
* edges: a soft in-plane border (0.3-1.0 mm) and true partial volume through the slice (the shape is
  evaluated at 5 depths inside each thick slice and averaged);
* placement: centre inside the organ mask, 40 % of the time near its border so lesions touch pleura /
  mediastinum / cortex; the lesion is clipped to the organ (a mass stops at the chest wall), except
  that 30 % of MR lesions may reach 2-6 px beyond the brain mask (dural, extra-axial); vessels it
  overlaps are engulfed;
* appearance CT: solid (-60..+70 HU) or sub-solid (-550..-250 HU), correlated texture 10-50 HU,
  necrotic core in some large ones, the image's own noise level re-added;
* appearance T1 MR (post-contrast): homogeneously enhancing, faintly enhancing (8-35 % brighter than
  the tissue it replaces), ring-enhancing with a dark core, or hypo-intense; some with a hypo-intense
  unlabelled oedema halo; texture and noise added.

The label is the lesion's occupancy >= 0.5 on the slice grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

N_SUB = 5  # depths sampled inside each thick slice for partial volume
EXTRA_AXIAL_SHARE = 0.3  # MR lesions allowed to extend 2-6 px beyond the brain mask (dura, meninges)
MR_KIND_CUTS = (0.3, 0.5, 0.75)  # cumulative shares: enhancing, + faint, + ring; the rest hypo-intense
# MR lesion intensities as multiples of the brain's median (``reference``): enhancing lesions and ring rims,
# hypo-intense lesions (``crop_kinds.py`` measures how much lesion-free brain falls in each range)
MR_ENHANCING_RANGE = (1.15, 2.0)
MR_HYPO_RANGE = (0.45, 0.85)


def mr_kind_cuts(faint_share: float) -> tuple[float, float, float]:
    """Cumulative MR kind shares with ``faint_share`` faint lesions, the other kinds in their default
    ratios (a study knob: ``train.py --mr-faint-share``)."""
    if not 0.0 <= faint_share <= 1.0:
        raise ValueError(f"faint share must be in [0, 1], got {faint_share}")
    enh, faint, ring = MR_KIND_CUTS[0], MR_KIND_CUTS[1] - MR_KIND_CUTS[0], MR_KIND_CUTS[2] - MR_KIND_CUTS[1]
    scale = (1.0 - faint_share) / (1.0 - faint)  # the other kinds shrink together, keeping their ratios
    return (enh * scale, enh * scale + faint_share, enh * scale + faint_share + ring * scale)


@dataclass
class Lesion:
    """A rendered lesion on a block of slices: where, how much of each voxel, and its label."""

    z0: int  # first slice of the block
    y0: int
    x0: int
    alpha: np.ndarray  # (nz, ny, nx) occupancy in [0, 1]
    label: np.ndarray  # (nz, ny, nx) bool
    radius_mm: float
    kind: str


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    return q * np.sign(np.diag(r))


def _lobes(u: np.ndarray, rng: np.random.Generator, irregularity: float) -> np.ndarray:
    """Radius modulation on unit directions ``u`` (..., 3): smooth bumps or sharp spikes."""
    k = int(rng.integers(3, 10))
    v = rng.standard_normal((k, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    kappa = rng.uniform(2.0, 12.0, k)
    amp = rng.uniform(-1.0, 1.0, k) * irregularity
    dots = u @ v.T  # (..., k)
    return 1.0 + (amp * (np.exp(kappa * (dots - 1.0)) - np.exp(-2 * kappa))).sum(-1)


def render_lesion(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    center_zyx: tuple[float, float, float],
    rng: np.random.Generator,
    radius_mm: float,
    slices: tuple[int, int] | None = None,
) -> tuple[int, int, int, np.ndarray]:
    """Occupancy of a random irregular 3D shape on the thick-slice grid.

    ``spacing`` is (x, y, z) mm; ``center_zyx`` in voxel indices. ``slices`` = (first, stop) limits
    the slices rendered (a 2D trainer needs only one to three). Returns (z0, y0, x0, alpha).
    """
    sx, sy, sz = spacing
    rot = _rotation(rng)
    axes = rng.uniform(0.7, 1.3, 3)
    irregularity = float(rng.uniform(0.05, 0.35))
    rough = float(rng.uniform(0.0, 0.12))
    edge = float(rng.uniform(0.3, 1.0))
    extent = radius_mm * 1.9 * max(1.0, axes.max()) + 2.0
    cz, cy, cx = center_zyx
    z_lo = max(0, int(np.floor(cz - extent / sz)))
    z_hi = min(shape[0], int(np.ceil(cz + extent / sz)) + 1)
    if slices is not None:
        z_lo, z_hi = max(z_lo, slices[0]), min(z_hi, slices[1])
    y_lo, y_hi = max(0, int(cy - extent / sy)), min(shape[1], int(cy + extent / sy) + 1)
    x_lo, x_hi = max(0, int(cx - extent / sx)), min(shape[2], int(cx + extent / sx) + 1)
    if z_hi <= z_lo or y_hi <= y_lo or x_hi <= x_lo:
        return z_lo, y_lo, x_lo, np.zeros((0, 0, 0), np.float32)
    # sub-sampled depths inside each slice (partial volume through the slice)
    zs = (np.arange(z_lo, z_hi)[:, None] + (np.arange(N_SUB) + 0.5) / N_SUB - 0.5).ravel()
    ys, xs = np.arange(y_lo, y_hi), np.arange(x_lo, x_hi)
    pz = (zs - cz) * sz
    py = (ys - cy) * sy
    px = (xs - cx) * sx
    P = np.stack(np.meshgrid(pz, py, px, indexing="ij"), axis=-1)[..., ::-1]  # (.., 3) as x, y, z mm
    Q = (P @ rot.T) / axes
    dist = np.linalg.norm(Q, axis=-1)
    u = Q / np.maximum(dist[..., None], 1e-6)
    radius = radius_mm * _lobes(u, rng, irregularity)
    if rough > 0:
        fine = ndimage.gaussian_filter(rng.standard_normal(dist.shape), (N_SUB * 0.6, 1.5, 1.5))
        fine /= fine.std() + 1e-8
        radius = radius * (1.0 + rough * fine)
    f = radius - dist
    alpha = 1.0 / (1.0 + np.exp(-np.clip(f / edge, -30, 30)))
    alpha = alpha.reshape(z_hi - z_lo, N_SUB, len(ys), len(xs)).mean(axis=1)
    return z_lo, y_lo, x_lo, alpha.astype(np.float32)


def _texture(shape: tuple[int, ...], rng: np.random.Generator, grain_px: float) -> np.ndarray:
    t = ndimage.gaussian_filter(rng.standard_normal(shape), (0.0, grain_px, grain_px))
    return (t / (t.std() + 1e-8)).astype(np.float32)


def pick_center(
    organ: np.ndarray, rng: np.random.Generator, avoid: np.ndarray | None = None, border_px: int = 5
) -> tuple[int, int, int] | None:
    """A voxel of ``organ``, never in ``avoid``; 40 % of draws from its rim (touching pleura / cortex)."""
    region = organ if avoid is None else organ & ~avoid
    if rng.random() < 0.4:
        eroded = np.stack([ndimage.binary_erosion(s, iterations=border_px) for s in region])
        rim = region & ~eroded
        if rim.any():
            region = rim
    idx = np.flatnonzero(region)
    if idx.size == 0:
        return None
    return tuple(int(v) for v in np.unravel_index(int(rng.choice(idx)), organ.shape))  # type: ignore[return-value]


def insert_lesion(
    image: np.ndarray,
    organ: np.ndarray,
    spacing: tuple[float, float, float],
    modality: str,
    rng: np.random.Generator,
    *,
    center: tuple[int, int, int] | None = None,
    slices: tuple[int, int] | None = None,
    noise_sd: float = 0.0,
    reference: float = 1.0,
    radius_mm: float | None = None,
    mr_faint_share: float | None = None,
) -> Lesion | None:
    """Blend one random lesion into ``image`` **in place** (only inside ``organ``); returns it.

    ``noise_sd``: the image's own noise (re-added inside the lesion so it does not look too clean);
    ``reference``: MR only, the median brain intensity lesion contrasts are relative to.
    ``mr_faint_share``: MR only, the share of faintly enhancing lesions (None: the default mixture,
    enhancing / faint / ring / hypo-intense 0.3 / 0.2 / 0.25 / 0.25; the other kinds keep their ratios).
    Returns None when the organ is empty or the lesion misses the rendered slices.
    """
    if center is None:
        center = pick_center(organ, rng)
        if center is None:
            return None
    if radius_mm is None:
        lo, hi = (2.5, 30.0) if modality == "CT" else (3.0, 25.0)
        radius_mm = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    z0, y0, x0, alpha = render_lesion(image.shape, spacing, center, rng, radius_mm, slices)
    if alpha.size == 0:
        return None
    nz, ny, nx = alpha.shape
    box = (slice(z0, z0 + nz), slice(y0, y0 + ny), slice(x0, x0 + nx))
    bound = organ[box]
    if modality != "CT" and rng.random() < EXTRA_AXIAL_SHARE:  # dural / extra-axial: may leave the brain
        grow = int(rng.integers(2, 7))
        bound = np.stack([ndimage.binary_dilation(s, iterations=grow) for s in bound])
    org = ndimage.gaussian_filter(bound.astype(np.float32), (0, 0.7, 0.7))
    alpha = alpha * np.clip(org * 1.5, 0, 1)
    if alpha.max() < 0.5:
        return None
    patch = image[box]
    grain = float(rng.uniform(0.8, 3.0))
    tex = _texture(alpha.shape, rng, grain)
    white = rng.standard_normal(alpha.shape).astype(np.float32)
    core = alpha > 0.97  # deep inside: candidate for necrosis / ring
    kind: str
    if modality == "CT":
        if rng.random() < 0.8:
            kind, base = "solid", rng.uniform(-60.0, 70.0)
        else:
            kind, base = "subsolid", rng.uniform(-550.0, -250.0)
        value = base + tex * rng.uniform(10.0, 50.0)
        if kind == "solid" and radius_mm > 12 and rng.random() < 0.3:
            inner = ndimage.binary_erosion(core, iterations=3)
            value = np.where(inner, value - rng.uniform(20.0, 60.0), value)
            kind = "necrotic"
        new = patch * (1 - alpha) + value * alpha
        new = new + alpha * white * noise_sd
    else:
        r = rng.random()
        cut = MR_KIND_CUTS if mr_faint_share is None else mr_kind_cuts(mr_faint_share)
        if r < cut[0]:
            kind = "enhancing"
            value = reference * rng.uniform(*MR_ENHANCING_RANGE) * (1 + tex * rng.uniform(0.03, 0.12))
        elif r < cut[1]:
            # faintly enhancing: a little brighter than the tissue it replaces, whatever that is
            # (cortex is darker than white matter on T1), not than the brain's median
            kind = "faint"
            local = ndimage.gaussian_filter(patch.astype(np.float32), (0, 3.0, 3.0))
            value = local * rng.uniform(1.08, 1.35) * (1 + tex * rng.uniform(0.03, 0.08))
        elif r < cut[2]:
            kind = "ring"
            rim_w = max(1, round(rng.uniform(1.5, 4.0)))
            inner = np.stack([ndimage.binary_erosion(a > 0.5, iterations=rim_w) for a in alpha])
            inner = ndimage.gaussian_filter(inner.astype(np.float32), (0, 0.8, 0.8))
            rim_v = reference * rng.uniform(*MR_ENHANCING_RANGE)
            core_v = reference * rng.uniform(0.35, 0.8)
            value = (rim_v * (1 - inner) + core_v * inner) * (1 + tex * rng.uniform(0.03, 0.1))
        else:
            kind = "hypointense"
            value = reference * rng.uniform(*MR_HYPO_RANGE) * (1 + tex * rng.uniform(0.03, 0.1))
        new = patch * (1 - alpha) + value * alpha
        if rng.random() < 0.3:  # oedema halo: darker, not part of the label
            halo = ndimage.gaussian_filter(alpha, (0, 3.0, 3.0)) * 2.0
            new = new * (1 - np.clip(halo - alpha, 0, 1) * rng.uniform(0.05, 0.2))
        new = new + alpha * white * noise_sd
    image[box] = new.astype(image.dtype)
    return Lesion(z0, y0, x0, alpha, alpha >= 0.5, radius_mm, kind)


def noise_level(image: np.ndarray, tissue: np.ndarray) -> float:
    """Robust SD of the image noise inside ``tissue``: MAD of a 3x3 Laplacian-like residual."""
    resid = image - ndimage.uniform_filter(image, size=(1, 3, 3))
    v = resid[tissue]
    if v.size < 50:
        return 0.0
    return float(1.4826 * np.median(np.abs(v - np.median(v))) * 1.125)
