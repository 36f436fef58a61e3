"""Test doubles for the auth suite: signing keys, a real JWKS HTTP endpoint, token forging,
certificates, and a spy that records every call that reached a servicer.

Everything here talks to the server the way an attacker would: real sockets, real metadata.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ISSUER = "https://issuer.example"
AUDIENCE = "rebac-api"
ADMIN_AUDIENCE = "rebac-admin"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(
    header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes, sig: bytes = b"x"
) -> str:
    """A compact token with arbitrary segments (no real signature)."""
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    p = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return f"{b64(h)}.{b64(p)}.{b64(sig)}"


# -- keys -------------------------------------------------------------------------------------


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any

    def public_jwk(self, *, alg: str | None = None, **extra: Any) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk = json.loads(RSAAlgorithm.to_jwk(public))
        elif isinstance(public, ec.EllipticCurvePublicKey):
            jwk = json.loads(ECAlgorithm.to_jwk(public))
        else:
            jwk = json.loads(OKPAlgorithm.to_jwk(public))
        jwk.update({"kid": self.kid, "alg": alg or self.alg, "use": "sig", **extra})
        return jwk

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(  # type: ignore[no-any-return]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(
            claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **(headers or {})}
        )


def rsa_key(kid: str, alg: str = "RS256", bits: int = 2048) -> SigningKey:
    return SigningKey(kid, alg, rsa.generate_private_key(public_exponent=65537, key_size=bits))


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


def ed_key(kid: str) -> SigningKey:
    return SigningKey(kid, "EdDSA", ed25519.Ed25519PrivateKey.generate())


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims for the data-plane listener; ``None`` values remove a claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "svc:billing",
        "iat": now,
        "exp": now + 300,
        "scope": "rebac:check rebac:lookup rebac:read rebac:write rebac:expand rebac:schema:read",
        "rebac_store": "default",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def admin_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "aud": ADMIN_AUDIENCE,
        "scope": "rebac:schema:read rebac:schema:write rebac:admin",
        "rebac_store": ["default", "acme"],
        "amr": ["pwd", "mfa"],
        "auth_time": now - 10,
        **overrides,
    }
    return claims(**values)


# -- a real JWKS endpoint ----------------------------------------------------------------------


class JwksServer:
    """``http.server`` on 127.0.0.1 in a thread, serving a JWKS the test can change."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.hits = 0
        self.down = False
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                if outer.delay:
                    time.sleep(outer.delay)
                if outer.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                body = json.dumps(outer.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"

    def publish(self, *keys: SigningKey | dict[str, Any]) -> None:
        self.document = {"keys": [k.public_jwk() if isinstance(k, SigningKey) else k for k in keys]}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- the spy ------------------------------------------------------------------------------------


class Spy(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Innermost interceptor: records every call that got past authentication to a servicer."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None or details.method.startswith("/grpc.health"):
            return handler
        method = details.method

        def record(behavior: Callable[..., Any], streaming: bool) -> Callable[..., Any]:
            def call(request: Any, context: Any) -> Any:
                self.calls.append(method)
                return behavior(request, context)

            def stream(request: Any, context: Any) -> Iterator[Any]:
                self.calls.append(method)
                yield from behavior(request, context)

            return stream if streaming else call

        for attr, make, streaming in (
            ("unary_unary", grpc.unary_unary_rpc_method_handler, False),
            ("unary_stream", grpc.unary_stream_rpc_method_handler, True),
            ("stream_unary", grpc.stream_unary_rpc_method_handler, False),
            ("stream_stream", grpc.stream_stream_rpc_method_handler, True),
        ):
            behavior = getattr(handler, attr)
            if behavior is not None:
                return make(
                    record(behavior, streaming),
                    handler.request_deserializer,
                    handler.response_serializer,
                )
        return handler  # pragma: no cover


# -- certificates --------------------------------------------------------------------------------


@dataclass
class Cert:
    key: Any
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(  # type: ignore[no-any-return]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def thumbprint(self) -> str:
        import hashlib

        return b64(hashlib.sha256(self.cert.public_bytes(serialization.Encoding.DER)).digest())


def make_cert(
    name: str,
    issuer: Cert | None = None,
    *,
    ca: bool = False,
    sans: list[x509.GeneralName] | None = None,
) -> Cert:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Cert(key, cert)


def server_cert(ca: Cert) -> Cert:
    return make_cert(
        "localhost",
        ca,
        sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )


@dataclass
class Outcome:
    """How a raw call ended, as the caller sees it."""

    code: grpc.StatusCode
    details: str
    trailers: dict[str, Any] = field(default_factory=dict)

    def status_bytes(self) -> bytes:
        return self.trailers.get("grpc-status-details-bin", b"")  # type: ignore[no-any-return]


# -- calling any method by name ------------------------------------------------------------------


def api_methods() -> dict[str, Any]:
    """``/rebac.api.v1.Service/Method`` -> its method descriptor, for every rebac service."""
    from rebac.api.v1 import (
        permission_service_pb2,
        relationship_service_pb2,
        schema_service_pb2,
        store_service_pb2,
        watch_service_pb2,
    )

    found: dict[str, Any] = {}
    for module in (
        permission_service_pb2,
        relationship_service_pb2,
        schema_service_pb2,
        store_service_pb2,
        watch_service_pb2,
    ):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                found[f"/{service.full_name}/{method.name}"] = method
    return found


def invoke(
    channel: grpc.Channel, path: str, request: bytes, metadata: Any, *, timeout: float = 10
) -> Outcome:
    """Call ``path`` with a serialized request, whatever its kind; how it ended."""
    method = api_methods().get(path)
    client_streaming = bool(method and method.client_streaming)
    server_streaming = bool(method and method.server_streaming)
    ident: Callable[[bytes], bytes] = lambda b: b  # noqa: E731
    try:
        if client_streaming and server_streaming:  # pragma: no cover - no such rebac RPC
            raise NotImplementedError
        if client_streaming:
            _, call = channel.stream_unary(path, ident, ident).with_call(
                iter([request]), metadata=metadata, timeout=timeout
            )
        elif server_streaming:
            call = channel.unary_stream(path, ident, ident)(
                request, metadata=metadata, timeout=timeout
            )
            list(call)
        else:
            _, call = channel.unary_unary(path, ident, ident).with_call(
                request, metadata=metadata, timeout=timeout
            )
    except grpc.RpcError as e:
        assert isinstance(e, grpc.Call)
        return Outcome(e.code(), e.details() or "", dict(e.trailing_metadata() or ()))
    return Outcome(call.code(), "", dict(call.trailing_metadata() or ()))


def error_info(outcome: Outcome) -> Any:
    from google.rpc import error_details_pb2, status_pb2

    status = status_pb2.Status.FromString(outcome.status_bytes())
    info = error_details_pb2.ErrorInfo()
    assert status.details and status.details[0].Unpack(info)
    return info
