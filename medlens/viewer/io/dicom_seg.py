"""DICOM Segmentation objects: a :class:`LabelMap` to a SEG file and back onto its series.

Why DICOM SEG: it is what a PACS archives and what other viewers open next to the images; a NIfTI
mask would lose which slices it belongs to. Writing goes through highdicom (it knows the IOD);
each label becomes a segment that keeps its name, its colour (as CIELab, via highdicom's colour
helper), and its original label value (in the segment's TrackingID, ``medlens-label-<value>``), so
a round trip gives back the same voxels and label table. AI output is marked AUTOMATIC with the
algorithm's name; edited results MANUAL.

Reading checks the SEG belongs to the volume (referenced series and frame of reference) and maps
each frame to its slice by the SOP instance it was derived from, or, failing that, by its plane
position — so a SEG made by another tool that only records positions still lands on the right slice.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..model import Label, LabelMap, Volume
from .errors import LoadError

_TRACKING = re.compile(r"^medlens-label-(\d+)$")


def source_datasets(source: Volume, what: str = "DICOM SEG") -> tuple[list[Any], list[int]]:
    """Headers of the source slices (z order) and which output slice each is; ``what`` names the
    object being written (a SEG or an SR) in the errors."""
    import pydicom

    files = source.meta.source_files
    if not files or len(files) != source.array.shape[0]:
        raise LoadError(f"{what} needs a volume read from a DICOM series (its source files are unknown)")
    datasets, slices = [], []
    for k, f in enumerate(files):
        if not f:
            continue  # a zero-filled gap: no instance to reference
        try:
            datasets.append(pydicom.dcmread(f, stop_before_pixels=True))
        except Exception as exc:
            raise LoadError(f"{f}: cannot read the source slice for the {what} ({exc})") from exc
        slices.append(k)
    if not datasets:
        raise LoadError(f"{what}: the volume has no source slices to reference")
    return datasets, slices


def write_dicom_seg(
    label_map: LabelMap,
    source: Volume,
    out_path: str | Path,
    *,
    algorithm_name: str | None = None,
    manual: bool = False,
) -> Path:
    """Write ``label_map`` (on ``source``'s grid) as a DICOM SEG referencing ``source``'s instances."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    from ... import __version__

    if label_map.array.shape != source.array.shape:
        raise ValueError(
            f"label map shape {label_map.array.shape} differs from the volume's {source.array.shape}"
        )
    datasets, slices = source_datasets(source)
    array = np.asarray(label_map.array)[slices]
    present = [int(v) for v in np.unique(array) if v != 0]
    table = {lab.value: lab for lab in label_map.labels}
    values = sorted(set(present) | {v for v in table if v != 0})
    if not values:
        raise ValueError("the label map is empty: nothing to write as a DICOM SEG")
    dropped = np.asarray(label_map.array)[[k for k in range(source.array.shape[0]) if k not in set(slices)]]
    if dropped.size and dropped.any():
        raise ValueError("labels lie on slices that have no source instance (gaps); cannot reference them")
    algorithm_type = (
        hd.seg.SegmentAlgorithmTypeValues.MANUAL if manual else hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
    )
    algorithm = (
        None
        if manual
        else hd.AlgorithmIdentificationSequence(
            name=algorithm_name or "MedLens", version=__version__, family=codes.cid7162.ArtificialIntelligence
        )
    )
    descriptions = []
    segment_of = np.zeros(max(values) + 1, np.uint16)
    for number, value in enumerate(values, start=1):
        lab = table.get(value, Label(value, f"label {value}"))
        segment_of[value] = number
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=(lab.name or f"label {value}")[:64],
                segmented_property_category=codes.SCT.Tissue,
                segmented_property_type=codes.SCT.Tissue,
                algorithm_type=algorithm_type,
                algorithm_identification=algorithm,
                tracking_uid=hd.UID(),
                tracking_id=f"medlens-label-{value}",
                display_color=hd.color.CIELabColor.from_rgb(*(int(c) for c in lab.color)),
            )
        )
    seg = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=segment_of[array],  # label values -> consecutive segment numbers
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=900,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="MedLens",
        manufacturer_model_name="MedLens",
        software_versions=__version__,
        device_serial_number="0",
        series_description=(label_map.name or "segmentation")[:64],
        content_label="MANUAL" if manual else "AI",
        content_description=(f"{'Edited' if manual else 'AI'} segmentation: {label_map.name}")[:64],
    )
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(out, enforce_file_format=True)
    return out


def _frame_value(item: Any, keyword: str) -> Any:
    seq = item.get(keyword)
    return seq[0] if seq else None


