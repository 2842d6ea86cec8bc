"""AI classification results (and the reader's verdict) as a DICOM Comprehensive 3D SR.

Why SR beside the JSON: a PACS archives an SR next to the images and other viewers list it with
the study; a JSON file stays on this workstation. Written with highdicom as a TID 1500 measurement
report: one measurement group for the AI (algorithm name and version, each class probability, the
predicted class, and the most suspicious slice as the group's source image for slice-wise models)
and, when the reader gave a verdict, a second group with the reader's class and whether they agreed.
Observers: MedLens with the plugin (device) and the reader (person) when there is one.

The class concepts have no standard codes (they are whatever a plugin names its outputs), so they
use a private coding scheme, ``99MEDLENS``, with the class name as the meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model import Volume
from .dicom_seg import source_datasets
from .errors import LoadError

SCHEME = "99MEDLENS"
_AI_CLASS = ("ML-AI-CLASS", "AI classification")  # code values are SH: at most 16 characters
_READER_CLASS = ("ML-READER-CLASS", "Reader classification")
_AGREES = ("ML-READER-AGREES", "Reader agrees with AI")
_PEAK = ("ML-PEAK-SLICE-P", "Probability on the most suspicious slice")


@dataclass
class ClassificationReport:
    """What an SR written here says; :func:`read_classification_sr` gives it back."""

    plugin: str
    plugin_version: str
    probabilities: dict[str, float]
    predicted: str
    agree: bool | None = None
    final_class: str | None = None
    peak_slice_sop_uid: str = ""
    peak_probability: float | None = None
    referenced_series_uid: str = ""


def _code(value: str, meaning: str) -> Any:
    import highdicom as hd

    return hd.sr.CodedConcept(value=value, scheme_designator=SCHEME, meaning=meaning[:64])


def _class_code(name: str) -> Any:
    """A stable code for a plugin's class name (the name itself is the meaning)."""
    import hashlib

    return _code("C" + hashlib.sha1(name.encode()).hexdigest()[:15], name)


def write_classification_sr(
    source: Volume,
    out_path: str | Path,
    *,
    plugin: str,
    plugin_version: str,
    probabilities: Mapping[str, float],
    slice_probabilities: Any = None,
    padded_end_slices: int = 0,
    agree: bool | None = None,
    final_class: str | None = None,
    reader: str = "",
) -> Path:
    """Write the AI result on ``source`` (a DICOM series) and the optional verdict as an SR file.

    ``slice_probabilities``: per-slice scores of slice-wise models, ``(z, classes)`` as the engine
    gives them (or the predicted class's column); the slice where the predicted class peaks becomes
    the AI group's source image; ``padded_end_slices`` at each end (a 2.5D model's, left out of its
    study score: ``InferenceResult.padded_end_slices``, which the engine already sets to 0 for a
    series too short to have an interior) cannot be that slice. Raises :class:`LoadError` when the
    volume was not read from DICOM (an SR must reference its images), ValueError when the padded
    slices would leave none.
    """
    import highdicom as hd
    import numpy as np
    from pydicom.sr.codedict import codes

    if not probabilities:
        raise ValueError("no class probabilities to report")
    if agree is not None and final_class is None:
        raise ValueError("a verdict needs the reader's final class")
    datasets, slices = source_datasets(source, "DICOM SR")
    predicted = max(probabilities, key=probabilities.__getitem__)
    no_units = hd.sr.CodedConcept(value="1", scheme_designator="UCUM", meaning="no units")
    measurements = [
        hd.sr.Measurement(name=_code(f"P-{i}", f"Probability of {name}"), value=float(p), unit=no_units)
        for i, (name, p) in enumerate(probabilities.items())
    ]
    source_images = None
    if slice_probabilities is not None and len(slice_probabilities) == source.array.shape[0]:
        scores = np.asarray(slice_probabilities, float)
        if scores.ndim == 2:  # (z, classes), classes in the order of ``probabilities``
            scores = scores[:, list(probabilities).index(predicted)]
        c = padded_end_slices
        if c < 0 or 2 * c >= len(scores):
            raise ValueError(f"{c} padded slice(s) at each end leave none of {len(scores)} to report")
        peak = c + int(np.argmax(scores[c : len(scores) - c]))
        if peak in slices:
            ds = datasets[slices.index(peak)]
            source_images = [
                hd.sr.SourceImageForMeasurementGroup(str(ds.SOPClassUID), str(ds.SOPInstanceUID))
            ]
            measurements.append(
                hd.sr.Measurement(name=_code(*_PEAK), value=float(scores[peak]), unit=no_units)
            )
    groups = [
        hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="AI classification"),
            algorithm_id=hd.sr.AlgorithmIdentification(name=plugin[:64], version=plugin_version or "unknown"),
            measurements=measurements,
            qualitative_evaluations=[hd.sr.QualitativeEvaluation(_code(*_AI_CLASS), _class_code(predicted))],
            source_images=source_images,
        )
    ]
    if agree is not None:
        yes_no = codes.SCT.Yes if agree else codes.SCT.No
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="Reader verdict"),
                qualitative_evaluations=[
                    hd.sr.QualitativeEvaluation(_code(*_READER_CLASS), _class_code(str(final_class))),
                    hd.sr.QualitativeEvaluation(_code(*_AGREES), yes_no),
                ],
            )
        )
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name=f"MedLens {plugin}"[:64], manufacturer_name="MedLens (not for clinical use)"
        ),
    )
    person = None
    if agree is not None:
        person = hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                name=(reader or "Reader") if "^" in reader else f"{reader or 'Reader'}^"  # one component
            ),
        )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_person_context=person, observer_device_context=device
        ),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion
        if str(datasets[0].get("Modality", "")) == "CT"
        else _code("MEDLENS-IMAGING", "Imaging procedure"),
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=datasets,
        content=report,
        series_instance_uid=hd.UID(),
        series_number=9901,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="MedLens",
        series_description=f"AI classification ({plugin})"[:64],
        is_complete=True,
        is_final=False,  # a draft for a radiologist: never a final, verified report
        is_verified=False,
    )
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    sr.save_as(tmp, enforce_file_format=True)
    tmp.replace(out)
    return out


