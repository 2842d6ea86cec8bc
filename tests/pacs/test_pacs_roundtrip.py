"""Send, query and retrieve against a real Orthanc over DICOMweb and DIMSE, and a DICOM SEG round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pacs_helpers import PASSWORD, make_volume, write_series

from medlens.pacs.backend import connect
from medlens.pacs.config import ServerConfig
from medlens.pacs.records import QueryFilters
from medlens.pacs.retrieve import retrieve_series, retrieve_study
from medlens.viewer.io import load_series, scan
from medlens.viewer.io.dicom_seg import read_dicom_seg, write_dicom_seg
from medlens.viewer.model import Label, LabelMap, Volume

PROTOCOLS = ["dicomweb", "dimse"]


def uids(files: list[Path]) -> tuple[str, str]:
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)


def backend_for(server: ServerConfig, protocol: str, **changes: object):
    from dataclasses import replace

    return connect(replace(server, **changes), PASSWORD, protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_echo(server_config: ServerConfig, protocol: str) -> None:
    backend_for(server_config, protocol).echo()


def test_dimse_associations_are_tuned_for_latency(server_config: ServerConfig) -> None:
    """C-GET / C-STORE are ping-pongs: Nagle off and pynetdicom's idle nap shortened (measured
    1.60 -> 1.22 s for 300 slices). Fails if pynetdicom renames the knob, so we notice."""
    import socket

    from pynetdicom.sop_class import Verification

    from medlens.pacs.dimse import DUL_IDLE_SLEEP_S

    pacs = backend_for(server_config, "dimse")
    ae = pacs._ae()
    ae.add_requested_context(Verification)
    with pacs.associate(ae, "echo") as assoc:
        assert assoc.dul._run_loop_delay == DUL_IDLE_SLEEP_S
        assert assoc.dul.socket.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert assoc.send_c_echo().Status == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_send_query_retrieve(
    server_config: ServerConfig, ct_study: tuple[Volume, list[Path]], protocol: str, tmp_path: Path
) -> None:
    source, files = ct_study
    pacs = backend_for(server_config, protocol)
    assert pacs.store(files) == len(files)
    study_uid, series_uid = uids(files)

    for filters in (
        QueryFilters(patient="DOE"),
        QueryFilters(patient="PID-1"),
        QueryFilters(modality="CT"),
        QueryFilters(date="20210301-20210310"),
    ):
        found = {s.study_uid: s for s in pacs.find_studies(filters)}
        assert study_uid in found, filters
    assert found[study_uid].patient_name == "DOE^JANE"
    assert "CT" in found[study_uid].modalities
    assert study_uid not in {s.study_uid for s in pacs.find_studies(QueryFilters(date="19990101"))}
    [series] = pacs.find_series(study_uid)
    assert (series.series_uid, series.modality, series.n_instances) == (series_uid, "CT", len(files))

    shown: list[Volume] = []
    result = retrieve_study(pacs, study_uid, tmp_path / "cache", on_first_slice=shown.append)
    assert result.complete
    [got] = result.series
    assert (got.received, got.fetched, got.expected) == (len(files), len(files), len(files))
    volume = got.volume
    assert volume is not None and volume.meta.complete and shown == [volume]
    np.testing.assert_array_equal(volume.array, source.array)
    assert volume.geometry.allclose(source.geometry)
    # the cache is a plain DICOM folder the study reader opens to the same volume
    [info] = scan(got.directory).series
    reread = load_series(info)
    np.testing.assert_array_equal(reread.array, volume.array)
    assert reread.geometry.allclose(volume.geometry)
    assert volume.meta.sop_instance_uids == reread.meta.sop_instance_uids
    assert volume.meta.source_files == reread.meta.source_files
    assert not list(got.directory.glob("*.part"))

    again = retrieve_series(pacs, study_uid, series_uid, tmp_path / "cache")
    assert (again.fetched, again.received) == (0, len(files))  # resumed: nothing left to fetch
    np.testing.assert_array_equal(again.volume.array, source.array)


def test_c_move(server_config: ServerConfig, ct_study: tuple[Volume, list[Path]], tmp_path: Path) -> None:
    source, files = ct_study
    pacs = backend_for(server_config, "dimse", retrieve_via="move")
    pacs.store(files)
    study_uid, series_uid = uids(files)
    res = retrieve_series(pacs, study_uid, series_uid, tmp_path / "cache")
    assert res.complete and res.fetched == len(files)
    np.testing.assert_array_equal(res.volume.array, source.array)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_seg_round_trip(
    server_config: ServerConfig, ct_study: tuple[Volume, list[Path]], protocol: str, tmp_path: Path
) -> None:
    """An AI result archived as DICOM SEG: stored, found by Modality=SEG, retrieved, read back."""
    import highdicom as hd

    _source, files = ct_study
    pacs = backend_for(server_config, protocol)
    pacs.store(files)
    study_uid, series_uid = uids(files)
    ct = retrieve_series(pacs, study_uid, series_uid, tmp_path / "cache").volume
    assert ct is not None
    labels = np.zeros(ct.array.shape, np.uint8)
    labels[2:7, 10:30, 5:25] = 1
    labels[8, 30:40, 30:50] = 4
    table = [Label(1, "nodule", (250, 60, 60)), Label(4, "airway", (60, 60, 250))]
    label_map = LabelMap(labels, ct.geometry, table)
    seg_path = write_dicom_seg(label_map, ct, tmp_path / f"seg-{protocol}.dcm", algorithm_name="test-ai")
    assert pacs.store([seg_path]) == 1

    found = pacs.find_series(study_uid, modality="SEG")  # the other protocol's run may have added one
    assert {s.modality for s in found} == {"SEG"}
    [seg_series] = [s for s in found if s.series_uid == str(pydicom.dcmread(seg_path).SeriesInstanceUID)]
    got = retrieve_series(pacs, study_uid, seg_series.series_uid, tmp_path / "segcache")
    assert got.complete and got.volume is None  # a SEG is not an image stack
    [seg_file] = got.directory.glob("*.dcm")

    seg = hd.seg.segread(seg_file)
    assert [s.SeriesInstanceUID for s in seg.ReferencedSeriesSequence] == [series_uid]
    assert seg.FrameOfReferenceUID == ct.meta.frame_of_reference_uid
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=ct.meta.sop_instance_uids,
        combine_segments=True,
        relabel=False,
        assert_missing_frames_are_empty=True,
    )
    np.testing.assert_array_equal(pixels, np.select([labels == 1, labels == 4], [1, 2], 0))
    back = read_dicom_seg(seg_file, ct)
    np.testing.assert_array_equal(back.array, labels)
    assert [(lab.value, lab.name) for lab in back.labels] == [(1, "nodule"), (4, "airway")]


def test_stow_of_in_memory_dataset_is_retrievable(server_config: ServerConfig, tmp_path: Path) -> None:
    """The preamble trap: a dataset built in memory must still come back from the PACS."""
    from medlens.pacs.dicomweb import DicomWebBackend

    files = write_series(tmp_path / "mem", make_volume(slices=2, size=16, seed=3), seed="in-memory")
    ds = pydicom.dcmread(files[0])
    ds.preamble = None  # as a freshly built dataset has
    pacs = backend_for(server_config, "dicomweb")
    assert isinstance(pacs, DicomWebBackend)
    pacs.store_datasets([ds])
    study_uid, series_uid = uids(files)
    res = retrieve_series(pacs, study_uid, series_uid, tmp_path / "cache", build_volume=False)
    assert res.received == 1
