"""Server entries and secrets (no server needed): secrets never in pacs.json, the file is 0600."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from medlens.pacs.config import SecretStore, ServerConfig, ServerRegistry
from medlens.pacs.errors import PacsConfigError


def test_secret_file_is_private_and_kept_apart(tmp_path: Path) -> None:
    reg = ServerRegistry(tmp_path, SecretStore(tmp_path, backend="file"))
    server = ServerConfig(
        "main", dicomweb_url="https://pacs.example/dicom-web/", auth="basic", username="bob"
    )
    reg.save(server, "hunter2-secret")
    assert reg.get("main").dicomweb_url == "https://pacs.example/dicom-web"  # trailing slash dropped
    assert reg.secret("main") == "hunter2-secret"
    assert "hunter2" not in (tmp_path / "pacs.json").read_text()
    assert "hunter2" not in repr(reg.get("main")) and "hunter2" not in reg.get("main").describe()
    mode = stat.S_IMODE((tmp_path / "pacs-secrets.json").stat().st_mode)
    assert mode == 0o600
    assert reg.get().verify_tls is True  # TLS verification on by default
    assert reg.remove("main") and reg.secret("main") is None and reg.servers() == {}


def test_unknown_server_and_bad_auth_are_clear(tmp_path: Path) -> None:
    reg = ServerRegistry(tmp_path, SecretStore(tmp_path, backend="file"))
    with pytest.raises(PacsConfigError, match="no PACS configured"):
        reg.get()
    reg.save(ServerConfig("a", ae_title="X", host="h", port=104))
    with pytest.raises(PacsConfigError, match="no PACS named 'b'"):
        reg.get("b")
    with pytest.raises(PacsConfigError, match="auth"):
        ServerConfig("c", auth="kerberos")
    data = json.loads((tmp_path / "pacs.json").read_text())
    assert data["servers"][0]["ae_title"] == "X"