def _referenced_sop(frame_item: Any) -> str:
    deriv = _frame_value(frame_item, "DerivationImageSequence")
    if deriv is None:
        return ""
    src = _frame_value(deriv, "SourceImageSequence")
    return str(getattr(src, "ReferencedSOPInstanceUID", "")) if src is not None else ""


def _referenced_series(ds: Any) -> set[str]:
    return {
        str(item.SeriesInstanceUID)
        for item in ds.get("ReferencedSeriesSequence", [])
        if "SeriesInstanceUID" in item
    }


def read_dicom_seg(path: str | Path, volume: Volume) -> LabelMap:
    """Load a DICOM SEG as a label map on ``volume``'s grid (see the module docstring)."""
    import pydicom
    from highdicom.color import CIELabColor

    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise LoadError(f"{path}: not a readable DICOM file ({exc})") from exc
    if str(ds.get("Modality", "")) != "SEG" or "SegmentSequence" not in ds:
        raise LoadError(f"{path}: not a DICOM Segmentation")
    meta = volume.meta
    for_uid = str(ds.get("FrameOfReferenceUID", ""))
    if for_uid and meta.frame_of_reference_uid and for_uid != meta.frame_of_reference_uid:
        raise LoadError(
            f"{Path(path).name}: this segmentation belongs to another frame of reference "
            "(a different scan or patient position) than the series shown"
        )
    series = _referenced_series(ds)
    if series and meta.series_uid and meta.series_uid not in series:
        raise LoadError(
            f"{Path(path).name}: this segmentation was made on another series "
            f"({', '.join(sorted(series))}), not on {meta.series_uid}"
        )
    nz, ny, nx = volume.array.shape
    if (int(ds.Rows), int(ds.Columns)) != (ny, nx):
        raise LoadError(
            f"{Path(path).name}: segmentation frames are {ds.Columns}x{ds.Rows}, the series is {nx}x{ny}"
        )

    # segments: number -> (label value, name, colour)
    labels: list[Label] = []
    value_of: dict[int, int] = {}
    for item in ds.SegmentSequence:
        number = int(item.SegmentNumber)
        match = _TRACKING.match(str(item.get("TrackingID", "")))
        value = int(match.group(1)) if match else number
        value_of[number] = value
        color = (255, 0, 0)
        if "RecommendedDisplayCIELabValue" in item:
            rgb = CIELabColor.from_dicom_value(list(item.RecommendedDisplayCIELabValue)).to_rgb()
            color = tuple(int(c) for c in rgb)  # type: ignore[assignment]
        labels.append(Label(value, str(item.get("SegmentLabel", f"segment {number}")), color))
    dtype = np.uint8 if max(value_of.values(), default=0) < 256 else np.uint16

    frames = ds.pixel_array
    if frames.ndim == 2:
        frames = frames[np.newaxis]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence", [])
    if len(per_frame) != len(frames):
        raise LoadError(f"{Path(path).name}: {len(frames)} frames but {len(per_frame)} frame descriptions")
    slice_of_sop = {uid: k for k, uid in enumerate(meta.sop_instance_uids) if uid}
    out = np.zeros((nz, ny, nx), dtype)
    for i, item in enumerate(per_frame):
        k = slice_of_sop.get(_referenced_sop(item))
        if k is None:
            k = _slice_by_position(item, volume)
        if k is None:
            raise LoadError(
                f"{Path(path).name}: frame {i + 1} matches no slice of this series "
                "(neither by referenced instance nor by position)"
            )
        ident = _frame_value(item, "SegmentIdentificationSequence")
        number = int(ident.ReferencedSegmentNumber) if ident is not None else 1
        mask = frames[i] > 0
        out[k][mask] = value_of.get(number, number)
    return LabelMap(
        out,
        volume.geometry,
        sorted(labels, key=lambda lab: lab.value),
        name=str(ds.get("SeriesDescription", "")) or "segmentation",
    )


def _slice_by_position(item: Any, volume: Volume, tol_mm: float = 0.01) -> int | None:
    plane = _frame_value(item, "PlanePositionSequence")
    if plane is None or "ImagePositionPatient" not in plane:
        return None
    ijk = volume.lps_to_index([float(v) for v in plane.ImagePositionPatient])
    k = round(float(ijk[2]))
    if not 0 <= k < volume.array.shape[0]:
        return None
    in_plane_ok = abs(ijk[0]) < 0.5 and abs(ijk[1]) < 0.5
    off_mm = abs(ijk[2] - k) * volume.spacing[2]
    return k if in_plane_ok and off_mm <= max(tol_mm, 0.05 * volume.spacing[2]) else None


__all__ = ["read_dicom_seg", "write_dicom_seg"]
