"""DICOMweb over HTTPS against a real Orthanc: certificates are verified by default.

A throw-away CA signs the server certificate (for 127.0.0.1). Without that CA the client refuses
the server with a one-line message (never silently trusting it); with the CA configured as the
server's ``ca_bundle`` query, retrieve and send work; ``verify_tls = False`` is possible but is said
in the server's description. The password never appears in any message.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pacs_helpers import PASSWORD, USER, make_volume, needs_orthanc, write_series

from medlens.pacs.backend import connect
from medlens.pacs.config import ServerConfig
from medlens.pacs.errors import PacsUnreachable
from medlens.pacs.orthanc import LocalOrthanc
from medlens.pacs.records import QueryFilters
from medlens.pacs.retrieve import retrieve_series


def _certificates(folder: Path) -> tuple[Path, Path]:
    """(server PEM with its key, CA certificate PEM) from a fresh test CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.UTC)
    valid = {
        "not_valid_before": now - datetime.timedelta(minutes=5),
        "not_valid_after": now + datetime.timedelta(days=1),
    }
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (
        x509.CertificateBuilder(
            subject_name=name("MedLens test CA"),
            issuer_name=name("MedLens test CA"),
            public_key=ca_key.public_key(),
            serial_number=x509.random_serial_number(),
            **valid,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # Orthanc 1.10 crashes on EC keys
    cert = (
        x509.CertificateBuilder(
            subject_name=name("127.0.0.1"),
            issuer_name=ca.subject,
            public_key=key.public_key(),
            serial_number=x509.random_serial_number(),
            **valid,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_pem, ca_pem = folder / "server.pem", folder / "ca.pem"
    server_pem.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return server_pem, ca_pem


@pytest.fixture(scope="module")
def https_pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalOrthanc, Path]]:
    needs_orthanc()
    root = tmp_path_factory.mktemp("tls")
    server_pem, ca_pem = _certificates(root)
    pacs = LocalOrthanc(root=root / "orthanc", users={USER: PASSWORD}, tls_pem=server_pem)
    pacs.start()
    yield pacs, ca_pem
    pacs.cleanup()


def _config(pacs: LocalOrthanc, **kw: object) -> ServerConfig:
    return ServerConfig(
        "secure", dicomweb_url=pacs.dicomweb_url, auth="basic", username=USER, timeout_s=10, **kw
    )


def test_untrusted_certificate_is_refused_with_one_line(https_pacs: tuple[LocalOrthanc, Path]) -> None:
    pacs, _ca = https_pacs
    assert pacs.dicomweb_url.startswith("https://")
    with pytest.raises(PacsUnreachable) as info:
        connect(_config(pacs), PASSWORD, "dicomweb").find_studies(QueryFilters(modality="CT"))
    text = str(info.value)
    assert "TLS certificate" in text and "not trusted" in text and "\n" not in text
    assert PASSWORD not in text


@pytest.fixture
def system_ca_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """``REQUESTS_CA_BUNDLE`` set, as on many machines: it must not override a server's own setting."""
    import requests.certs

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())


def test_with_the_ca_bundle_query_retrieve_and_send_work(
    https_pacs: tuple[LocalOrthanc, Path], tmp_path: Path, system_ca_env: None
) -> None:
    pacs, ca = https_pacs
    vol = make_volume(slices=6, size=32, seed=3)
    files = write_series(tmp_path / "ct", vol, seed="tls-ct")
    backend = connect(_config(pacs, ca_bundle=str(ca)), PASSWORD, "dicomweb")
    assert backend.store(files) == len(files)
    studies = backend.find_studies(QueryFilters(modality="CT"))
    assert len(studies) == 1
    [series] = backend.find_series(studies[0].study_uid)
    result = retrieve_series(backend, studies[0].study_uid, series.series_uid, tmp_path / "cache")
    assert result.complete and result.volume is not None
    np.testing.assert_array_equal(result.volume.array, vol.array)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_turning_verification_off_is_visible(
    https_pacs: tuple[LocalOrthanc, Path], system_ca_env: None
) -> None:
    pacs, _ca = https_pacs
    config = _config(pacs, verify_tls=False)
    assert "TLS unverified" in config.describe()
    connect(config, PASSWORD, "dicomweb").find_studies(QueryFilters(modality="CT"))  # works, knowingly
