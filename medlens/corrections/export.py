"""A de-identified bundle of the corrections for a model team: NIfTI images and masks plus JSON.

De-identification is by construction rather than by scrubbing: the store never holds names, IDs,
dates or UIDs (only salted hashes, see :mod:`.ids`), and the bundle is written from the stored
arrays and numbers alone - NIfTI carries no patient attributes, and the JSON has none of the DICOM
PS3.15 basic-profile attributes (patient name/ID/birth date, study/series dates and times,
institution, accession number, physicians, device serials). Series references are remapped to new
``2.25.`` UIDs, consistently (the same series gets the same new UID in every export of a store) and
irreversibly (keyed with the store's secret salt, which is never exported). Creation times and free
comments (which a user may have typed a name into) are left out unless explicitly included.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from medlens.corrections.atomic import fsync_dir
from medlens.corrections.store import CorrectionRecord, CorrectionStore
from medlens.viewer.model import Geometry

README = """MedLens corrections bundle (de-identified; not for clinical use)

One folder per case:
  image.nii.gz      the image the AI ran on (cropped around the edited region for segmentation)
  ai.nii.gz         the AI's label map, untouched            (segmentation)
  corrected.nii.gz  the label map as the user corrected it   (segmentation)
  case.json         plugin, metrics (Dice, HD95 mm), editing time, classes (classification)
cases.json lists every case. Series references are new 2.25 UIDs, consistent within and across
exports of the same store; no names, IDs, dates or original UIDs are included (DICOM PS3.15 basic
profile by construction).
"""


def remap_uid(store: CorrectionStore, ref: str) -> str:
    """A new ``2.25.<int>`` UID for a stored reference; '' stays ''."""
    if not ref:
        return ""
    digest = store.ref(ref, "export-uid")
    return f"2.25.{int(digest[:30], 16)}"


def _write_nifti(path: Path, array: np.ndarray, geometry: Geometry) -> None:
    import SimpleITK as sitk

    from medlens.viewer.model import array_to_sitk

    image = array_to_sitk(np.ascontiguousarray(array), geometry)
    sitk.WriteImage(image, str(path), useCompression=True)


def _case(store: CorrectionStore, record: CorrectionRecord, include_comments: bool) -> dict[str, Any]:
    case: dict[str, Any] = {
        "plugin_id": record.plugin_id,
        "plugin_version": record.plugin_version,
        "weights_sha256": record.weights_sha256,
        "task": record.task,
        "series_uid": remap_uid(store, record.input_ref),
        "study_uid": remap_uid(store, record.study_ref),
        "dice": record.dice,
        "hd95_mm": record.hd95_mm,
        "editing_seconds": record.editing_seconds,
        "agree": record.agree,
        "ai_class": record.ai_class,
        "corrected_class": record.corrected_class,
        "probabilities": record.probabilities,
        "labels": record.labels,
        "spacing": record.geometry.get("spacing"),
        "direction": record.geometry.get("direction"),
        "origin": record.geometry.get("origin"),
    }
    if include_comments:
        case["comment"] = record.comment
    return case


def export_bundle(
    store: CorrectionStore,
    out_zip: Path | str,
    *,
    plugin_id: str | None = None,
    include_comments: bool = False,
) -> tuple[Path, int]:
    """Write the bundle (atomically: a temp zip renamed into place); returns (path, cases written)."""
    out_zip = Path(out_zip)
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    records = store.records(plugin_id)
    tmp_zip = out_zip.with_name(f".{out_zip.name}.{uuid.uuid4().hex}.tmp")
    cases = []
    try:
        with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("README.txt", README)
            for n, record in enumerate(records, 1):
                name = f"case-{n:04d}"
                geo = record.geometry
                geometry = Geometry(geo["spacing"], geo["origin"], geo["direction"])
                for array_name in ("image", "ai", "corrected"):
                    if array_name not in record.files:
                        continue
                    path = Path(tmp) / f"{name}-{array_name}.nii.gz"
                    _write_nifti(path, store.load_array(record, array_name), geometry)
                    zf.write(path, f"{name}/{array_name}.nii.gz")
                case = {"case": name, **_case(store, record, include_comments)}
                zf.writestr(f"{name}/case.json", json.dumps(case, indent=2))
                cases.append(case)
            zf.writestr("cases.json", json.dumps(cases, indent=2))
        with open(tmp_zip, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_zip, out_zip)
        fsync_dir(out_zip.parent)
    finally:
        tmp_zip.unlink(missing_ok=True)
    return out_zip, len(cases)
