"""The one small interface both protocols implement (DICOMweb in :mod:`.dicomweb`, DIMSE in :mod:`.dimse`).

Why: retrieve, resume, the CLI and the dock are written once against :class:`PacsBackend`; which
protocol carries the bytes is the server entry's business (:func:`connect`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from .config import ServerConfig, ServerRegistry
from .errors import PacsConfigError
from .records import QueryFilters, SeriesRecord, StudyRecord

# Receives one instance: its pydicom Dataset (with pixels) and, when the protocol delivered it that way,
# the same instance already encoded as a Part 10 file.
InstanceSink = Callable[..., None]
ProgressFn = Callable[[int, int], None]

# The per-instance tags a retrieve needs to lay a series out before its pixels arrive.
HEADER_KEYWORDS = (
    "SOPInstanceUID",
    "SOPClassUID",
    "InstanceNumber",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "WindowCenter",
    "WindowWidth",
    "NumberOfFrames",
    "Modality",
    "SeriesDescription",
    "SeriesNumber",
    "FrameOfReferenceUID",
    "StudyDescription",
    "StudyDate",
    "PatientName",
    "PatientID",
    "PatientSex",
    "PatientBirthDate",
    "BodyPartExamined",
    "InstitutionName",
)


class PacsBackend(Protocol):
    """Query, retrieve and send over one protocol. Every method raises :class:`PacsError` subclasses."""

    server: ServerConfig
    protocol: str  # "dicomweb" | "dimse"

    def echo(self) -> None: ...

    def find_studies(self, filters: QueryFilters) -> list[StudyRecord]: ...

    def find_series(self, study_uid: str, modality: str = "") -> list[SeriesRecord]: ...

    def instance_headers(self, study_uid: str, series_uid: str) -> list[Any]:
        """One header dataset (no pixels) per instance of the series."""
        ...

    def fetch_instances(
        self,
        study_uid: str,
        series_uid: str,
        sop_uids: Sequence[str],
        sink: InstanceSink,
        cancel: threading.Event | None = None,
        *,
        whole_series: bool = False,
        sop_classes: Sequence[str] = (),
    ) -> None:
        """Deliver the listed instances to ``sink(ds, raw=None)`` (from several threads, any order).
        ``whole_series`` says they are the entire series (one request can then bring it all);
        ``sop_classes`` lists their SOP classes (DIMSE proposes storage contexts for them)."""
        ...

    def store(self, paths: Sequence[Path], progress: ProgressFn | None = None) -> int:
        """Send DICOM files; returns how many the server accepted."""
        ...

    def close(self) -> None: ...


def connect(server: ServerConfig, secret: str | None = None, protocol: str | None = None) -> PacsBackend:
    """A backend for ``server``: DICOMweb when it has a URL (unless ``protocol="dimse"``), else DIMSE."""
    want = protocol or ("dicomweb" if server.has_dicomweb else "dimse")
    if want == "dicomweb":
        if not server.has_dicomweb:
            raise PacsConfigError(f"server {server.name!r} has no DICOMweb URL")
        from .dicomweb import DicomWebBackend

        return DicomWebBackend(server, secret)
    if want == "dimse":
        if not server.has_dimse:
            raise PacsConfigError(f"server {server.name!r} has no AE title/host/port for DIMSE")
        from .dimse import DimseBackend

        return DimseBackend(server)
    raise PacsConfigError(f"unknown protocol {want!r}; use dicomweb or dimse")


def connect_named(
    name: str | None, registry: ServerRegistry | None = None, protocol: str | None = None
) -> PacsBackend:
    registry = registry or ServerRegistry()
    server = registry.get(name)
    return connect(server, registry.secret(server.name) if server.auth != "none" else None, protocol)


def chunks(items: Iterable[Any], size: int) -> list[list[Any]]:
    items = list(items)
    return [items[i : i + size] for i in range(0, len(items), size)]


__all__ = ["HEADER_KEYWORDS", "InstanceSink", "PacsBackend", "ProgressFn", "connect", "connect_named"]
