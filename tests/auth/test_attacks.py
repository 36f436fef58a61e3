"""The attacker's list (issue 5): every forged, stale, misdirected or malformed credential is
refused on every RPC kind with the one constant UNAUTHENTICATED status, and the handler never
runs. Each attack is also checked to be refused *for its own reason* (read from the audit
log), so a test cannot pass because some earlier rule happened to trip."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import grpc
import jwt
import pytest

from server.auth.statuses import UNAUTHENTICATED_MESSAGE
from tests.auth.conftest import Deployment
from tests.auth.helpers import (
    ADMIN_AUDIENCE,
    ISSUER,
    SigningKey,
    admin_claims,
    b64,
    claims,
    forge,
    rsa_key,
)

REQUEST_ID = "attack-1"
Keys = dict[str, SigningKey]
Attack = Callable[[Keys], list[tuple[str, str]]]


def _md(value: str) -> list[tuple[str, str]]:
    return [("authorization", value), ("x-request-id", REQUEST_ID)]


def _bearer(token: str) -> list[tuple[str, str]]:
    return _md(f"Bearer {token}")


def _hmac_token(secret: bytes, kid: str) -> str:
    header = b64(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims()).encode())
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(mac)}"


def _none(alg: str, sig: bytes) -> Attack:
    return lambda k: _bearer(forge({"alg": alg, "kid": "rsa-1", "typ": "JWT"}, claims(), sig))


def _signed(key: str, headers: dict[str, Any] | None = None, **overrides: Any) -> Attack:
    return lambda k: _bearer(k[key].sign(claims(**overrides), headers))


_ATTACKER = rsa_key("rsa-1")  # same kid as the real key, different key material
_NOW = int(time.time())

#: name -> (credential, the reason the audit log must give)
ATTACKS: dict[str, tuple[Attack, str]] = {
    "no credential": (lambda k: [("x-request-id", REQUEST_ID)], "no_credentials"),
    **{
        f"alg {alg!r}{' unsigned' if not sig else ''}": (_none(alg, sig), reason)
        for alg in ("none", "None", "NONE", "nOnE")
        for sig, reason in ((b"", "malformed"), (b"sig", "alg_not_allowed"))
    },
    "HS256 keyed with the public PEM": (
        lambda k: _bearer(_hmac_token(k["rsa"].public_pem(), "rsa-1")),
        "alg_not_allowed",
    ),
    "HS256 keyed with the public JWK JSON": (
        lambda k: _bearer(_hmac_token(json.dumps(k["rsa"].public_jwk()).encode(), "rsa-1")),
        "alg_not_allowed",
    ),
    "RS256 under a PS256 kid": (
        lambda k: _bearer(
            jwt.encode(claims(), k["ps"].private, algorithm="RS256", headers={"kid": "ps-1"})
        ),
        "alg_mismatch",
    ),
    "RS256 under an ES256 kid": (
        lambda k: _bearer(
            jwt.encode(claims(), k["rsa"].private, algorithm="RS256", headers={"kid": "ec-1"})
        ),
        "alg_mismatch",
    ),
    "signed by another key with the same kid": (
        lambda k: _bearer(_ATTACKER.sign(claims())),
        "bad_signature",
    ),
    "unknown kid": (_signed("rsa", {"kid": "nobody"}), "unknown_kid"),
    "no kid": (
        lambda k: _bearer(jwt.encode(claims(), k["rsa"].private, algorithm="RS256")),
        "no_kid",
    ),
    "expired": (_signed("ec", iat=_NOW - 600, exp=_NOW - 120), "expired"),
    "not yet valid": (_signed("ec", nbf=_NOW + 300), "not_yet_valid"),
    "issued in the future": (_signed("ec", iat=_NOW + 300, exp=_NOW + 600), "iat_in_future"),
    "longer than the maximum lifetime": (_signed("ec", exp=_NOW + 7200), "lifetime_exceeded"),
    "no exp": (_signed("ec", exp=None), "missing_claim"),
    "no iat": (_signed("ec", iat=None), "missing_claim"),
    "iss with a suffix": (_signed("ed", iss=ISSUER + ".evil"), "issuer"),
    "iss with a prefix": (_signed("ed", iss="evil." + ISSUER), "issuer"),
    "iss with a trailing slash": (_signed("ed", iss=ISSUER + "/"), "issuer"),
    "no iss": (_signed("ed", iss=None), "missing_claim"),
    "no aud": (_signed("ed", aud=None), "audience"),
    "wrong aud": (_signed("ed", aud="another-api"), "audience"),
    "admin aud on the data listener": (_signed("ed", aud=ADMIN_AUDIENCE), "audience"),
    "no sub": (_signed("ed", sub=None), "missing_claim"),
    "empty sub": (_signed("ed", sub=""), "bad_claim"),
    "numeric sub": (_signed("ed", sub=42), "invalid"),
    "crit header": (_signed("rsa", {"crit": ["exp"]}), "forbidden_header"),
    "jku header": (_signed("rsa", {"jku": "http://127.0.0.1:1/evil.json"}), "forbidden_header"),
    "x5u header": (_signed("rsa", {"x5u": "http://127.0.0.1:1/evil.pem"}), "forbidden_header"),
    "embedded jwk (attacker's key)": (
        lambda k: _bearer(_ATTACKER.sign(claims(), {"jwk": _ATTACKER.public_jwk()})),
        "forbidden_header",
    ),
    "x5c header": (_signed("rsa", {"x5c": ["MIIB"]}), "forbidden_header"),
    "typ of another token kind": (_signed("rsa", {"typ": "secevent+jwt"}), "typ"),
    "bad base64 in the header": (lambda k: _bearer("e@J.eyJ.c2ln"), "malformed"),
    "impossible base64 length": (
        lambda k: _bearer("eyJhbGciOiJSUzI1NiJ9a." + b64(b"{}") + ".c2ln"),
        "malformed",
    ),
    "header not JSON": (
        lambda k: _bearer(forge(b"not json", claims())),
        "malformed",
    ),
    "header a JSON list": (
        lambda k: _bearer(forge(b'["RS256"]', claims())),
        "malformed",
    ),
    "duplicate alg in the header": (
        lambda k: _bearer(forge(b'{"alg":"RS256","alg":"none","kid":"rsa-1"}', claims())),
        "malformed",
    ),
    "payload not JSON, correctly signed": (
        lambda k: _bearer(
            jwt.api_jws.encode(b"not json", k["rsa"].private, "RS256", {"kid": "rsa-1"})
        ),
        "invalid",
    ),
    "a 20 KB token": (_signed("rsa", padding="A" * 20_000), "too_long"),
    "two segments": (lambda k: _bearer("eyJhbGciOiJSUzI1NiJ9.e30"), "malformed"),
    "four segments": (lambda k: _bearer(_signed_text(k) + ".e30"), "malformed"),
    "characters outside base64url": (lambda k: _bearer("eyJ~.e30.c2ln"), "malformed"),
    "Basic scheme": (lambda k: _md("Basic dXNlcjpwYXNz"), "bad_scheme"),
    "Bearer without a token": (lambda k: _md("Bearer "), "bad_scheme"),
    "Bearer with two spaces": (lambda k: _md("Bearer  " + _signed_text(k)), "bad_scheme"),
    "token without a scheme": (lambda k: _md(_signed_text(k)), "bad_scheme"),
    "two authorization headers": (
        lambda k: [*_bearer(_signed_text(k)), ("authorization", "Bearer " + _signed_text(k))],
        "duplicate_authorization",
    ),
    "unknown API key": (lambda k: _md("Bearer rbk_" + "A" * 43), "api_key_not_accepted"),
    "scope claim of the wrong type": (_signed("ec", scope={"rebac:check": True}), "bad_claim"),
    "cnf bound to a certificate never presented": (
        _signed("ec", cnf={"x5t#S256": "AAAA"}),
        "cert_binding",
    ),
    "cnf of an unsupported kind (DPoP)": (_signed("ec", cnf={"jkt": "AAAA"}), "unsupported_cnf"),
}


def _signed_text(k: Keys) -> str:
    return k["rsa"].sign(claims())


CALLS: dict[str, Callable[[Deployment, Any], Any]] = {
    "unary": Deployment.unary,
    "server-streaming": Deployment.server_stream,
    "client-streaming": Deployment.client_stream,
}


@pytest.fixture(scope="module")
def reference(shared: Deployment) -> bytes:
    """The status details of a plain missing-credential failure: every failure must match."""
    outcome = shared.unary([("x-request-id", REQUEST_ID)])
    assert outcome.code is grpc.StatusCode.UNAUTHENTICATED
    return outcome.status_bytes()


@pytest.mark.parametrize("kind", CALLS)
@pytest.mark.parametrize("name", ATTACKS)
def test_attack_is_refused_identically_and_never_reaches_a_handler(
    shared: Deployment, keys: Keys, reference: bytes, name: str, kind: str
) -> None:
    attack, reason = ATTACKS[name]
    before = len(shared.spy.calls)
    outcome = CALLS[kind](shared, attack(keys))
    assert outcome.code is grpc.StatusCode.UNAUTHENTICATED, outcome
    assert outcome.details == UNAUTHENTICATED_MESSAGE
    assert outcome.status_bytes() == reference, "the failure must not differ by cause"
    assert shared.spy.calls[before:] == [], "a handler ran"
    last = shared.audit()[-1]
    assert (last["reason"], last["decision"], last["status"]) == (
        reason,
        "DENY",
        "UNAUTHENTICATED",
    ), last


def test_the_valid_tokens_used_above_do_pass(shared: Deployment, keys: Keys) -> None:
    """The control: the same keys and claims, unmodified, are accepted with every algorithm."""
    for key in keys.values():
        before = len(shared.spy.calls)
        for call in CALLS.values():
            outcome = call(shared, _bearer(key.sign(claims())))
            assert outcome.code is grpc.StatusCode.OK, (key.kid, outcome)
        assert len(shared.spy.calls) == before + 3


def test_a_list_audience_is_refused_by_the_admin_listener(shared: Deployment, keys: Keys) -> None:
    from rebac.api.v1 import store_service_pb2, store_service_pb2_grpc

    stub = store_service_pb2_grpc.StoreServiceStub(shared.channel(admin=True))

    def call(token: str) -> grpc.StatusCode:
        try:
            stub.ListStores(
                store_service_pb2.ListStoresRequest(), metadata=_bearer(token), timeout=10
            )
        except grpc.RpcError as e:
            assert isinstance(e, grpc.Call)
            if e.code() is grpc.StatusCode.UNAUTHENTICATED:
                assert e.details() == UNAUTHENTICATED_MESSAGE
            return e.code()
        return grpc.StatusCode.OK

    before = len(shared.spy.calls)
    rsa = keys["rsa"]
    assert call(rsa.sign(admin_claims(aud=[ADMIN_AUDIENCE, "rebac-api"]))) is (
        grpc.StatusCode.UNAUTHENTICATED
    )
    assert call(rsa.sign(admin_claims(aud=[ADMIN_AUDIENCE]))) is grpc.StatusCode.UNAUTHENTICATED
    assert call(rsa.sign(admin_claims(aud=None))) is grpc.StatusCode.UNAUTHENTICATED
    assert call(rsa.sign(claims())) is grpc.StatusCode.UNAUTHENTICATED  # data-plane token
    assert shared.spy.calls[before:] == []
    assert call(rsa.sign(admin_claims())) is grpc.StatusCode.OK


def test_an_api_key_is_not_kept_in_the_header_cache(shared: Deployment) -> None:
    """Well-formed bearer headers are remembered with their token; an API key never is, so
    the process holds a presented key no longer than its call (keys are stored as digests)."""
    from server.auth import authenticate

    presented = "Bearer rbk_" + "x" * 40
    outcome = shared.unary(_md(presented))
    assert outcome.code is grpc.StatusCode.UNAUTHENTICATED
    assert presented not in authenticate._credentials
