"""De-identified export: no PHI value of the source DICOM appears anywhere in the bundle; CLI."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from corrections_helpers import synthetic_case

from medlens.app.cli import main
from medlens.corrections import CorrectionStore, export_bundle, report_correction
from medlens.viewer.io import load
from medlens.viewer.io.dicom_write import SeriesIdentity, write_dicom_series

PHI = {
    "PatientName": "DOE^JANE^MARIE",
    "PatientID": "PID-99812734",
    "PatientBirthDate": "19610417",
    "StudyDate": "20230914",
    "InstitutionName": "St Elsewhere General Hospital",
    "AccessionNumber": "ACC77123456",
}


def _phi_series(folder: Path) -> tuple[Path, list[str]]:
    volume, _, _ = synthetic_case(3)
    volume = volume.derived(np.round(volume.array * 1000).astype(np.int16))
    ident = SeriesIdentity(
        patient_name=PHI["PatientName"],
        patient_id=PHI["PatientID"],
        study_date=PHI["StudyDate"],
        seed="phi-test",
    )
    paths = write_dicom_series(volume, folder, ident)
    uids: set[str] = set()
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.PatientBirthDate = PHI["PatientBirthDate"]
        ds.InstitutionName = PHI["InstitutionName"]
        ds.AccessionNumber = PHI["AccessionNumber"]
        ds.save_as(p)
        uids |= {ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.FrameOfReferenceUID}
    return folder, sorted(uids)


def _bundle_bytes(zip_path: Path) -> dict[str, bytes]:
    import gzip

    out = {}
    with zipfile.ZipFile(zip_path) as zf:
        for name in zf.namelist():
            data = zf.read(name)
            out[name] = gzip.decompress(data) if name.endswith(".gz") else data
    return out


def test_bundle_carries_no_phi(store: CorrectionStore, seg_registry, tmp_path: Path) -> None:
    folder, uids = _phi_series(tmp_path / "dicom")
    volumes, _ = load(folder)
    volume = volumes[0]
    assert volume.meta.patient_name and volume.meta.series_uid in uids
    ai = (volume.array > 300).astype(np.uint8)
    corrected = (volume.array > 700).astype(np.uint8)
    manifest = seg_registry.manifest("test.tiny-seg")
    for _ in range(2):  # the same series twice: the remapped UID must be consistent
        report_correction(
            store,
            plugin_manifest=manifest,
            volume=volume,
            ai_output=ai,
            corrected=corrected,
            editing_seconds=12,
            comment=f"patient {PHI['PatientName']}",
        )
    out, n = export_bundle(store, tmp_path / "bundle.zip")
    assert n == 2
    files = _bundle_bytes(out)
    assert {
        "case-0001/image.nii.gz",
        "case-0001/ai.nii.gz",
        "case-0001/corrected.nii.gz",
        "cases.json",
    } <= set(files)
    needles = [*PHI.values(), "DOE", "JANE", "Elsewhere", *uids, str(folder)]
    for name, data in files.items():
        for needle in needles:
            assert needle.encode() not in data, f"{needle!r} found in {name}"
    cases = json.loads(files["cases.json"])
    assert cases[0]["series_uid"] == cases[1]["series_uid"] != ""
    assert cases[0]["series_uid"].startswith("2.25.")
    assert "comment" not in cases[0] and "created_utc" not in cases[0]
    # the image really is there, on the right grid
    import SimpleITK as sitk

    img_path = tmp_path / "img.nii.gz"
    img_path.write_bytes(zipfile.ZipFile(out).read("case-0001/image.nii.gz"))
    image = sitk.ReadImage(str(img_path))
    assert image.GetSpacing() == pytest.approx(volume.geometry.spacing)
    assert sitk.GetArrayFromImage(image).max() == pytest.approx(float(volume.array.max()))


def test_cli_list_and_export(store: CorrectionStore, seg_registry, tmp_path: Path, capsys) -> None:
    assert main(["corrections", "list"]) == 0
    assert "no corrections recorded" in capsys.readouterr().out
    volume, ai, corrected = synthetic_case(5)
    report_correction(
        store,
        plugin_manifest=seg_registry.manifest("test.tiny-seg"),
        volume=volume,
        ai_output=ai,
        corrected=corrected,
        editing_seconds=7,
    )
    assert main(["corrections", "list"]) == 0
    assert "test.tiny-seg" in capsys.readouterr().out
    assert main(["corrections", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["task"] == "segmentation" and 0 < rows[0]["dice"] < 1
    assert main(["corrections", "export", str(tmp_path / "out.zip")]) == 0
    assert "1 de-identified case" in capsys.readouterr().out
    assert zipfile.ZipFile(tmp_path / "out.zip").testzip() is None
