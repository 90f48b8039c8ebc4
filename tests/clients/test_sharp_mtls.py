"""The SHARP client over mutual TLS: a job completes against the devnet gateway served over HTTPS.

The test makes its own certificates: a self-signed server certificate with
``CA:TRUE`` (the shape of SHARP's, which is its own trust anchor), a client CA,
and a client certificate it signs. The server demands a client certificate.
"""

from __future__ import annotations

import datetime
import ipaddress
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from orchestrator_pipelines.clients.prover import SharpClient
from orchestrator_pipelines.devnet.prover import ProverConfig, ProverServer, TlsConfig
from orchestrator_pipelines.errors import OrchestratorError
from tests.conftest import REPO_ROOT

FIBONACCI_FACT = "0xca15503f02f8406b599cb220879e842394f5cf2cef753f3ee430647b5981b782"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _certificate(subject: str, key, issuer: str, issuer_key, *, ca: bool, ip: str | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class Pki:
    server_crt: Path
    server_key: Path
    client_ca: Path
    client_crt_pem: str
    client_key: Path
    stranger_crt_pem: str
    stranger_key_pem: str


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    tmp = tmp_path_factory.mktemp("pki")
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate("sharp-devnet", server_key, "sharp-devnet", server_key, ca=True, ip="127.0.0.1")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    client_ca = _certificate("customers-ca", ca_key, "customers-ca", ca_key, ca=True)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _certificate("customer-42", client_key, "customers-ca", ca_key, ca=False)
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger = _certificate("stranger", stranger_key, "stranger", stranger_key, ca=False)
    paths = {}
    for name, data in {
        "server.crt": server.public_bytes(serialization.Encoding.PEM),
        "server.key": _pem_key(server_key),
        "client-ca.crt": client_ca.public_bytes(serialization.Encoding.PEM),
        "client.key": _pem_key(client_key),
    }.items():
        (tmp / name).write_bytes(data)
        paths[name] = tmp / name
    return Pki(
        server_crt=paths["server.crt"], server_key=paths["server.key"], client_ca=paths["client-ca.crt"],
        client_crt_pem=client.public_bytes(serialization.Encoding.PEM).decode(), client_key=paths["client.key"],
        stranger_crt_pem=stranger.public_bytes(serialization.Encoding.PEM).decode(),
        stranger_key_pem=_pem_key(stranger_key).decode(),
    )


@pytest.fixture(scope="module")
def gateway(pki: Pki) -> Iterator[str]:
    tls = TlsConfig(cert_file=str(pki.server_crt), key_file=str(pki.server_key), client_ca_file=str(pki.client_ca))
    with ProverServer(ProverConfig(api_key="k", proving_delay_s=0.5, tls=tls)) as server:
        assert server.url.startswith("https://")
        yield server.url + "/v1/gateway"


def test_a_job_completes_over_mutual_tls(gateway: str, pki: Pki, vectors_dir: Path) -> None:
    # certificate as PEM text, key as a file, server certificate as a file: all three forms Madara accepts
    client = SharpClient(gateway, "customer-42", user_crt=pki.client_crt_pem, user_key=str(pki.client_key),
                         server_crt=str(pki.server_crt), timeout_s=10, attempts=1)
    assert client.is_alive()
    key = client.submit(vectors_dir / "cairo_pie" / "fibonacci.zip", dedup_id="mtls-fib", n_steps=1000, layout="dynamic")
    end = time.monotonic() + 20
    while (status := client.status(key)).state == "pending":
        assert time.monotonic() < end, status.detail
        time.sleep(0.05)
    assert status.state == "done" and status.detail == "PROCESSED"
    proof = client.fetch_proof(key)
    assert proof is not None and FIBONACCI_FACT.encode() in proof


def test_without_a_client_certificate_the_server_refuses_the_handshake(gateway: str, pki: Pki) -> None:
    client = SharpClient(gateway, "customer-42", server_crt=pki.server_crt.read_text(), timeout_s=10, attempts=1)
    with pytest.raises(OrchestratorError, match=r"SHARP (is_alive|get_status): .*(TLS|ConnectionError)"):
        client.status("any-key")


def test_a_certificate_from_another_ca_is_refused(gateway: str, pki: Pki) -> None:
    client = SharpClient(gateway, "customer-42", user_crt=pki.stranger_crt_pem, user_key=pki.stranger_key_pem,
                         server_crt=str(pki.server_crt), timeout_s=10, attempts=1)
    with pytest.raises(OrchestratorError, match="SHARP get_status: "):
        client.status("any-key")


def test_a_server_not_signed_by_the_given_ca_is_refused(gateway: str, pki: Pki) -> None:
    client = SharpClient(gateway, "customer-42", user_crt=pki.client_crt_pem, user_key=str(pki.client_key),
                         server_crt=str(pki.client_ca), timeout_s=10, attempts=1)
    with pytest.raises(OrchestratorError, match=r"SHARP get_status: TLS handshake with https://127\.0\.0\.1:\d+/v1/gateway/get_status failed"):
        client.status("any-key")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"user_crt": "/nonexistent/user.crt", "user_key": "/nonexistent/user.key"}, "SHARP_USER_CRT: cannot read /nonexistent/user.crt"),
        ({"user_crt": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"}, "needs both the client certificate and its key"),
        ({"server_crt": str(REPO_ROOT / "pyproject.toml")}, r"SHARP_SERVER_CRT: .*pyproject.toml is not a PEM file"),
    ],
)
def test_bad_tls_material_is_one_readable_line(kwargs: dict, message: str) -> None:
    with pytest.raises(OrchestratorError, match=message):
        SharpClient("https://sharp.example/v1/gateway", "c", **kwargs)
