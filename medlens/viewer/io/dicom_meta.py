"""Describing a series from its headers: :class:`VolumeMeta` and :class:`SeriesInfo` fields.

Why shared: classic series, enhanced objects and 2D images must describe themselves identically
(the study browser sorts and groups on these strings), so there is one place that maps tags to
fields, including the defaults a viewer relies on (HU for CT, the first window if several).
"""

from __future__ import annotations

from pathlib import Path

from ..model import VolumeMeta
from .dicom_headers import FrameHeader
from .series_info import SeriesInfo

# SOP classes that hold no image a viewer could show, and how to name them to a user.
NON_IMAGE_SOP_CLASSES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.66.4": "a DICOM SEG (segmentation)",
    "1.2.840.10008.5.1.4.1.1.66.5": "a DICOM surface segmentation",
    "1.2.840.10008.5.1.4.1.1.66": "DICOM raw data",
    "1.2.840.10008.5.1.4.1.1.66.1": "a DICOM spatial registration",
    "1.2.840.10008.5.1.4.1.1.66.3": "a DICOM deformable registration",
    "1.2.840.10008.5.1.4.1.1.481.2": "an RT Dose (dose grid)",
    "1.2.840.10008.5.1.4.1.1.481.3": "an RT Structure Set (contours)",
    "1.2.840.10008.5.1.4.1.1.481.5": "an RT Plan",
    "1.2.840.10008.5.1.4.1.1.481.8": "an RT Ion Plan",
    "1.2.840.10008.5.1.4.1.1.104.1": "an encapsulated PDF",
    "1.2.840.10008.5.1.4.1.1.104.2": "an encapsulated CDA document",
    "1.2.840.10008.1.3.10": "a DICOMDIR (media directory)",
}
_NON_IMAGE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("1.2.840.10008.5.1.4.1.1.88.", "a DICOM SR (structured report)"),
    ("1.2.840.10008.5.1.4.1.1.11.", "a DICOM presentation state"),
    ("1.2.840.10008.5.1.4.1.1.9.", "a DICOM waveform"),
)


def non_image_reason(header: FrameHeader) -> str | None:
    """Why this file is not an image, or None when it is one."""
    sop = header.sop_class
    reason = NON_IMAGE_SOP_CLASSES.get(sop)
    if reason is None:
        reason = next((text for prefix, text in _NON_IMAGE_PREFIXES if sop.startswith(prefix)), None)
    if reason is None:
        modality = header.text("Modality").upper()
        reason = {"SEG": "a DICOM SEG (segmentation)", "RTSTRUCT": "an RT Structure Set (contours)",
                  "SR": "a DICOM SR (structured report)", "RTPLAN": "an RT Plan",
                  "RTDOSE": "an RT Dose (dose grid)", "PR": "a DICOM presentation state",
                  "KO": "a DICOM key object selection"}.get(modality)
    if reason is None and (not header.has_pixels or not header.rows or not header.cols):
        reason = "a DICOM object without pixel data"
    if reason is None:
        return None
    what = "image series" if header.integer("NumberOfFrames") or header.rows else "image"
    return f"is {reason}, not an {what}"


def first(value: object) -> float | None:
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return None if value is None else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def window_of(header: FrameHeader) -> tuple[float, float] | None:
    centre = first(header.values.get("WindowCenter"))
    width = first(header.values.get("WindowWidth"))
    if centre is None or width is None or width <= 0:
        return None
    return (centre, width)


def series_number(header: FrameHeader) -> int | None:
    return header.integer("SeriesNumber")


def meta_from_header(header: FrameHeader, mirror: float | None = None) -> VolumeMeta:
    """Series-level metadata from a representative header (after MONOCHROME1 handling)."""
    modality = header.text("Modality").upper()
    rescaled = "RescaleSlope" in header.values or "RescaleIntercept" in header.values
    window = window_of(header)
    if window is not None and mirror is not None:
        window = (mirror - window[0], window[1])
    units = "HU" if modality == "CT" else ("" if not rescaled else header.text("RescaleType"))
    if units == "US":  # "unspecified"
        units = ""
    return VolumeMeta(
        modality=modality,
        units=units,
        rescale_applied=rescaled,
        window=window,
        photometric="MONOCHROME2" if header.text("PhotometricInterpretation").startswith("MONO")
        else header.text("PhotometricInterpretation"),
        series_description=header.text("SeriesDescription"),
        series_uid=header.text("SeriesInstanceUID"),
        study_uid=header.text("StudyInstanceUID"),
        frame_of_reference_uid=header.text("FrameOfReferenceUID"),
        study_description=header.text("StudyDescription"),
        study_date=header.text("StudyDate"),
        patient_name=header.text("PatientName"),
        patient_id=header.text("PatientID"),
        patient_sex=header.text("PatientSex"),
        patient_birth_date=header.text("PatientBirthDate"),
        institution=header.text("InstitutionName"),
        body_part=header.text("BodyPartExamined"),
        series_number=series_number(header),
    )


def info_from_meta(key: str, meta: VolumeMeta, size_xyz: tuple[int, int, int], kind: str,
                   files: list[Path], warnings: list[str]) -> SeriesInfo:
    return SeriesInfo(
        key=key,
        series_uid=meta.series_uid,
        study_uid=meta.study_uid,
        modality=meta.modality,
        description=meta.series_description,
        series_number=meta.series_number,
        patient_name=meta.patient_name,
        study_date=meta.study_date,
        size_xyz=size_xyz,
        n_slices=size_xyz[2],
        kind=kind,
        files=files,
        warnings=warnings,
    )


__all__ = ["meta_from_header", "non_image_reason", "window_of"]
