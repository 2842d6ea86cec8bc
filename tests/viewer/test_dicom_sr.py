"""AI classification + reader verdict as DICOM SR: valid for highdicom, the right references, round trip."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from test_dicom_seg import small_series

from medlens.viewer.io import LoadError
from medlens.viewer.io.dicom_sr import read_classification_sr, write_classification_sr
from medlens.viewer.model import Volume, VolumeMeta


def test_sr_round_trip_with_verdict_and_peak_slice(tmp_path: Path) -> None:
    vol = small_series(tmp_path / "ct", seed="sr-test")
    per_slice = [0.1, 0.2, 0.15, 0.05, 0.91, 0.3, 0.2]  # peaks on slice 4
    out = write_classification_sr(
        vol,
        tmp_path / "ai.sr.dcm",
        plugin="medlens.lesion-cls",
        plugin_version="0.1.0",
        probabilities={"lesion": 0.91},
        slice_probabilities=per_slice,
        agree=False,
        final_class="no lesion",
        reader="Dr Test",
    )
    ds = pydicom.dcmread(out)
    assert ds.Modality == "SR" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert ds.CompletionFlag == "COMPLETE" and ds.VerificationFlag == "UNVERIFIED"
    assert ds.PatientID == pydicom.dcmread(vol.meta.source_files[0]).PatientID  # same patient / study
    assert ds.StudyInstanceUID == pydicom.dcmread(vol.meta.source_files[0]).StudyInstanceUID
    parsed = hd.sr.srread(out)  # highdicom parses it back as a TID 1500 measurement report
    groups = parsed.content.get_image_measurement_groups()
    assert [str(g.tracking_identifier) for g in groups] == ["AI classification", "Reader verdict"]
    got = read_classification_sr(out)
    assert got.plugin == "medlens.lesion-cls" and got.plugin_version == "0.1.0"
    assert got.probabilities == pytest.approx({"lesion": 0.91}) and got.predicted == "lesion"
    assert got.agree is False and got.final_class == "no lesion"
    assert got.peak_probability == pytest.approx(0.91)
    assert got.peak_slice_sop_uid == pydicom.dcmread(vol.meta.source_files[4]).SOPInstanceUID
    assert got.referenced_series_uid == vol.meta.series_uid


def test_sr_peak_slice_skips_a_2p5d_models_padded_end_slices(tmp_path: Path) -> None:
    """The SR's most suspicious slice is the one the study score came from, not a padded end slice."""
    vol = small_series(tmp_path / "ct", seed="sr-test-3")
    per_slice = [0.95, 0.2, 0.15, 0.6, 0.3, 0.2, 0.1]  # the first slice is highest, slice 3 next
    kwargs = {"plugin": "p", "plugin_version": "1", "probabilities": {"lesion": 0.6}}
    out = write_classification_sr(
        vol, tmp_path / "ai.dcm", slice_probabilities=per_slice, padded_end_slices=1, **kwargs
    )
    got = read_classification_sr(out)
    assert got.peak_probability == pytest.approx(0.6)
    assert got.peak_slice_sop_uid == pydicom.dcmread(vol.meta.source_files[3]).SOPInstanceUID
    plain = read_classification_sr(
        write_classification_sr(vol, tmp_path / "ai2.dcm", slice_probabilities=per_slice, **kwargs)
    )
    assert plain.peak_slice_sop_uid == pydicom.dcmread(vol.meta.source_files[0]).SOPInstanceUID
    with pytest.raises(ValueError, match="leave none of 7"):  # the engine never gives such a count
        write_classification_sr(vol, tmp_path / "ai3.dcm", slice_probabilities=per_slice, padded_end_slices=4,
                                **kwargs)


def test_sr_without_verdict_is_the_ai_result_only(tmp_path: Path) -> None:
    vol = small_series(tmp_path / "ct", seed="sr-test-2")
    out = write_classification_sr(
        vol, tmp_path / "ai.dcm", plugin="p", plugin_version="1", probabilities={"a": 0.3, "b": 0.7}
    )
    got = read_classification_sr(out)
    assert got.predicted == "b" and got.agree is None and got.final_class is None
    assert got.probabilities == pytest.approx({"a": 0.3, "b": 0.7}) and got.peak_slice_sop_uid == ""


def test_sr_needs_a_dicom_series(tmp_path: Path) -> None:
    vol = Volume(np.zeros((3, 4, 4), np.float32), meta=VolumeMeta(modality="CT"))
    with pytest.raises(LoadError, match="DICOM SR"):
        write_classification_sr(
            vol, tmp_path / "x.dcm", plugin="p", plugin_version="1", probabilities={"a": 1.0}
        )
    assert not list(tmp_path.iterdir())
