"""Single 2D images (CR, DX, MG, US, secondary captures) and multi-frame images without geometry.

Why a one-slice volume: the rest of the viewer only knows volumes, and a projection radiograph is
simply a volume one slice deep, flagged ``meta.is_2d`` so the UI shows one view instead of three.
Multi-frame images without per-frame positions (US cine loops, NM, stripped enhanced objects) load
all their frames stacked along z with a warning that z is the frame index, not a distance.
Colour images (RGB/YBR/palette ultrasound) are shown as their luminance, with a warning.
"""

from __future__ import annotations

import numpy as np

from ..model import Geometry
from .dicom_headers import FrameHeader
from .dicom_meta import info_from_meta, meta_from_header
from .dicom_series import truncation_error
from .pixel_loader import LoadPlan, Slot, decide_output
from .series_info import SeriesInfo
from .zip_input import ref_path

_COLOR = ("RGB", "YBR", "PALETTE")


def pixel_spacing_2d(header: FrameHeader, warnings: list[str]) -> tuple[float, float]:
    """(row step, column step) in mm: PixelSpacing, else ImagerPixelSpacing (at the detector)."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = header.vector(keyword, 2)
        if value is not None and min(value) > 0:
            if keyword == "ImagerPixelSpacing":
                warnings.append("spacing from ImagerPixelSpacing (at the detector; not corrected for "
                                "magnification)")
            return (value[0], value[1])
    warnings.append("no pixel spacing in the header; 1 mm assumed (measurements are in pixels)")
    return (1.0, 1.0)


def build_2d(header: FrameHeader, errors: list[str], key: str | None = None) -> SeriesInfo:
    warnings: list[str] = []
    err = truncation_error(header)
    if err:
        errors.append(err)
        warnings.append(err)
    photometric = header.text("PhotometricInterpretation") or "MONOCHROME2"
    color = (header.integer("SamplesPerPixel", 1) or 1) > 1 or photometric.startswith(_COLOR)
    if color:
        warnings.append(f"colour image ({photometric}) shown as grayscale luminance")
    n = header.n_frames
    if n > 1:
        warnings.append(f"{n} frames without per-frame positions stacked along z (z is the frame "
                        "index, not a distance)")
    row_step, col_step = pixel_spacing_2d(header, warnings)
    orientation = header.orientation
    if orientation is not None:
        row = np.asarray(orientation[:3], float)
        col = np.asarray(orientation[3:], float)
        direction = np.column_stack([row, col, np.cross(row, col)])
        if abs(np.linalg.det(direction)) < 0.5:
            direction = np.eye(3)
    else:
        direction = np.eye(3)
    origin = header.position or (0.0, 0.0, 0.0)
    dz = header.number("SliceThickness") or 1.0
    geometry = Geometry((col_step, row_step, dz if dz > 0 else 1.0), origin, direction)
    slope = header.number("RescaleSlope", 1.0) or 1.0
    intercept = header.number("RescaleIntercept", 0.0) or 0.0
    slots: list[Slot | None] = [Slot(header, i, slope, intercept) for i in range(n)]
    if color:
        dtype, check, mirror = np.dtype(np.int16), False, None
    else:
        dtype, check, mirror = decide_output(slots, photometric)
    meta = meta_from_header(header, mirror)
    if color:
        meta.photometric = "MONOCHROME2"
    meta.is_2d = True
    meta.sop_instance_uids = [header.text("SOPInstanceUID")] * n
    meta.source_files = [str(ref_path(header.ref))] * n
    meta.warnings = list(warnings)
    plan = LoadPlan(slots, header.rows, header.cols, geometry, meta, dtype, check, mirror, color)
    kind = "dicom-2d"
    info = info_from_meta(key or header.text("SOPInstanceUID") or str(ref_path(header.ref)), meta,
                          (header.cols, header.rows, n), kind, [ref_path(header.ref)], warnings)
    info.frames = plan
    return info


__all__ = ["build_2d", "pixel_spacing_2d"]
