"""What a query returns, the same whichever protocol answered (QIDO-RS or C-FIND).

Why plain records instead of pydicom datasets: the dock's table, ``pacs query --json`` and the tests
read the same few fields, and DICOMweb JSON and C-FIND identifiers spell them differently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip()) if value not in (None, "") else None
    except ValueError:
        return None


@dataclass
class QueryFilters:
    """Study search criteria. ``patient`` matches the name (``*`` wildcards; a plain word matches
    anywhere in it) or, failing that, is tried as the exact patient ID; ``date`` is YYYYMMDD or a
    range YYYYMMDD-YYYYMMDD (either end may be open); ``modality`` is e.g. CT, MR or SEG."""

    patient: str = ""
    patient_id: str = ""
    modality: str = ""
    date: str = ""
    study_uid: str = ""
    accession: str = ""
    limit: int = 200

    def patient_pattern(self) -> str:
        p = self.patient.strip()
        if not p or "*" in p or "?" in p:
            return p
        return f"*{p}*"


@dataclass
class StudyRecord:
    study_uid: str
    patient_name: str = ""
    patient_id: str = ""
    study_date: str = ""
    description: str = ""
    accession: str = ""
    modalities: list[str] = field(default_factory=list)
    n_series: int | None = None
    n_instances: int | None = None

    @classmethod
    def from_dataset(cls, ds: Any) -> StudyRecord:
        mods = ds.get("ModalitiesInStudy", "")
        modalities = (
            [str(m) for m in mods]
            if isinstance(mods, list) or type(mods).__name__ == "MultiValue"
            else [m for m in _text(mods).split("\\") if m]
        )
        return cls(
            study_uid=_text(ds.get("StudyInstanceUID")),
            patient_name=_text(ds.get("PatientName")),
            patient_id=_text(ds.get("PatientID")),
            study_date=_text(ds.get("StudyDate")),
            description=_text(ds.get("StudyDescription")),
            accession=_text(ds.get("AccessionNumber")),
            modalities=modalities,
            n_series=_int(ds.get("NumberOfStudyRelatedSeries")),
            n_instances=_int(ds.get("NumberOfStudyRelatedInstances")),
        )


@dataclass
class SeriesRecord:
    series_uid: str
    study_uid: str = ""
    modality: str = ""
    description: str = ""
    number: int | None = None
    n_instances: int | None = None

    @classmethod
    def from_dataset(cls, ds: Any, study_uid: str = "") -> SeriesRecord:
        return cls(
            series_uid=_text(ds.get("SeriesInstanceUID")),
            study_uid=_text(ds.get("StudyInstanceUID")) or study_uid,
            modality=_text(ds.get("Modality")),
            description=_text(ds.get("SeriesDescription")),
            number=_int(ds.get("SeriesNumber")),
            n_instances=_int(ds.get("NumberOfSeriesRelatedInstances")),
        )


__all__ = ["QueryFilters", "SeriesRecord", "StudyRecord"]
