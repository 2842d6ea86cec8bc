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


class _MemoryKeyring:
    """A real ``keyring`` backend kept in memory (the OS keyrings need a desktop session)."""

    def __init__(self) -> None:
        import keyring.backend

        class Backend(keyring.backend.KeyringBackend):
            priority = 10  # type: ignore[assignment]

            def __init__(self) -> None:
                super().__init__()
                self.store: dict[tuple[str, str], str] = {}

            def get_password(self, service: str, username: str) -> str | None:
                return self.store.get((service, username))

            def set_password(self, service: str, username: str, password: str) -> None:
                self.store[(service, username)] = password

            def delete_password(self, service: str, username: str) -> None:
                import keyring.errors

                if self.store.pop((service, username), None) is None:
                    raise keyring.errors.PasswordDeleteError(username)

        self.backend = Backend()


def test_secrets_go_to_the_os_keyring_when_there_is_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keyring

    memory = _MemoryKeyring().backend
    previous = keyring.get_keyring()
    keyring.set_keyring(memory)
    monkeypatch.delenv("MEDLENS_PACS_SECRETS", raising=False)
    try:
        reg = ServerRegistry(tmp_path)  # "auto": a keyring with priority > 0 is used
        assert reg.secrets.backend == "keyring"
        reg.save(
            ServerConfig("main", dicomweb_url="https://pacs.example/dicom-web", auth="bearer"), "tok-123"
        )
        assert reg.secret("main") == "tok-123"
        assert list(memory.store.values()) == ["tok-123"]
        assert not (tmp_path / "pacs-secrets.json").exists()  # nothing on disk
        assert "tok-123" not in (tmp_path / "pacs.json").read_text()
        reg.remove("main")
        assert memory.store == {} and reg.secret("main") is None
    finally:
        keyring.set_keyring(previous)


def test_bearer_token_is_sent_and_never_shown(tmp_path: Path) -> None:
    """A bearer-token server: the header reaches the server; a refusal does not show the token."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from medlens.pacs.backend import connect
    from medlens.pacs.errors import PacsAuthError
    from medlens.pacs.records import QueryFilters

    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            ok = self.headers.get("Authorization") == "Bearer good-token"
            body = b"[]" if ok else b""
            self.send_response(200 if ok else 401)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/dicom-web"
        server = ServerConfig("tok", dicomweb_url=url, auth="bearer", timeout_s=5)
        assert connect(server, "good-token", "dicomweb").find_studies(QueryFilters(modality="CT")) == []
        assert seen[-1] == "Bearer good-token"
        with pytest.raises(PacsAuthError) as info:
            connect(server, "wrong-token", "dicomweb").find_studies(QueryFilters(modality="CT"))
        assert "wrong-token" not in str(info.value) and "401" in str(info.value)
    finally:
        httpd.shutdown()
