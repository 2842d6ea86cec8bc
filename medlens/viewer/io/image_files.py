"""NIfTI, NRRD and MetaImage files through SimpleITK (reading zero-copy, writing with geometry).

Why SimpleITK: it already converts NIfTI's RAS-based qform/sform into LPS (DICOM patient space)
and reads NRRD space directions and MetaImage transforms, so every format lands in the one
convention of :mod:`medlens.viewer.model`. Reading wraps the SimpleITK image's buffer
(``Volume.from_sitk``) instead of copying it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..model import LabelMap, Volume, VolumeMeta, array_to_sitk
from .errors import LoadError, one_line
from .series_info import SeriesInfo

IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


def is_image_file(path: str | Path) -> bool:
    name = str(path).lower()
    return name.endswith(IMAGE_SUFFIXES)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def image_file_info(path: Path) -> SeriesInfo:
    """Describe an image file from its header only (no voxels read)."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise LoadError(one_line(path, _sitk_reason(exc))) from None
    size = tuple(reader.GetSize()) + (1,) * (3 - reader.GetDimension())
    warnings: list[str] = []
    if reader.GetNumberOfComponents() != 1:
        warnings.append(f"{reader.GetNumberOfComponents()} components per voxel; only scalar images load")
    info = SeriesInfo(
        key=str(path),
        description=_stem(path),
        size_xyz=(int(size[0]), int(size[1]), int(size[2])),
        n_slices=int(size[2]),
        kind="image-file",
        files=[path],
        warnings=warnings,
    )
    info.frames = path
    return info


def _sitk_reason(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for line in reversed(lines):
        if "Exception" not in line and not line.startswith("/"):
            return line
    return lines[-1] if lines else "unreadable image file"


def read_image_file(path: str | Path) -> Volume:
    """Read a NIfTI (.nii/.nii.gz), NRRD (.nrrd/.nhdr) or MetaImage (.mha/.mhd) file.

    A single DICOM file is accepted too (read as a one-slice volume), so callers that hold one file
    of a series (thumbnails) need not care what kind it is.
    """
    p = Path(path)
    if not is_image_file(p):
        return _read_single_dicom(p)
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        raise LoadError(one_line(p, _sitk_reason(exc))) from None
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise LoadError(one_line(p, f"has {image.GetNumberOfComponentsPerPixel()} components per voxel; "
                                    "only scalar images are supported"))
    if image.GetDimension() not in (2, 3):
        raise LoadError(one_line(p, f"is a {image.GetDimension()}D image; only 2D and 3D are supported"))
    meta = VolumeMeta(series_description=_stem(p), source_files=[str(p)], is_2d=image.GetDimension() == 2)
    return Volume.from_sitk(image, meta)


def _read_single_dicom(path: Path) -> Volume:
    from .loading import load_series
    from .scan import scan

    result = scan(path)
    if not result.series:
        raise LoadError(result.errors[0] if result.errors else one_line(path, "not a DICOM or image file"))
    return load_series(result.series[0])


def write_image_file(volume_or_labelmap: Volume | LabelMap | Any, path: str | Path) -> None:
    """Write a volume or label map as NIfTI/NRRD/MetaImage; the geometry round-trips exactly
    (NIfTI: within its float32 precision)."""
    import SimpleITK as sitk

    p = Path(path)
    if not is_image_file(p):
        raise LoadError(one_line(p, f"unknown image format; use one of {', '.join(IMAGE_SUFFIXES)}"))
    array = np.asarray(volume_or_labelmap.array)
    image = array_to_sitk(array, volume_or_labelmap.geometry)
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        sitk.WriteImage(image, str(p), useCompression=not p.name.lower().endswith((".nhdr", ".mhd")))
    except RuntimeError as exc:
        raise LoadError(one_line(p, _sitk_reason(exc))) from None


__all__ = ["IMAGE_SUFFIXES", "image_file_info", "is_image_file", "read_image_file", "write_image_file"]
