"""PACS server entries and their secrets.

Why secrets are kept apart: ``pacs.json`` (names, URLs, AE titles) is harmless to show, copy into a
bug report or log; a password or token is not. Secrets go to the OS keyring when one works (macOS
Keychain, Windows Credential Locker, Secret Service) and otherwise to ``pacs-secrets.json`` created
with mode 0600. A :class:`ServerConfig` never holds the secret, and its ``repr`` shows none, so a
log line or traceback cannot leak it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from .errors import PacsConfigError

log = logging.getLogger(__name__)

KEYRING_SERVICE = "medlens-pacs"
AUTH_KINDS = ("none", "basic", "bearer")


def config_dir() -> Path:
    """``$MEDLENS_CONFIG_DIR`` or the platform's user config folder (same rule as the app's settings)."""
    override = os.environ.get("MEDLENS_CONFIG_DIR")
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("medlens", appauthor=False))


@dataclass
class ServerConfig:
    """One PACS: DICOMweb, DIMSE, or both. TLS certificates are verified unless ``verify_tls`` is off."""

    name: str
    dicomweb_url: str = ""  # e.g. https://pacs.example.org/dicom-web
    ae_title: str = ""  # the PACS's (called) AE title
    host: str = ""
    port: int = 0
    calling_ae: str = "MEDLENS"  # our AE title, as registered on the PACS
    auth: str = "none"  # "none" | "basic" | "bearer" (DICOMweb only)
    username: str = ""
    verify_tls: bool = True
    ca_bundle: str = ""  # a CA file for in-house certificate authorities
    timeout_s: float = 30.0
    retrieve_via: str = "get"  # DIMSE retrieve: "get" (C-GET) or "move" (C-MOVE to move_port)
    move_port: int = 0  # where our storage SCP listens for C-MOVE (must be registered on the PACS)

    def __post_init__(self) -> None:
        if self.auth not in AUTH_KINDS:
            raise PacsConfigError(f"server {self.name!r}: auth must be one of {', '.join(AUTH_KINDS)}")
        self.port = int(self.port)
        self.dicomweb_url = self.dicomweb_url.rstrip("/")

    @property
    def has_dicomweb(self) -> bool:
        return bool(self.dicomweb_url)

    @property
    def has_dimse(self) -> bool:
        return bool(self.ae_title and self.host and self.port)

    def describe(self) -> str:
        """One line, no secrets: what ``pacs servers list`` prints."""
        parts = []
        if self.has_dicomweb:
            parts.append(f"DICOMweb {self.dicomweb_url}" + ("" if self.verify_tls else " (TLS unverified!)"))
        if self.has_dimse:
            parts.append(f"DIMSE {self.ae_title}@{self.host}:{self.port} as {self.calling_ae}")
        if self.auth != "none":
            parts.append(f"{self.auth} auth" + (f" as {self.username}" if self.username else ""))
        return f"{self.name}: " + ("; ".join(parts) or "(no address)")


class SecretStore:
    """Passwords and tokens by server name: the OS keyring when usable, else a 0600 JSON file.

    ``backend`` "auto" picks the keyring only when a real one is installed (the fallback "fail"
    keyring of a headless Linux has priority 0); ``$MEDLENS_PACS_SECRETS=file`` forces the file.
    """

    def __init__(self, directory: Path | None = None, backend: str | None = None) -> None:
        self.path = (directory or config_dir()) / "pacs-secrets.json"
        choice = backend or os.environ.get("MEDLENS_PACS_SECRETS", "auto")
        self.backend = self._keyring_usable() if choice == "auto" else choice

    @staticmethod
    def _keyring_usable() -> str:
        try:
            import keyring

            return "keyring" if getattr(keyring.get_keyring(), "priority", 0) > 0 else "file"
        except Exception:
            return "file"

    def get(self, name: str) -> str | None:
        if self.backend == "keyring":
            import keyring

            return keyring.get_password(KEYRING_SERVICE, name)
        return self._read().get(name)

    def set(self, name: str, secret: str) -> None:
        if self.backend == "keyring":
            import keyring

            keyring.set_password(KEYRING_SERVICE, name, secret)
            return
        data = self._read()
        data[name] = secret
        self._write(data)

    def delete(self, name: str) -> None:
        if self.backend == "keyring":
            import keyring
            from keyring.errors import PasswordDeleteError

            with contextlib.suppress(PasswordDeleteError):
                keyring.delete_password(KEYRING_SERVICE, name)
            return
        data = self._read()
        if data.pop(name, None) is not None:
            self._write(data)

    def _read(self) -> dict[str, str]:
        try:
            mode = self.path.stat().st_mode & 0o777
        except FileNotFoundError:
            return {}
        if mode & 0o077:
            log.warning("%s is readable by other users (mode %o); fix with chmod 600", self.path, mode)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never briefly world-readable
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)


class ServerRegistry:
    """The configured servers (``pacs.json``) plus their secrets."""

    def __init__(self, directory: Path | None = None, secrets: SecretStore | None = None) -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / "pacs.json"
        self.secrets = secrets or SecretStore(self.directory)

    def servers(self) -> dict[str, ServerConfig]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise PacsConfigError(f"{self.path}: unreadable PACS configuration ({exc})") from exc
        known = {f.name for f in fields(ServerConfig)}
        out: dict[str, ServerConfig] = {}
        for entry in raw.get("servers", []) if isinstance(raw, dict) else []:
            cfg = ServerConfig(**{k: v for k, v in entry.items() if k in known})
            out[cfg.name] = cfg
        return out

    def get(self, name: str | None = None) -> ServerConfig:
        """A server by name; with no name the only (or the first) configured one."""
        servers = self.servers()
        if not servers:
            raise PacsConfigError("no PACS configured; add one with `medlens pacs servers add NAME …`")
        if name is None:
            return next(iter(servers.values()))
        if name not in servers:
            raise PacsConfigError(f"no PACS named {name!r} (configured: {', '.join(servers)})")
        return servers[name]

    def save(self, server: ServerConfig, secret: str | None = None) -> None:
        servers = self.servers()
        servers[server.name] = server
        self._write(servers)
        if secret is not None:
            self.secrets.set(server.name, secret)

    def remove(self, name: str) -> bool:
        servers = self.servers()
        found = servers.pop(name, None) is not None
        if found:
            self._write(servers)
        self.secrets.delete(name)
        return found

    def secret(self, name: str) -> str | None:
        return self.secrets.get(name)

    def _write(self, servers: dict[str, ServerConfig]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        data: dict[str, Any] = {"servers": [asdict(s) for s in servers.values()]}
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(tmp, self.path)


__all__ = ["AUTH_KINDS", "SecretStore", "ServerConfig", "ServerRegistry", "config_dir"]
