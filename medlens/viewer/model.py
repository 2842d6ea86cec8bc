"""The image model: volumes, label maps and heatmaps on a grid in DICOM patient space (LPS, mm).

Conventions follow SimpleITK so geometry can be compared with it directly and handed to it
without translation:

* ``array`` is indexed ``[z, y, x]`` (slice, row, column);
* ``spacing`` and ``origin`` are given in ``(x, y, z)`` index order, in millimetres;
* ``direction`` is a 3x3 matrix whose *columns* are the LPS unit vectors of the x, y and z index
  axes, so ``lps = origin + direction @ (spacing * (i, j, k))``.

Arrays are never copied without a reason: a ``Volume`` made from a SimpleITK image is a view into
the image's buffer and keeps the image alive through ``owner``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import SimpleITK as sitk

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Geometry:
    """Where a voxel grid sits in patient space (LPS millimetres)."""

    spacing: Vec3 = (1.0, 1.0, 1.0)
    origin: Vec3 = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "spacing", tuple(float(v) for v in self.spacing))
        object.__setattr__(self, "origin", tuple(float(v) for v in self.origin))
        object.__setattr__(self, "direction", tuple(float(v) for v in np.asarray(self.direction).ravel()))
        if len(self.spacing) != 3 or len(self.origin) != 3 or len(self.direction) != 9:
            raise ValueError("geometry needs 3 spacings, 3 origin coordinates and a 3x3 direction")
        if min(self.spacing) <= 0:
            raise ValueError(f"spacing must be positive, got {self.spacing}")

    @property
    def direction_matrix(self) -> np.ndarray:
        """The direction as a 3x3 array; column ``i`` is the LPS direction of index axis ``i``."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def index_to_lps_matrix(self) -> np.ndarray:
        """4x4 homogeneous matrix taking continuous (i, j, k) indices to LPS millimetres."""
        m = np.eye(4)
        m[:3, :3] = self.direction_matrix @ np.diag(self.spacing)
        m[:3, 3] = self.origin
        return m

    def index_to_lps(self, ijk: Sequence[float] | np.ndarray) -> np.ndarray:
        """LPS position (mm) of a continuous index (i, j, k) = (x, y, z); accepts (..., 3) arrays."""
        ijk = np.asarray(ijk, dtype=float)
        return ijk @ (self.direction_matrix @ np.diag(self.spacing)).T + np.asarray(self.origin)

    def lps_to_index(self, lps: Sequence[float] | np.ndarray) -> np.ndarray:
        """Continuous index (i, j, k) of an LPS position; the inverse of :meth:`index_to_lps`."""
        lps = np.asarray(lps, dtype=float) - np.asarray(self.origin)
        inv = np.linalg.inv(self.direction_matrix @ np.diag(self.spacing))
        return lps @ inv.T

    def allclose(self, other: Geometry, atol: float = 1e-3) -> bool:
        """True when both grids place every voxel within ``atol`` mm of each other."""
        return (
            np.allclose(self.spacing, other.spacing, atol=atol)
            and np.allclose(self.origin, other.origin, atol=atol)
            and np.allclose(self.direction, other.direction, atol=1e-6 + atol * 1e-3)
        )


@dataclass
class VolumeMeta:
    """What a reader needs beside the voxels; everything optional so NIfTI and DICOM share it."""

    modality: str = ""
    units: str = ""  # "HU" once CT rescale is applied
    rescale_applied: bool = False
    window: tuple[float, float] | None = None  # (centre, width) from the file, if any
    photometric: str = "MONOCHROME2"  # MONOCHROME1 data is inverted on read and reported as 2
    series_description: str = ""
    series_uid: str = ""
    study_uid: str = ""
    frame_of_reference_uid: str = ""
    study_description: str = ""
    study_date: str = ""
    patient_name: str = ""
    patient_id: str = ""
    patient_sex: str = ""
    patient_birth_date: str = ""
    institution: str = ""
    body_part: str = ""
    series_number: int | None = None
    sop_instance_uids: list[str] = field(default_factory=list)  # in slice order (z), for DICOM SEG refs
    source_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    is_2d: bool = False  # a single projection image (CR/DX/US), not a stack of slices
    complete: bool = True  # False while a progressive load is still filling the array


