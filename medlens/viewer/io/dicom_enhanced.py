"""Enhanced (multi-frame) CT/MR/PET: one file, per-frame functional groups.

Why pydicom here and not the fast walker: the geometry lives in nested sequences
(PlanePositionSequence per frame; PlaneOrientation, PixelMeasures and PixelValueTransformation
usually in the shared groups). There is one such file per series, so parsing it fully is cheap.
Frames are then stacked with exactly the same rules as a classic series (``slice_geometry``).
Pixels of native files are still read straight from the file offset, frame by frame.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .dicom_2d import build_2d
from .dicom_headers import FrameHeader, read_full_dataset
from .dicom_meta import first, info_from_meta, meta_from_header
from .dicom_series import truncation_error
from .pixel_loader import LoadPlan, Slot, decide_output
from .series_info import SeriesInfo
from .slice_geometry import orientation_key, stack
from .zip_input import ref_path


def _group(ds: Any, shared: Any, frame_items: Any, index: int, name: str) -> Any:
    """The first item of functional group ``name`` for a frame (per-frame wins over shared)."""
    for source in (frame_items[index] if frame_items is not None and index < len(frame_items) else None,
                   shared):
        if source is not None and name in source and len(source[name].value):
            return source[name].value[0]
    return None


def build_enhanced(header: FrameHeader, errors: list[str]) -> SeriesInfo:
    ds = header.dataset
    if ds is None:
        ds = read_full_dataset(header.ref, stop_before_pixels=True)
    header.dataset = None  # do not keep a stop-before-pixels dataset: decoding needs the full one
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    n = header.n_frames
    positions: list[tuple[float, ...] | None] = []
    orientations: list[tuple[float, ...]] = []
    slopes: list[tuple[float, float]] = []
    for i in range(n):
        pos_item = _group(ds, shared, per_frame, i, "PlanePositionSequence")
        ori_item = _group(ds, shared, per_frame, i, "PlaneOrientationSequence")
        pix_item = _group(ds, shared, per_frame, i, "PixelValueTransformationSequence")
        ipp = getattr(pos_item, "ImagePositionPatient", None) if pos_item is not None else None
        iop = getattr(ori_item, "ImageOrientationPatient", None) if ori_item is not None else None
        positions.append(tuple(float(v) for v in ipp) if ipp else None)
        orientations.append(tuple(float(v) for v in iop) if iop else ())
        slope = float(getattr(pix_item, "RescaleSlope", 1) or 1) if pix_item is not None else \
            (header.number("RescaleSlope", 1.0) or 1.0)
        intercept = float(getattr(pix_item, "RescaleIntercept", 0) or 0) if pix_item is not None else \
            (header.number("RescaleIntercept", 0.0) or 0.0)
        slopes.append((slope, intercept))
    if any(p is None for p in positions) or not all(orientations):
        info = build_2d(header, errors, key=header.text("SeriesInstanceUID") or None)
        info.kind = "dicom-enhanced"
        info.warnings.append("enhanced object without per-frame plane positions: frames are not placed "
                             "in patient space")
        info.frames.meta.warnings = list(info.warnings)
        info.frames.meta.is_2d = False
        return info

    warnings: list[str] = []
    err = truncation_error(header)
    if err:
        errors.append(err)
        warnings.append(err)
    counts = Counter(orientation_key(o) for o in orientations)
    main_orientation, _ = counts.most_common(1)[0]
    chosen = [i for i in range(n) if orientation_key(orientations[i]) == main_orientation]
    if len(chosen) < n:
        warnings.append(f"{n - len(chosen)} frame(s) with another orientation left out (localisers?)")
    measures = _group(ds, shared, per_frame, chosen[0], "PixelMeasuresSequence")
    spacing = getattr(measures, "PixelSpacing", None) if measures is not None else None
    thickness = getattr(measures, "SliceThickness", None) if measures is not None else None
    if not spacing:
        spacing = (1.0, 1.0)
        warnings.append("no PixelSpacing in the functional groups; 1 mm assumed")
    layout = stack(
        [positions[i] for i in chosen],  # type: ignore[misc]
        orientations[chosen[0]],
        (float(spacing[0]), float(spacing[1])),
        tie_break=chosen,
        labels=[f"frame {i + 1}" for i in chosen],
        fallback_thickness=float(thickness) if thickness else None,
    )
    warnings.extend(layout.warnings)
    slots: list[Slot | None] = [
        None if j is None else Slot(header, chosen[j], *slopes[chosen[j]]) for j in layout.order
    ]
    photometric = header.text("PhotometricInterpretation")
    dtype, check, mirror = decide_output(slots, photometric)
    meta = meta_from_header(header, mirror)
    voi = _group(ds, shared, per_frame, chosen[0], "FrameVOILUTSequence")
    if voi is not None and meta.window is None:
        centre, width = first(_multi(voi, "WindowCenter")), first(_multi(voi, "WindowWidth"))
        if centre is not None and width:
            meta.window = ((mirror - centre) if mirror is not None else centre, width)
    if any(s is not None and (s.slope, s.intercept) != (1.0, 0.0) for s in slots):
        meta.rescale_applied = True
    meta.sop_instance_uids = [header.text("SOPInstanceUID")] * len(slots)
    meta.source_files = [str(ref_path(header.ref))] * len(slots)
    meta.warnings = list(warnings)
    plan = LoadPlan(slots, header.rows, header.cols, layout.geometry, meta, dtype, check, mirror)
    info = info_from_meta(header.text("SeriesInstanceUID") or header.text("SOPInstanceUID"), meta,
                          (header.cols, header.rows, len(slots)), "dicom-enhanced", [ref_path(header.ref)],
                          warnings)
    info.frames = plan
    return info


def _multi(item: Any, keyword: str) -> list[float] | None:
    value = getattr(item, keyword, None)
    if value is None:
        return None
    try:
        return [float(v) for v in value]
    except TypeError:
        return [float(value)]


__all__ = ["build_enhanced"]
