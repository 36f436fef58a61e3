"""The verified-token cache (:class:`server.auth.verify.VerifiedTokens`) must never accept what
the full verification would refuse: not after ``exp``, not a token that differs from the
remembered one in any character, not on another audience or listener, not once its key is gone,
and it must never remember a refusal."""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest

from rebac.api.v1 import schema_service_pb2, schema_service_pb2_grpc
from server.auth.jwks import KeyCache
from server.auth.keys import VerificationKey, check_key
from server.auth.verify import AuthFailure, TokenPolicy, TokenVerifier
from tests.auth.conftest import Deployment, bearer
from tests.auth.helpers import ADMIN_AUDIENCE, AUDIENCE, ISSUER, SigningKey, claims, ed_key

Keys = dict[str, SigningKey]


class Source:
    """A key source whose key set a test changes."""

    name = "test"

    def __init__(self, keys: dict[str, VerificationKey]):
        self.keys = keys

    def fetch(self) -> dict[str, VerificationKey]:
        return dict(self.keys)


def _vkey(key: SigningKey) -> VerificationKey:
    return check_key(key.kid, key.alg, key.private.public_key())


def _verifier(
    keys: KeyCache, audience: str = AUDIENCE, *, strict: bool = False, **policy: Any
) -> TokenVerifier:
    return TokenVerifier(
        keys, TokenPolicy(ISSUER, audience, strict_audience=strict, **policy), cache_size=8
    )


@pytest.fixture
def signer() -> SigningKey:
    return ed_key("ed-cache")


@pytest.fixture
def static(signer: SigningKey) -> KeyCache:
    return KeyCache(None, static={signer.kid: _vkey(signer)})


