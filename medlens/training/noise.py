"""Simulated acquisition noise: low-dose CT and Rician MR.

Why image-domain CT noise: a sinogram-domain Poisson simulation (project, add Poisson counts, filtered
back-project) costs seconds per slice on a CPU, too slow to draw fresh noise for every training patch.
The approximation keeps the two properties a denoiser must cope with: quantum noise variance grows with
the attenuation along the rays (here: with the smoothed local attenuation, Poisson-like) and
filtered-back-projection noise is spatially correlated (here: white noise band-passed by a
difference of Gaussians, mixed with some white noise). The *measured* standard deviation of the added
noise is what the "HU SD" level refers to.

MR magnitude noise is Rician: Gaussian noise on the real and imaginary channels, then the modulus.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def ct_noise(
    hu: np.ndarray,
    sd_hu: float,
    rng: np.random.Generator,
    *,
    correlation_px: float | None = None,
    white_fraction: float | None = None,
) -> np.ndarray:
    """A noise field (same shape as the 2D/3D ``hu`` slice stack, applied per slice) of SD ~``sd_hu``.

    ``correlation_px``: the grain size of the correlated part (random 0.7-1.6 px when None);
    ``white_fraction``: share of uncorrelated noise (random 0.1-0.4 when None).
    """
    corr = float(rng.uniform(0.7, 1.6)) if correlation_px is None else correlation_px
    white = float(rng.uniform(0.1, 0.4)) if white_fraction is None else white_fraction
    sigma = (0,) * (hu.ndim - 2) + (corr, corr)
    sigma2 = (0,) * (hu.ndim - 2) + (corr * 3.0, corr * 3.0)
    w = rng.standard_normal(hu.shape).astype(np.float32)
    band = ndimage.gaussian_filter(w, sigma) - ndimage.gaussian_filter(w, sigma2)
    band /= band.std() + 1e-8
    field = np.sqrt(1 - white) * band + np.sqrt(white) * rng.standard_normal(hu.shape).astype(np.float32)
    # Poisson-like: variance proportional to the local attenuation (water = 1, air ~ 0, bone > 1).
    atten = np.clip((ndimage.gaussian_filter(hu, (0,) * (hu.ndim - 2) + (8, 8)) + 1000.0) / 1000.0, 0.05, 3.0)
    scale = np.sqrt(0.3 + 0.7 * atten)
    out = field * scale
    body = hu > -500
    ref = out[body].std() if body.sum() > 100 else out.std()
    return (out * (sd_hu / (ref + 1e-8))).astype(np.float32)


def rician(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of ``image`` plus complex Gaussian noise of SD ``sigma`` per channel."""
    n1 = rng.standard_normal(image.shape).astype(np.float32) * sigma
    n2 = rng.standard_normal(image.shape).astype(np.float32) * sigma
    return np.sqrt((image + n1) ** 2 + n2**2).astype(np.float32)


def mr_reference(image: np.ndarray) -> float:
    """The intensity MR noise levels are quoted against: median of the foreground (above 10 % of p99)."""
    p99 = float(np.percentile(image, 99))
    fg = image[image > 0.1 * p99]
    return float(np.median(fg)) if fg.size else p99


def add_noise(
    clean: np.ndarray, modality: str, level: float, ref: float, seed: int
) -> tuple[np.ndarray, float]:
    """Noisy copy of the 2D slice ``clean`` and the noise sigma in image units.

    ``level`` is the CT noise SD in HU, or the Rician sigma as a fraction of ``ref`` (the MR volume's
    :func:`mr_reference`). Seeded, so the denoiser's validation and its evaluation are repeatable.
    """
    rng = np.random.default_rng(seed)
    if modality == "CT":
        return clean + ct_noise(clean[None], level, rng)[0], level
    sigma = level * ref
    return rician(clean, sigma, rng), sigma


def data_range(modality: str, volume: np.ndarray) -> tuple[float, float]:
    """The intensity window PSNR / SSIM are computed on: HU -1000..1000, MR 0..p99.5 of ``volume``."""
    return (-1000.0, 1000.0) if modality == "CT" else (0.0, float(np.percentile(volume, 99.5)))
