"""A throw-away local Orthanc (Debian's ``orthanc`` + ``orthanc-dicomweb``) for tests and benchmarks.

Why it lives in the package rather than in ``tests/``: the benchmark needs the same server, and the
one safety rule must be enforced in exactly one place. Orthanc 1.10 always binds every interface
(``RemoteAccessAllowed: false`` only refuses remote HTTP clients after accepting them), so
:class:`LocalOrthanc` refuses to start unless this process sits in a private network namespace whose
only interface is loopback — e.g. ``unshare -n sh -c 'ip link set lo up && …'``. Nothing outside the
machine can then reach it, and it cannot reach anything either.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import requests
import urllib3

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
ORTHANC_AET = "ORTHANC"
CLIENT_AET = "MEDLENS"


class OrthancUnavailable(RuntimeError):  # noqa: N818
    """Orthanc cannot be started here (not installed, or not inside a loopback-only namespace)."""


def network_interfaces() -> list[str]:
    """Names of this network namespace's interfaces."""
    return [name for _index, name in socket.if_nameindex()]


def loopback_only_reason() -> str | None:
    """None when only ``lo`` exists (a private namespace); otherwise why Orthanc must not start."""
    names = network_interfaces()
    if names == ["lo"]:
        return None
    return (
        "not inside a private loopback-only network namespace (interfaces: "
        f"{', '.join(names) or 'none'}); Orthanc listens on every interface, so run e.g. "
        "`unshare -n sh -c 'ip link set lo up && .venv/bin/python -m pytest tests/pacs'`"
    )


def unavailable_reason() -> str | None:
    """Why :class:`LocalOrthanc` cannot run here, or None."""
    if shutil.which("Orthanc") is None:
        return "Orthanc is not installed (Debian packages orthanc and orthanc-dicomweb)"
    if not DICOMWEB_PLUGIN.exists():
        return f"the Orthanc DICOMweb plugin is missing ({DICOMWEB_PLUGIN}; Debian orthanc-dicomweb)"
    return loopback_only_reason()


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalOrthanc:
    """One Orthanc process with its own storage folder, free ports and optional basic auth.

    ``modalities`` maps AE titles to ports on 127.0.0.1 that Orthanc may C-MOVE to / accept from.
    Use as a context manager, or :meth:`start` / :meth:`stop`.
    """

    root: Path | None = None
    users: dict[str, str] = field(default_factory=dict)
    modalities: dict[str, int] = field(default_factory=dict)
    aet: str = ORTHANC_AET
    nodelay: bool = True
    # Certificate + private key (PEM): serve HTTPS on ``tls_port`` through a socat TLS front.
    # Why not Orthanc's own "SslEnabled": Debian's Orthanc 1.10.1 segfaults on every TLS handshake
    # here (measured, RSA and EC keys alike); hospitals often terminate TLS in a proxy anyway.
    tls_pem: Path | None = None
    tls_port: int = 0
    http_port: int = 0
    dicom_port: int = 0
    process: subprocess.Popen[bytes] | None = None
    tls_process: subprocess.Popen[bytes] | None = None
    _own_root: bool = False

    @property
    def url(self) -> str:
        if self.tls_pem is not None:
            return f"https://127.0.0.1:{self.tls_port}"
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def auth(self) -> tuple[str, str] | None:
        return next(iter(self.users.items())) if self.users else None

    def config(self) -> dict[str, object]:
        assert self.root is not None
        storage = self.root / "storage"
        return {
            "Name": "MedLensTestPACS",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": bool(self.users),
            "RegisteredUsers": dict(self.users),
            "HttpCompressionEnabled": False,
            "DicomCheckCalledAet": True,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True,
            "DicomAlwaysAllowMove": True,
            "DicomCheckModalityHost": False,
            "DicomModalities": {
                aet.lower(): [aet, "127.0.0.1", port] for aet, port in self.modalities.items()
            },
            "OverwriteInstances": True,
            "SaveJobs": False,
            "StorageCompression": False,
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {
                "Enable": True,
                "Root": "/dicom-web/",
                "EnableWado": True,
                "Host": "127.0.0.1",
                "Ssl": False,
                "StudiesMetadata": "Full",
                "SeriesMetadata": "Full",
            },
        }

    def start(self, timeout: float = 30.0) -> LocalOrthanc:
        reason = unavailable_reason()
        if reason is not None:
            raise OrthancUnavailable(reason)
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="medlens-orthanc-"))
            self._own_root = True
        self.root.mkdir(parents=True, exist_ok=True)
        self.http_port = self.http_port or free_port()
        self.dicom_port = self.dicom_port or free_port()
        cfg = self.root / "config.json"
        cfg.write_text(json.dumps(self.config(), indent=2))
        env = dict(os.environ)
        if self.nodelay:
            env["TCP_NODELAY"] = "1"  # Orthanc's DCMTK: without it C-STORE crawls (Nagle + delayed ACK)
        log = (self.root / "orthanc.log").open("ab")
        self.process = subprocess.Popen(
            ["Orthanc", str(cfg)], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root
        )
        if self.tls_pem is not None and (self.tls_process is None or self.tls_process.poll() is not None):
            if shutil.which("socat") is None:
                self.stop()
                raise OrthancUnavailable("socat is not installed (the TLS front): apt-get install socat")
            self.tls_port = self.tls_port or free_port()
            front = (
                f"OPENSSL-LISTEN:{self.tls_port},bind=127.0.0.1,reuseaddr,fork,"
                f"cert={self.tls_pem},verify=0"
            )
            self.tls_process = subprocess.Popen(
                ["socat", front, f"TCP:127.0.0.1:{self.http_port}"], stdout=log, stderr=subprocess.STDOUT
            )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise OrthancUnavailable(
                    f"Orthanc exited at start (code {self.process.returncode}); "
                    f"see {self.root / 'orthanc.log'}"
                )
            try:
                # readiness only: whether clients trust the certificate is what the tests check
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                    ready = requests.get(f"{self.url}/system", auth=self.auth, timeout=1, verify=False)
                if ready.ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise OrthancUnavailable(f"Orthanc did not answer within {timeout:.0f} s")

    def kill(self) -> None:
        """Die at once (SIGKILL on POSIX), as a crashed or unplugged PACS would; storage stays."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def stop(self, timeout: float = 5.0) -> None:
        front, self.tls_process = self.tls_process, None
        if front is not None and front.poll() is None:
            front.terminate()
            front.wait(timeout)
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def cleanup(self) -> None:
        self.stop()
        if self._own_root and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalOrthanc:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()


__all__ = [
    "CLIENT_AET",
    "ORTHANC_AET",
    "LocalOrthanc",
    "OrthancUnavailable",
    "free_port",
    "loopback_only_reason",
    "network_interfaces",
    "unavailable_reason",
]
