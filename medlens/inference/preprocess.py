"""Pre-processing steps, each a small function named ``<verb>_<what>``.

* :func:`resample_to_model` / :func:`resample_to_source` - onto the plugin's grid and back;
* :func:`normalize_intensity` / :func:`denormalize_intensity` - the manifest's intensity scheme.

The way back never inverts the way there: it resamples the model-grid result directly onto the
*source* grid (SimpleITK with the source image as reference). The result therefore carries the
source geometry exactly - bit for bit, oblique directions included - whatever the plugin's grid was.
Labels are resampled with nearest neighbour, images and probabilities linearly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from medlens.inference.manifest import Normalization
from medlens.viewer.model import Geometry, Volume, array_to_sitk


@dataclass(frozen=True)
class ModelGrid:
    """The grid a plugin runs on, and the source grid results must return to."""

    source: Geometry
    source_shape: tuple[int, int, int]  # (z, y, x)
    model: Geometry
    model_shape: tuple[int, int, int]  # (z, y, x)

    @property
    def is_identity(self) -> bool:
        return self.source_shape == self.model_shape and self.source == self.model


def _orientation_code(direction: np.ndarray) -> str:
    return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(
        tuple(float(v) for v in direction.ravel())
    )


def resample_to_model(
    volume: Volume,
    spacing: tuple[float, float, float] | None = None,
    orientation: str | None = None,
    *,
    keep_z_spacing: bool = False,
) -> tuple[np.ndarray, ModelGrid]:
    """The volume's voxels on the plugin's grid: reoriented, then resampled to ``spacing`` (linear).

    ``keep_z_spacing`` keeps the slice spacing (2D models run slice by slice and were trained on
    in-plane spacing only). With neither spacing nor orientation to change, the array is returned
    as it is (no copy) and the grid is the identity.
    """
    src_shape = tuple(int(s) for s in volume.array.shape)
    image: sitk.Image | None = None
    if orientation and _orientation_code(volume.geometry.direction_matrix) != orientation:
        image = sitk.DICOMOrient(volume.to_sitk(), orientation)
    if spacing is not None:
        current = image.GetSpacing() if image is not None else volume.geometry.spacing
        target = (spacing[0], spacing[1], current[2]) if keep_z_spacing else tuple(spacing)
        if not np.allclose(current, target, rtol=1e-6, atol=0):
            image = image if image is not None else volume.to_sitk()
            size = [
                max(1, round(n * s / t))
                for n, s, t in zip(image.GetSize(), image.GetSpacing(), target, strict=True)
            ]
            image = sitk.Resample(
                sitk.Cast(image, sitk.sitkFloat32),
                size,
                sitk.Transform(),
                sitk.sitkLinear,
                image.GetOrigin(),
                target,
                image.GetDirection(),
                0.0,
                sitk.sitkFloat32,
            )
    if image is None:
        grid = ModelGrid(volume.geometry, src_shape, volume.geometry, src_shape)  # type: ignore[arg-type]
        return volume.array, grid
    array = sitk.GetArrayFromImage(image)
    model_geometry = Geometry(image.GetSpacing(), image.GetOrigin(), image.GetDirection())
    return array, ModelGrid(volume.geometry, src_shape, model_geometry, tuple(array.shape))  # type: ignore[arg-type]


def resample_to_source(array: np.ndarray, grid: ModelGrid, *, is_label: bool = False) -> np.ndarray:
    """A model-grid array (``(z, y, x)`` or ``(C, z, y, x)``) back on the source grid.

    Nearest neighbour for labels (values stay valid label values), linear otherwise.
    """
    if grid.is_identity:
        return array
    if array.ndim == 4:
        return np.stack([resample_to_source(a, grid, is_label=is_label) for a in array])
    moving = array_to_sitk(array, grid.model)
    reference = sitk.Image([int(s) for s in grid.source_shape[::-1]], sitk.sitkUInt8)
    reference.SetSpacing(grid.source.spacing)
    reference.SetOrigin(grid.source.origin)
    reference.SetDirection(grid.source.direction)
    interpolator = sitk.sitkNearestNeighbor if is_label else sitk.sitkLinear
    out = sitk.Resample(moving, reference, sitk.Transform(), interpolator, 0.0, moving.GetPixelID())
    return sitk.GetArrayFromImage(out)


# -- intensity ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IntensityMap:
    """``normalised = (clip(raw, low, high) - offset) * scale``; kept to undo it for denoising."""

    offset: float
    scale: float
    low: float = -np.inf
    high: float = np.inf


def normalize_intensity(
    array: np.ndarray, norm: Normalization, high: float | None = None
) -> tuple[np.ndarray, IntensityMap]:
    """Apply the manifest's normalisation; returns float32 and the map to undo it. ``high`` replaces
    the percentile's upper bound: k x the organ's median where ``norm.organ_scale`` applies (decided by
    :func:`medlens.inference.runner.normalized_input`, which has the organ)."""
    x = np.asarray(array, dtype=np.float32)
    if norm.kind == "none":
        return x, IntensityMap(0.0, 1.0)
    if norm.kind == "zscore":
        values = x[x != 0] if norm.nonzero and np.any(x != 0) else x
        mean = float(values.mean(dtype=np.float64))
        std = float(values.std(dtype=np.float64)) or 1.0
        imap = IntensityMap(mean, 1.0 / std)
        return ((x - np.float32(mean)) * np.float32(1.0 / std)).astype(np.float32, copy=False), imap
    if norm.kind == "ct_window":
        assert norm.window is not None
        low, high = norm.window
    else:  # percentile
        low, top = (float(v) for v in np.percentile(x, norm.percentiles))
        high = top if high is None else float(high)
        if high <= low:
            high = low + 1.0
    out_lo, out_hi = norm.value_range
    scale = (out_hi - out_lo) / (high - low)
    offset = low - out_lo / scale
    imap = IntensityMap(offset, scale, low, high)
    y = np.clip(x, low, high)
    y -= np.float32(offset)
    y *= np.float32(scale)
    return y, imap


def denormalize_intensity(array: np.ndarray, imap: IntensityMap) -> np.ndarray:
    """Undo :func:`normalize_intensity` (the clip excepted): model units back to the source's."""
    return (np.asarray(array, dtype=np.float32) / np.float32(imap.scale) + np.float32(imap.offset)).astype(
        np.float32, copy=False
    )