@dataclass(eq=False)
class Volume:
    """A scalar image in (z, y, x) order on a grid in LPS millimetres.

    ``owner`` holds whatever object owns the memory ``array`` views (a SimpleITK image, a memory
    map); VTK hand-offs are zero-copy too, so dropping the owner early would leave dangling views.
    """

    array: np.ndarray
    geometry: Geometry = field(default_factory=Geometry)
    meta: VolumeMeta = field(default_factory=VolumeMeta)
    owner: Any = None

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"a Volume is 3D (z, y, x); got an array of shape {self.array.shape}")

    # -- shape and geometry ----------------------------------------------------------------
    @property
    def shape_xyz(self) -> tuple[int, int, int]:
        z, y, x = self.array.shape
        return (x, y, z)

    @property
    def spacing(self) -> Vec3:
        return self.geometry.spacing

    @property
    def origin(self) -> Vec3:
        return self.geometry.origin

    @property
    def direction(self) -> np.ndarray:
        return self.geometry.direction_matrix

    def index_to_lps(self, ijk: Sequence[float] | np.ndarray) -> np.ndarray:
        return self.geometry.index_to_lps(ijk)

    def lps_to_index(self, lps: Sequence[float] | np.ndarray) -> np.ndarray:
        return self.geometry.lps_to_index(lps)

    def value_at(self, ijk: Sequence[int]) -> float:
        """Voxel value at integer index (i, j, k) = (x, y, z)."""
        i, j, k = (int(v) for v in ijk)
        return float(self.array[k, j, i])

    def contains_index(self, ijk: Sequence[float]) -> bool:
        x, y, z = self.shape_xyz
        i, j, k = ijk
        return 0 <= i < x and 0 <= j < y and 0 <= k < z

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes)

    # -- derived volumes and SimpleITK interop --------------------------------------------
    def derived(self, array: np.ndarray, **meta_changes: Any) -> Volume:
        """A new volume on the same grid (e.g. a denoised copy); the source is never overwritten."""
        if array.shape != self.array.shape:
            raise ValueError(f"derived array shape {array.shape} differs from {self.array.shape}")
        meta = replace(self.meta, warnings=list(self.meta.warnings), **meta_changes)
        return Volume(array=array, geometry=self.geometry, meta=meta)

    @classmethod
    def from_sitk(cls, image: sitk.Image, meta: VolumeMeta | None = None) -> Volume:
        """Wrap a 3D SimpleITK image without copying its voxels (the image is kept as owner)."""
        import SimpleITK as sitk

        if image.GetDimension() == 2:
            image = sitk.JoinSeries(image)  # a 2D image becomes a one-slice volume
        if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
            raise ValueError("only scalar 2D/3D images are supported")
        array = sitk.GetArrayViewFromImage(image)
        geometry = Geometry(image.GetSpacing(), image.GetOrigin(), image.GetDirection())
        return cls(array=array, geometry=geometry, meta=meta or VolumeMeta(), owner=image)

    def to_sitk(self) -> sitk.Image:
        """A SimpleITK image with this geometry (copies the voxels: SimpleITK owns its buffer)."""
        return array_to_sitk(self.array, self.geometry)


def array_to_sitk(array: np.ndarray, geometry: Geometry) -> sitk.Image:
    """Copy a (z, y, x) array into a SimpleITK image and stamp ``geometry`` on it."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(geometry.direction)
    return image


@dataclass(frozen=True)
class Label:
    """One entry of a label table."""

    value: int
    name: str
    color: tuple[int, int, int] = (255, 0, 0)


@dataclass(eq=False)
class LabelMap:
    """Integer labels on the same grid as the volume they annotate (0 = background)."""

    array: np.ndarray
    geometry: Geometry
    labels: list[Label] = field(default_factory=list)
    name: str = "segmentation"

    def __post_init__(self) -> None:
        if self.array.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"label maps are uint8 or uint16, got {self.array.dtype}")

    @classmethod
    def empty_like(
        cls, volume: Volume, labels: list[Label] | None = None, name: str = "segmentation"
    ) -> LabelMap:
        return cls(np.zeros(volume.array.shape, np.uint8), volume.geometry, labels or [], name)

    def label(self, value: int) -> Label | None:
        return next((lab for lab in self.labels if lab.value == value), None)


@dataclass(eq=False)
class Heatmap:
    """A float32 map (saliency, uncertainty, probability) on the grid of a volume."""

    array: np.ndarray
    geometry: Geometry
    name: str = "heatmap"
    kind: str = "saliency"  # "saliency" | "uncertainty" | "probability"

    def __post_init__(self) -> None:
        if self.array.dtype != np.float32:
            raise ValueError(f"heatmaps are float32, got {self.array.dtype}")
