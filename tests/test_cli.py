"""The command line: real studies in, geometry and voxels out, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medlens.app.cli import main


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real console entry in a subprocess, as a user would (exit codes, stderr)."""
    env = {k: v for k, v in os.environ.items() if k != "MEDLENS_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "medlens.app.cli", *args], capture_output=True, text=True, env=env, check=False
    )


def _sitk_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def test_info_json_matches_simpleitk(sample_study: Path) -> None:
    proc = _run("info", str(sample_study), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert len(report["series"]) == 1
    series = report["series"][0]
    ref = _sitk_series(sample_study)
    assert series["size"] == list(ref.GetSize())
    np.testing.assert_allclose(series["spacing"], ref.GetSpacing(), atol=1e-3)
    np.testing.assert_allclose(series["origin"], ref.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(series["direction"], ref.GetDirection(), atol=1e-6)
    assert series["modality"] == "CT"
    assert series["units"] == "HU"


def test_info_text_lists_series(sample_files) -> None:
    proc = _run("info", str(sample_files.dicom_root))
    assert proc.returncode == 0, proc.stderr
    assert "2 series" in proc.stdout
    assert "Chest CT" in proc.stdout and "T1 axial" in proc.stdout


def test_convert_to_nifti_round_trips_voxels_and_geometry(
    sample_study: Path, sample_files, tmp_path: Path
) -> None:
    out = tmp_path / "ct.nii.gz"
    assert main(["convert", str(sample_study), str(out)]) == 0
    converted = sitk.ReadImage(str(out))
    source = sitk.ReadImage(str(sample_files.image_nrrd))  # the HU volume the series was built from
    assert converted.GetSize() == source.GetSize()
    np.testing.assert_allclose(converted.GetOrigin(), source.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(converted.GetSpacing(), source.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(converted.GetDirection(), source.GetDirection(), atol=1e-6)
    assert np.array_equal(sitk.GetArrayViewFromImage(converted), sitk.GetArrayViewFromImage(source))


def test_convert_multi_series_needs_a_choice(sample_files, tmp_path: Path) -> None:
    proc = _run("convert", str(sample_files.dicom_root), str(tmp_path / "x.nrrd"))
    assert proc.returncode != 0
    assert "--series" in proc.stderr and "Traceback" not in proc.stderr
    listing = json.loads(_run("info", str(sample_files.dicom_root), "--json").stdout)["series"]
    mr = next(i for i, rec in enumerate(listing, 1) if rec["modality"] == "MR")
    out = tmp_path / "mr.nrrd"
    assert main(["convert", str(sample_files.dicom_root), str(out), "--series", str(mr)]) == 0
    assert sitk.ReadImage(str(out)).GetSize() == (256, 256, 25)


@pytest.mark.gui
def test_screenshot_writes_png(sample_study: Path, tmp_path: Path) -> None:
    out = tmp_path / "shot.png"
    proc = _run("screenshot", str(sample_study), "--out", str(out), "--layout", "axial", "--size", "256")
    assert proc.returncode == 0, proc.stderr
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert image.shape[:2] == (256, 256)
    assert image.std() > 10  # real anatomy, not a blank frame


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["info", "/no/such/study"], "no such file"),
        (["convert", "/no/such/study", "out.nii"], "no such file"),
        (["convert", "{sample}", "out.jpg"], "unknown output format"),
        (["screenshot", "{sample}", "--out", "x.jpg"], "PNG"),
        (["info", "{garbage}"], "no loadable image series"),
        (["info", "{empty}"], "no loadable image series"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(
    args: list[str], needle: str, sample_study: Path, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "notes.txt").write_text("not an image")
    (garbage / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00" * 7)
    empty = tmp_path / "empty"
    empty.mkdir()
    subst = {"{sample}": str(sample_study), "{garbage}": str(garbage), "{empty}": str(empty)}
    proc = _run(*[subst.get(a, a) for a in args])
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0]
    assert "Traceback" not in proc.stderr