def _walk(items: Any) -> Any:
    for item in items or []:
        yield item
        yield from _walk(item.get("ContentSequence"))


def read_classification_sr(path: str | Path) -> ClassificationReport:
    """What :func:`write_classification_sr` wrote (the AI result and the verdict), from the file."""
    import pydicom

    ds = pydicom.dcmread(path)
    if str(ds.get("Modality", "")) != "SR":
        raise LoadError(f"{path}: not a DICOM SR (modality {ds.get('Modality', '?')})")
    report = ClassificationReport("", "", {}, "")
    for item in _walk(ds.get("ContentSequence")):
        name = item.ConceptNameCodeSequence[0] if "ConceptNameCodeSequence" in item else None
        meaning = str(name.CodeMeaning) if name is not None else ""
        kind = str(item.get("ValueType", ""))
        if kind == "NUM":
            value = float(item.MeasuredValueSequence[0].NumericValue)
            if meaning.startswith("Probability of "):
                report.probabilities[meaning.removeprefix("Probability of ")] = value
            elif meaning == _PEAK[1]:
                report.peak_probability = value
        elif kind == "CODE":
            code = item.ConceptCodeSequence[0]
            if meaning == _AI_CLASS[1]:
                report.predicted = str(code.CodeMeaning)
            elif meaning == _READER_CLASS[1]:
                report.final_class = str(code.CodeMeaning)
            elif meaning == _AGREES[1]:
                report.agree = str(code.CodeValue) == "373066001"  # SNOMED CT "Yes"
        elif kind == "TEXT" and meaning == "Algorithm Name":
            report.plugin = str(item.TextValue)
        elif kind == "TEXT" and meaning == "Algorithm Version":
            report.plugin_version = str(item.TextValue)
        elif kind == "IMAGE":  # "Source of Measurement" of the AI group: the most suspicious slice
            report.peak_slice_sop_uid = str(item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
    for ref in ds.get("CurrentRequestedProcedureEvidenceSequence", []):
        for series in ref.get("ReferencedSeriesSequence", []):
            report.referenced_series_uid = str(series.SeriesInstanceUID)
    return report
