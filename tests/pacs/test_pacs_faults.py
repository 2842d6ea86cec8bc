"""Faults a radiologist meets: PACS down, wrong AE title, credentials refused, connection cut mid-retrieve."""

from __future__ import annotations

import json
import logging
import socket
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pacs_helpers import PASSWORD, USER, make_volume, needs_orthanc, write_series

from medlens.pacs.backend import connect
from medlens.pacs.cache import MANIFEST
from medlens.pacs.config import ServerConfig
from medlens.pacs.errors import PacsAuthError, PacsRejected, PacsUnreachable, RetrieveIncomplete
from medlens.pacs.orthanc import CLIENT_AET, LocalOrthanc, free_port
from medlens.pacs.records import QueryFilters
from medlens.pacs.retrieve import retrieve_series


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_pacs_down(protocol: str) -> None:
    port = free_port()  # nobody listens there
    server = ServerConfig(
        "down",
        dicomweb_url=f"http://127.0.0.1:{port}/dicom-web",
        ae_title="ORTHANC",
        host="127.0.0.1",
        port=port,
        timeout_s=3,
    )
    with pytest.raises(PacsUnreachable, match="no answer"):
        connect(server, None, protocol).find_studies(QueryFilters(patient="X"))


@pytest.mark.parametrize("peer", ["silent", "hangs_up"])
def test_association_never_answered_or_dropped(peer: str) -> None:
    """A PACS that accepts the connection and then says nothing is told apart from one that hangs up:
    the first is a busy server (raise the timeout), the second a broken link or a refused peer."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    held: list[socket.socket] = []

    def serve() -> None:
        conn, _ = listener.accept()
        if peer == "hangs_up":
            conn.recv(65536)  # the A-ASSOCIATE-RQ, then close without an answer
            conn.close()
        else:
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    server = ServerConfig("mute", ae_title="ORTHANC", host="127.0.0.1", port=listener.getsockname()[1],
                          timeout_s=2)
    expected = {"silent": "did not answer the association request within 2 s",
                "hangs_up": "dropped the connection"}[peer]
    try:
        with pytest.raises(PacsUnreachable, match=expected):
            connect(server, None, "dimse").echo()
    finally:
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


def test_wrong_called_ae_title(server_config: ServerConfig) -> None:
    with pytest.raises(PacsRejected, match="AE title 'NOT_ORTHANC'"):
        connect(replace(server_config, ae_title="NOT_ORTHANC"), None, "dimse").echo()


def test_auth_refused_without_leaking_the_secret(
    server_config: ServerConfig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-password-7731"
    with pytest.raises(PacsAuthError, match="refused the credentials") as info:
        connect(server_config, wrong, "dicomweb").find_studies(QueryFilters(modality="CT"))
    assert wrong not in str(info.value)
    assert wrong not in caplog.text and PASSWORD not in caplog.text
    assert wrong not in repr(connect(server_config, wrong, "dicomweb"))


@pytest.fixture
def fragile_pacs(tmp_path: Path):
    """A PACS of its own, so killing it does not disturb the other tests."""
    needs_orthanc()
    move_port = free_port()
    pacs = LocalOrthanc(root=tmp_path / "orthanc", users={USER: PASSWORD}, modalities={CLIENT_AET: move_port})
    pacs.start()
    yield pacs
    pacs.cleanup()


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_connection_cut_then_resume(fragile_pacs: LocalOrthanc, protocol: str, tmp_path: Path) -> None:
    # A stream must be larger than what loopback socket buffers can hold (up to ~36 MB here), or it
    # all arrives before the kill; C-GET waits for each acknowledgement, so small is enough there.
    source = (
        make_volume(slices=96, size=512, seed=5)
        if protocol == "dicomweb"
        else make_volume(slices=30, size=256, seed=5)
    )
    files = write_series(tmp_path / "ct", source, seed=f"cut-{protocol}")
    server = ServerConfig(
        "fragile",
        dicomweb_url=fragile_pacs.dicomweb_url,
        ae_title=fragile_pacs.aet,
        host="127.0.0.1",
        port=fragile_pacs.dicom_port,
        auth="basic",
        username=USER,
        timeout_s=5,
    )
    pacs = connect(server, PASSWORD, protocol)
    pacs.store(files)
    head = pydicom.dcmread(files[0], stop_before_pixels=True)
    study_uid, series_uid = str(head.StudyInstanceUID), str(head.SeriesInstanceUID)
    cache = tmp_path / "cache"

    def cut_after_a_few(done: int, _total: int) -> None:
        if done == 6:
            fragile_pacs.kill()  # the PACS vanishes mid-transfer

    with pytest.raises(RetrieveIncomplete, match="run the retrieve again") as info:
        retrieve_series(pacs, study_uid, series_uid, cache, progress=cut_after_a_few)
    partial = info.value.result  # type: ignore[attr-defined]
    assert 6 <= partial.received < len(files)
    assert partial.volume is not None and partial.volume.meta.complete is False
    assert any("incomplete" in w for w in partial.volume.meta.warnings)
    assert not list(partial.directory.glob("*.part"))  # nothing half-written
    for f in partial.directory.glob("*.dcm"):
        pydicom.dcmread(f)  # every file that is there is whole
    assert json.loads((partial.directory / MANIFEST).read_text())["complete"] is False

    fragile_pacs.start()  # same storage, same ports: the PACS is back
    pacs = connect(server, PASSWORD, protocol)
    done = retrieve_series(pacs, study_uid, series_uid, cache)
    assert done.complete and done.fetched == len(files) - partial.received  # resumed, not restarted
    assert done.volume is not None and done.volume.meta.complete
    np.testing.assert_array_equal(done.volume.array, source.array)
    assert json.loads((done.directory / MANIFEST).read_text())["complete"] is True


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_cancel_keeps_what_arrived_and_the_next_retrieve_resumes(
    orthanc: LocalOrthanc, server_config: ServerConfig, protocol: str, tmp_path: Path
) -> None:
    import threading

    from medlens.pacs.retrieve import RetrieveCancelled

    # The DICOMweb stream must outgrow the loopback buffers (~36 MB) or it has all arrived before the
    # cancel; C-GET waits for each acknowledgement, so small is enough there.
    source = (
        make_volume(slices=100, size=512, seed=11) if protocol == "dicomweb" else make_volume(30, 128, 11)
    )
    files = write_series(tmp_path / "ct", source, seed=f"cancel-{protocol}")
    pacs = connect(server_config, PASSWORD, protocol)
    pacs.store(files)
    head = pydicom.dcmread(files[0], stop_before_pixels=True)
    study_uid, series_uid = str(head.StudyInstanceUID), str(head.SeriesInstanceUID)
    cancel = threading.Event()

    def cancel_after_a_few(done: int, _total: int) -> None:
        if done >= 5:
            cancel.set()  # the user pressed Cancel

    with pytest.raises(RetrieveCancelled, match="run the retrieve again") as info:
        retrieve_series(
            pacs, study_uid, series_uid, tmp_path / "cache", progress=cancel_after_a_few, cancel=cancel
        )
    partial = info.value.result  # type: ignore[attr-defined]
    assert 5 <= partial.received < len(files), "cancel must stop the transfer early"
    assert not list(partial.directory.glob("*.part"))
    assert partial.volume is not None and partial.volume.meta.complete is False
    done = retrieve_series(pacs, study_uid, series_uid, tmp_path / "cache")
    assert done.complete and done.fetched == len(files) - partial.received
    np.testing.assert_array_equal(done.volume.array, source.array)


@pytest.mark.parametrize("defer_bytes", [0, 10**9])
def test_every_instance_is_in_the_cache_when_retrieve_returns(
    orthanc: LocalOrthanc,
    server_config: ServerConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    defer_bytes: int,
) -> None:
    """Written at once (no room to defer) or after the transfer: the same files, all whole."""
    import medlens.pacs.retrieve as retrieve_module

    monkeypatch.setattr(retrieve_module, "DEFER_BYTES", defer_bytes)
    source = make_volume(slices=8, size=64, seed=21 + defer_bytes % 7)
    files = write_series(tmp_path / "ct", source, seed=f"defer-{defer_bytes}")
    pacs = connect(server_config, PASSWORD, "dicomweb")
    pacs.store(files)
    head = pydicom.dcmread(files[0], stop_before_pixels=True)
    done = retrieve_series(pacs, str(head.StudyInstanceUID), str(head.SeriesInstanceUID), tmp_path / "cache")
    assert done.complete and done.fetched == len(files)
    cached = sorted(done.directory.glob("*.dcm"))
    assert len(cached) == len(files) and not list(done.directory.glob("*.part"))
    by_uid = {str(pydicom.dcmread(f).SOPInstanceUID): f for f in cached}
    for f in files:
        original = pydicom.dcmread(f)
        np.testing.assert_array_equal(
            pydicom.dcmread(by_uid[str(original.SOPInstanceUID)]).pixel_array, original.pixel_array
        )
