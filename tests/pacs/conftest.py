"""A real Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``) for the PACS tests.

Orthanc listens on every interface, so these tests only run inside a private network namespace
whose only interface is loopback; everywhere else they skip with the command to use:

    unshare -n sh -c 'ip link set lo up && .venv/bin/python -m pytest tests/pacs'
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pacs_helpers import PASSWORD, USER, make_volume, needs_orthanc, write_series

from medlens.pacs.config import ServerConfig, ServerRegistry
from medlens.pacs.orthanc import CLIENT_AET, LocalOrthanc, free_port
from medlens.viewer.model import Volume


@pytest.fixture(scope="session")
def move_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory, move_port: int) -> Iterator[LocalOrthanc]:
    needs_orthanc()
    server = LocalOrthanc(
        root=tmp_path_factory.mktemp("orthanc"), users={USER: PASSWORD}, modalities={CLIENT_AET: move_port}
    )
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def server_config(orthanc: LocalOrthanc, move_port: int) -> ServerConfig:
    return ServerConfig(
        "test-pacs",
        dicomweb_url=orthanc.dicomweb_url,
        ae_title=orthanc.aet,
        host="127.0.0.1",
        port=orthanc.dicom_port,
        calling_ae=CLIENT_AET,
        auth="basic",
        username=USER,
        timeout_s=10,
        move_port=move_port,
    )


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server_config: ServerConfig) -> ServerRegistry:
    monkeypatch.setenv("MEDLENS_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("MEDLENS_PACS_SECRETS", "file")
    reg = ServerRegistry()
    reg.save(server_config, PASSWORD)
    return reg


@pytest.fixture(scope="session")
def ct_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Volume, list[Path]]:
    """A small CT series on disk (not yet on the PACS)."""
    vol = make_volume()
    files = write_series(tmp_path_factory.mktemp("ct"), vol, seed="pacs-ct")
    return vol, files