def _reason(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(AuthFailure) as failure:
        verifier.verify(token)
    return failure.value.reason


def test_an_accepted_token_is_answered_from_memory(static: KeyCache, signer: SigningKey) -> None:
    verifier = _verifier(static)
    token = signer.sign(claims())
    first = verifier.verify(token)
    assert len(verifier.verified) == 1
    assert verifier.verify(token) is first


def test_a_remembered_token_is_refused_after_its_expiry(
    static: KeyCache, signer: SigningKey
) -> None:
    verifier = _verifier(static, leeway=0)
    now = int(time.time())
    token = signer.sign(claims(iat=now - 60, exp=now + 2))
    assert verifier.verify(token).sub == "svc:billing"
    assert len(verifier.verified) == 1
    time.sleep(max(0.0, now + 2.05 - time.time()))
    assert _reason(verifier, token) == "expired"
    assert len(verifier.verified) == 0


def test_past_exp_a_remembered_token_takes_the_full_path(
    static: KeyCache, signer: SigningKey
) -> None:
    """The cache never stretches a token's life: at ``exp`` (by the verifier's clock) the
    entry is dropped and the full verification decides (within the leeway it accepts, as it
    would without the cache, but nothing is remembered any more)."""
    now = time.time()
    clock = [now]
    verifier = TokenVerifier(
        static, TokenPolicy(ISSUER, AUDIENCE, leeway=30), clock=lambda: clock[0]
    )
    token = signer.sign(claims(iat=int(now) - 60, exp=int(now) + 600))
    full = verifier._verify
    calls: list[str] = []

    def counting(text: str) -> Any:
        calls.append(text)
        return full(text)

    verifier._verify = counting  # type: ignore[method-assign]
    verifier.verify(token)
    verifier.verify(token)
    assert len(calls) == 1
    clock[0] = now + 600
    verifier.verify(token)  # PyJWT's own clock still says "valid"
    assert len(calls) == 2
    assert len(verifier.verified) == 0


def test_the_cache_keys_on_the_full_token(static: KeyCache, signer: SigningKey) -> None:
    verifier = _verifier(static)
    token = signer.sign(claims())
    verifier.verify(token)
    head, payload, signature = token.split(".")
    other = "A" if signature[-2] != "A" else "B"
    tampered_signature = f"{head}.{payload}.{signature[:-2]}{other}{signature[-1]}"
    assert _reason(verifier, tampered_signature) == "bad_signature"
    forged_payload = signer.sign(claims(sub="svc:attacker")).split(".")[1]
    assert _reason(verifier, f"{head}.{forged_payload}.{signature}") == "bad_signature"
    assert _reason(verifier, token + "A") in ("bad_signature", "malformed", "invalid")
    assert _reason(verifier, token[:-1]) in ("bad_signature", "malformed", "invalid")
    assert verifier.verify(token).sub == "svc:billing"
    assert len(verifier.verified) == 1


def test_a_token_accepted_for_one_audience_is_refused_for_another(
    static: KeyCache, signer: SigningKey
) -> None:
    data = _verifier(static, AUDIENCE)
    admin = _verifier(static, ADMIN_AUDIENCE, strict=True)
    data_token = signer.sign(claims())
    admin_token = signer.sign(claims(aud=ADMIN_AUDIENCE))
    assert data.verify(data_token).sub == "svc:billing"
    assert admin.verify(admin_token).sub == "svc:billing"
    assert _reason(admin, data_token) == "audience"
    assert _reason(data, admin_token) == "audience"
    assert data.verify(data_token).sub == "svc:billing"  # still accepted where it belongs


def test_a_refusal_is_never_remembered(static: KeyCache, signer: SigningKey) -> None:
    verifier = _verifier(static)
    stranger = ed_key("ed-cache")  # the same kid, another key
    assert _reason(verifier, stranger.sign(claims())) == "bad_signature"
    assert _reason(verifier, signer.sign(claims(iss="https://evil.example"))) == "issuer"
    assert len(verifier.verified) == 0


def test_a_remembered_token_is_refused_once_its_key_is_gone(signer: SigningKey) -> None:
    source = Source({signer.kid: _vkey(signer)})
    keys = KeyCache(source, lifetime=300, refetch_interval=0, wait=1)
    keys.start()
    try:
        verifier = _verifier(keys)
        token = signer.sign(claims())
        verifier.verify(token)
        other = ed_key("ed-next")
        source.keys = {other.kid: _vkey(other)}  # the issuer replaces the key
        assert keys.get(other.kid) is not None  # an unknown kid: one refetch, which drops ours
        assert _reason(verifier, token) == "unknown_kid"
        assert len(verifier.verified) == 0
    finally:
        keys.stop()


def test_the_cache_is_bounded(static: KeyCache, signer: SigningKey) -> None:
    verifier = _verifier(static)  # 8 entries
    tokens = [signer.sign(claims(sub=f"svc:{n}")) for n in range(20)]
    for n, token in enumerate(tokens):
        assert verifier.verify(token).sub == f"svc:{n}"
        assert len(verifier.verified) <= 8
    assert verifier.verify(tokens[0]).sub == "svc:0"


def test_a_data_plane_token_is_refused_by_the_admin_listener_after_use(
    deployment: Deployment, keys: Keys
) -> None:
    """End to end: a token the data-plane listener accepted (and remembers) gets the admin
    listener's UNAUTHENTICATED, every time."""
    token = bearer(keys["ec"].sign(claims()))
    assert deployment.unary(token).code is grpc.StatusCode.OK
    assert deployment.unary(token).code is grpc.StatusCode.OK
    admin = schema_service_pb2_grpc.SchemaServiceStub(deployment.channel(admin=True))
    request = schema_service_pb2.ReadSchemaRequest(store_id="default")
    for _ in range(2):
        with pytest.raises(grpc.RpcError) as refused:
            admin.ReadSchema(request, metadata=token, timeout=10)
        assert isinstance(refused.value, grpc.Call)
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert deployment.audit()[-1]["reason"] == "audience"
    assert deployment.unary(token).code is grpc.StatusCode.OK
