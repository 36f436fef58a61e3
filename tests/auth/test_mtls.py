"""Mutual TLS with certificates the tests make: the handshake keeps unknown clients out, a
mapped certificate is a principal of its own, and a token bound to a certificate (RFC 8705)
is worthless over any other connection."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509

from server.auth.statuses import UNAUTHENTICATED_MESSAGE
from tests.auth.conftest import Deploy, Deployment, bearer
from tests.auth.helpers import Cert, SigningKey, claims, make_cert, server_cert

Keys = dict[str, SigningKey]
SPIFFE = "spiffe://example.org/ns/billing/sa/checker"


@dataclass
class Pki:
    ca: Cert
    server: Cert
    mapped: Cert  # in the identities file
    unmapped: Cert  # signed by the CA, but nobody mapped it
    foreign: Cert  # signed by another CA


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca = make_cert("test ca", ca=True)
    other_ca = make_cert("other ca", ca=True)
    return Pki(
        ca=ca,
        server=server_cert(ca),
        mapped=make_cert("billing", ca, sans=[x509.UniformResourceIdentifier(SPIFFE)]),
        unmapped=make_cert("stranger", ca, sans=[x509.DNSName("stranger.internal")]),
        foreign=make_cert("billing", other_ca, sans=[x509.UniformResourceIdentifier(SPIFFE)]),
    )


@pytest.fixture
def mtls(deploy: Deploy, pki: Pki, tmp_path: Path) -> Iterator[Deployment]:
    files = {
        "server.pem": pki.server.cert_pem,
        "server.key": pki.server.key_pem,
        "ca.pem": pki.ca.cert_pem,
        "identities.toml": (
            f'[[client]]\nidentity = "{SPIFFE}"\nsub = "svc:billing"\n'
            'scopes = ["rebac:check"]\nstores = ["default"]\n'
        ).encode(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    yield deploy(
        tls_cert=str(tmp_path / "server.pem"),
        tls_key=str(tmp_path / "server.key"),
        tls_client_ca=str(tmp_path / "ca.pem"),
        tls_identities_file=str(tmp_path / "identities.toml"),
    )


def _as(d: Deployment, pki: Pki, client: Cert | None) -> Deployment:
    d.credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca.cert_pem,
        private_key=None if client is None else client.key_pem,
        certificate_chain=None if client is None else client.cert_pem,
    )
    return d


def test_a_mapped_certificate_is_a_principal(mtls: Deployment, pki: Pki) -> None:
    d = _as(mtls, pki, pki.mapped)
    assert d.unary([]).code is grpc.StatusCode.OK
    event = d.audit()[-1]
    assert (event["auth_method"], event["credential"]) == ("mtls", SPIFFE)
    assert event["principal"]["sub"] == "svc:billing"
    # exactly the scopes and stores the identities file grants
    assert d.server_stream([]).code is grpc.StatusCode.PERMISSION_DENIED
    assert d.unary([], store="acme").code is grpc.StatusCode.NOT_FOUND


def test_an_unmapped_certificate_needs_a_token(mtls: Deployment, pki: Pki, keys: Keys) -> None:
    d = _as(mtls, pki, pki.unmapped)
    outcome = d.unary([])
    assert (outcome.code, outcome.details) == (
        grpc.StatusCode.UNAUTHENTICATED,
        UNAUTHENTICATED_MESSAGE,
    )
    assert d.spy.calls == []
    assert d.unary(bearer(keys["ec"].sign(claims()))).code is grpc.StatusCode.OK


@pytest.mark.parametrize("who", ["no certificate", "another CA"])
def test_clients_without_a_trusted_certificate_never_get_in(
    mtls: Deployment, pki: Pki, keys: Keys, who: str
) -> None:
    d = _as(mtls, pki, None if who == "no certificate" else pki.foreign)
    outcome = d.unary(bearer(keys["ec"].sign(claims())))
    assert outcome.code is grpc.StatusCode.UNAVAILABLE  # the handshake failed
    assert d.spy.calls == []
    assert d.audit() == []  # nothing reached the server's gRPC layer


def test_a_certificate_bound_token(mtls: Deployment, pki: Pki, keys: Keys) -> None:
    bound = keys["ec"].sign(claims(cnf={"x5t#S256": pki.unmapped.thumbprint()}))
    assert _as(mtls, pki, pki.unmapped).unary(bearer(bound)).code is grpc.StatusCode.OK
    stolen = _as(mtls, pki, pki.mapped).unary(bearer(bound))  # presented over another cert
    assert (stolen.code, stolen.details) == (
        grpc.StatusCode.UNAUTHENTICATED,
        UNAUTHENTICATED_MESSAGE,
    )
    assert mtls.audit()[-1]["reason"] == "cert_binding"


def test_health_over_mutual_tls_needs_only_the_certificate(mtls: Deployment, pki: Pki) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    stub = health_pb2_grpc.HealthStub(_as(mtls, pki, pki.unmapped).channel())
    response = stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert response.status == health_pb2.HealthCheckResponse.SERVING
