"""``medlens pacs …`` end to end against the local Orthanc."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pydicom
import pytest
from pacs_helpers import PASSWORD, USER

from medlens.app.cli import main
from medlens.pacs.config import ServerConfig
from medlens.viewer.io import load_series, scan
from medlens.viewer.model import Volume


def test_cli_add_query_retrieve_send(
    server_config: ServerConfig,
    ct_study: tuple[Volume, list[Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MEDLENS_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("MEDLENS_PACS_SECRETS", "file")
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert (
        main(
            [
                "pacs",
                "servers",
                "add",
                "orthanc",
                "--url",
                server_config.dicomweb_url,
                "--aet",
                server_config.ae_title,
                "--host",
                "127.0.0.1",
                "--port",
                str(server_config.port),
                "--auth",
                "basic",
                "--user",
                USER,
                "--secret-stdin",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "mode 0600" in out and PASSWORD not in out
    assert stat.S_IMODE((tmp_path / "cfg" / "pacs-secrets.json").stat().st_mode) == 0o600

    source, files = ct_study
    assert main(["pacs", "send", str(files[0].parent), "--protocol", "dimse"]) == 0
    assert f"sent {len(files)} instance(s)" in capsys.readouterr().out

    assert main(["pacs", "query", "--patient", "doe", "--modality", "CT", "--json"]) == 0
    studies = json.loads(capsys.readouterr().out)
    study_uid = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    assert study_uid in {s["study_uid"] for s in studies}

    for protocol in ("dicomweb", "dimse"):
        out_dir = tmp_path / f"out-{protocol}"
        assert main(["pacs", "retrieve", study_uid, "--out", str(out_dir), "--protocol", protocol]) == 0
        volumes = [load_series(s) for s in scan(out_dir).series if s.modality == "CT"]
        assert any(v.array.shape == source.array.shape and (v.array == source.array).all() for v in volumes)


def test_cli_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEDLENS_CONFIG_DIR", str(tmp_path / "cfg"))
    assert main(["pacs", "query", "--patient", "x"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("medlens: no PACS configured") and "Traceback" not in err
