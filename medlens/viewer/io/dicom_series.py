"""Classic DICOM series (one slice per file): grouping, sorting and the load plan.

Why grouping uses geometry too: a SeriesInstanceUID does not promise one grid (scouts, reformats
and "same UID, two orientations" exports exist), so slices are grouped by UID *and* by
rows/columns and rounded ImageOrientationPatient; each group becomes its own series with a key
``<uid>#<n>`` when a UID splits, so nothing is silently mixed into one volume.
"""

from __future__ import annotations

from collections import defaultdict

from .dicom_headers import FrameHeader, native_dtype
from .dicom_meta import info_from_meta, meta_from_header
from .errors import one_line
from .pixel_loader import LoadPlan, Slot, decide_output
from .series_info import SeriesInfo
from .slice_geometry import orientation_key, stack
from .zip_input import ref_path


def is_stack_slice(header: FrameHeader) -> bool:
    """A single-frame image that knows where it is in the patient: part of a stackable series."""
    return (
        header.n_frames == 1
        and not header.functional_groups
        and header.position is not None
        and header.orientation is not None
        and (header.integer("SamplesPerPixel", 1) or 1) == 1
    )


def truncation_error(header: FrameHeader) -> str | None:
    """Cheap check at scan time: does the file hold all the pixel bytes its header promises?"""
    if header.pixel_offset is None or header.file_size is None:
        return None
    need = header.rows * header.cols * native_dtype(header).itemsize * header.n_frames
    have = header.file_size - header.pixel_offset
    if have < need:
        return one_line(ref_path(header.ref), f"truncated pixel data ({max(have, 0)} of {need} bytes)")
    return None


def build_series(headers: list[FrameHeader]) -> tuple[list[SeriesInfo], list[str]]:
    """Group stackable slices into series; returns the series and one-line errors."""
    errors: list[str] = []
    groups: dict[tuple, list[FrameHeader]] = defaultdict(list)
    for h in headers:
        uid = h.text("SeriesInstanceUID") or f"no-series-uid:{ref_path(h.ref).parent}"
        groups[(uid, h.rows, h.cols, orientation_key(h.orientation))].append(h)
    per_uid: dict[str, list[tuple]] = defaultdict(list)
    for gkey in groups:
        per_uid[gkey[0]].append(gkey)
    result: list[SeriesInfo] = []
    for uid, gkeys in per_uid.items():
        gkeys.sort(key=lambda g: (g[1], g[2], g[3]))
        for n, gkey in enumerate(gkeys):
            key = uid if len(gkeys) == 1 else f"{uid}#{n + 1}"
            info = _plan_group(key, groups[gkey], errors)
            if len(gkeys) > 1:
                info.warnings.append(
                    f"series {uid} holds {len(gkeys)} different geometries (size/orientation); "
                    f"this is part {n + 1} ({gkey[2]}x{gkey[1]})"
                )
            result.append(info)
    return result, errors


def _plan_group(key: str, members: list[FrameHeader], errors: list[str]) -> SeriesInfo:
    seen: set[str] = set()
    unique: list[FrameHeader] = []
    duplicates = 0
    for h in members:
        sop = h.text("SOPInstanceUID")
        if sop and sop in seen:
            duplicates += 1
            continue
        seen.add(sop)
        unique.append(h)
    warnings: list[str] = []
    if duplicates:
        warnings.append(f"{duplicates} duplicate file(s) of the same instance ignored")
    for h in unique:
        err = truncation_error(h)
        if err:
            errors.append(err)
            warnings.append(err)
    ref = unique[0]
    spacing = ref.vector("PixelSpacing", 2) or ref.vector("ImagerPixelSpacing", 2)
    if spacing is None:
        spacing = (1.0, 1.0)
        warnings.append("no PixelSpacing in the headers; 1 mm assumed")
    layout = stack(
        [h.position for h in unique],  # type: ignore[misc]
        ref.orientation,  # type: ignore[arg-type]
        spacing,
        tie_break=[h.integer("InstanceNumber", 0) for h in unique],
        labels=[ref_path(h.ref).name for h in unique],
        fallback_thickness=ref.number("SpacingBetweenSlices"),
    )
    warnings.extend(layout.warnings)
    slots: list[Slot | None] = [
        None if i is None else Slot(unique[i], 0, unique[i].number("RescaleSlope", 1.0) or 1.0,
                                    unique[i].number("RescaleIntercept", 0.0) or 0.0)
        for i in layout.order
    ]
    photometric = ref.text("PhotometricInterpretation")
    dtype, check, mirror = decide_output(slots, photometric)
    meta = meta_from_header(ref, mirror)
    meta.sop_instance_uids = [s.header.text("SOPInstanceUID") if s else "" for s in slots]
    meta.source_files = [str(ref_path(s.header.ref)) if s else "" for s in slots]
    meta.warnings = list(warnings)
    plan = LoadPlan(slots, ref.rows, ref.cols, layout.geometry, meta, dtype, check, mirror)
    files = [ref_path(s.header.ref) for s in slots if s is not None]
    info = info_from_meta(key, meta, (ref.cols, ref.rows, len(slots)), "dicom-series", files, warnings)
    info.frames = plan
    return info


__all__ = ["build_series", "is_stack_slice", "truncation_error"]
