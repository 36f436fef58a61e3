"""Key handling against a real JWKS endpoint: rotation, revocation, fetch floods, outages, and
keys that must never be used. The cache's timing rules are also pinned down with a fake clock
(:class:`KeyCache` unit tests), so the server-level tests can stay short and tolerant."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import grpc
import pytest

from server.auth.jwks import FetchError, FileSource, KeyCache, UrlSource
from server.auth.keys import KeyError_, VerificationKey, check_key, load_pem_keys, parse_jwks
from tests.auth.conftest import Deploy, Deployment, bearer
from tests.auth.helpers import JwksServer, SigningKey, claims, ec_key, ed_key, rsa_key

Keys = dict[str, SigningKey]


def _code(d: Deployment, token: str) -> grpc.StatusCode:
    return d.unary(bearer(token)).code


def _last_reason(d: Deployment) -> str:
    return str(d.audit()[-1]["reason"])


# -- the cache's rules, with a fake clock -------------------------------------------------------


class CountingSource:
    name = "counting"

    def __init__(self, keys: dict[str, VerificationKey]):
        self.keys = keys
        self.calls = 0
        self.fail = False

    def fetch(self) -> dict[str, VerificationKey]:
        self.calls += 1
        if self.fail:
            raise FetchError("down")
        return dict(self.keys)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def vkey(keys: Keys) -> VerificationKey:
    return check_key("ec-1", "ES256", keys["ec"].private.public_key())


def test_unknown_kids_cause_at_most_one_fetch_per_interval(vkey: VerificationKey) -> None:
    source, clock = CountingSource({"ec-1": vkey}), Clock()
    cache = KeyCache(source, lifetime=300, refetch_interval=30, wait=1, clock=clock)
    cache.start()
    try:
        assert source.calls == 1
        assert cache.get("ec-1") == vkey
        for _ in range(200):
            assert cache.get(uuid.uuid4().hex) is None
        assert source.calls == 1  # the start-up fetch was less than an interval ago
        clock.now += 31
        for _ in range(200):
            assert cache.get(uuid.uuid4().hex) is None
        assert source.calls == 2  # one refetch for the whole flood
        clock.now += 10
        assert cache.get(uuid.uuid4().hex) is None
        assert source.calls == 2
    finally:
        cache.stop()


def test_a_removed_key_stops_verifying_within_the_lifetime(vkey: VerificationKey) -> None:
    source, clock = CountingSource({"ec-1": vkey}), Clock()
    cache = KeyCache(source, lifetime=60, refetch_interval=30, wait=1, clock=clock)
    cache.start()
    try:
        source.keys = {}
        clock.now += 31  # the background refresh is due at half the lifetime
        deadline = time.monotonic() + 5
        while source.calls < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cache.get("ec-1") is None
    finally:
        cache.stop()


def test_an_unreachable_source_fails_closed_after_the_lifetime(vkey: VerificationKey) -> None:
    source, clock = CountingSource({"ec-1": vkey}), Clock()
    cache = KeyCache(source, lifetime=60, refetch_interval=30, wait=1, clock=clock)
    cache.start()
    try:
        source.fail = True
        clock.now += 59
        assert cache.get("ec-1") == vkey  # still within the lifetime of the last good fetch
        clock.now += 2
        assert cache.get("ec-1") is None
        assert cache.unavailable()
        source.fail = False
        clock.now += 31
        assert cache.get("ec-1") == vkey  # recovered by the refetch the miss asked for
    finally:
        cache.stop()


# -- against the real endpoint -----------------------------------------------------------------


def test_random_kid_flood_is_one_fetch_per_interval(deploy: Deploy, keys: Keys) -> None:
    d = deploy(auth_jwks_refetch_interval=1.0)
    time.sleep(1.05)  # the start-up fetch is now more than an interval ago
    before, started = d.jwks.hits, time.monotonic()
    tokens = [keys["rsa"].sign(claims(), {"kid": uuid.uuid4().hex}) for _ in range(60)]
    codes: list[grpc.StatusCode] = []

    def worker(chunk: list[str]) -> None:
        for token in chunk:
            codes.append(_code(d, token))

    threads = [threading.Thread(target=worker, args=(tokens[i::6],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert set(codes) == {grpc.StatusCode.UNAUTHENTICATED} and len(codes) == 60
    fetches = d.jwks.hits - before
    assert 1 <= fetches <= 1 + int(elapsed / 1.0), (fetches, elapsed)
    assert d.spy.calls == []


def test_rotation_is_picked_up_without_restart(deploy: Deploy, keys: Keys) -> None:
    d = deploy(auth_jwks_refetch_interval=0.2)
    new = ec_key("ec-2025")
    assert _code(d, keys["ec"].sign(claims())) is grpc.StatusCode.OK
    d.jwks.publish(keys["ec"], new)  # the issuer adds the next key, then signs with it
    time.sleep(0.25)
    assert _code(d, new.sign(claims())) is grpc.StatusCode.OK
    assert _code(d, keys["ec"].sign(claims())) is grpc.StatusCode.OK


def test_revoked_key_stops_verifying_within_the_cache_lifetime(deploy: Deploy, keys: Keys) -> None:
    d = deploy(auth_jwks_cache_seconds=0.6, auth_jwks_refetch_interval=5)
    assert _code(d, keys["ed"].sign(claims())) is grpc.StatusCode.OK
    d.jwks.publish(keys["rsa"])  # ed-1 removed
    time.sleep(0.8)
    assert _code(d, keys["ed"].sign(claims())) is grpc.StatusCode.UNAUTHENTICATED
    assert _last_reason(d) == "unknown_kid"
    assert _code(d, keys["rsa"].sign(claims())) is grpc.StatusCode.OK


def test_jwks_down_fails_closed_and_recovers(deploy: Deploy, keys: Keys) -> None:
    d = deploy(auth_jwks_cache_seconds=0.6, auth_jwks_refetch_interval=0.2)
    token = keys["rsa"].sign(claims())
    assert _code(d, token) is grpc.StatusCode.OK
    d.jwks.down = True
    time.sleep(0.8)
    assert _code(d, token) is grpc.StatusCode.UNAUTHENTICATED
    assert _last_reason(d) == "jwks_unavailable"
    assert d.spy.calls.count("/rebac.api.v1.PermissionService/Check") == 1
    d.jwks.down = False
    time.sleep(0.25)
    assert _code(d, token) is grpc.StatusCode.OK


def test_jwks_down_at_start_refuses_everything(
    tmp_path: Path, deploy: Deploy, jwks: JwksServer, keys: Keys
) -> None:
    jwks.down = True
    d = deploy(auth_jwks_refetch_interval=0.2)
    assert d.runtime.keys.unavailable()
    assert _code(d, keys["rsa"].sign(claims())) is grpc.StatusCode.UNAUTHENTICATED
    assert _last_reason(d) == "jwks_unavailable"
    assert d.spy.calls == []


def test_a_hanging_jwks_endpoint_bounds_the_wait(deploy: Deploy, keys: Keys) -> None:
    d = deploy(auth_jwks_timeout=0.3, auth_jwks_refetch_interval=0.1)
    d.jwks.delay = 2.0
    time.sleep(0.15)
    started = time.monotonic()
    token = keys["rsa"].sign(claims(), {"kid": "not-yet-published"})
    assert _code(d, token) is grpc.StatusCode.UNAUTHENTICATED
    assert time.monotonic() - started < 1.5
    # known keys keep working while the fetch hangs
    assert _code(d, keys["rsa"].sign(claims())) is grpc.StatusCode.OK
    d.jwks.delay = 0


# -- keys that are never used --------------------------------------------------------------------


def test_unusable_jwks_entries_are_skipped(keys: Keys) -> None:
    weak = rsa_key("weak", bits=1024)
    doc = {
        "keys": [
            weak.public_jwk(),  # too short
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "alg": "HS256"},  # symmetric
            {**keys["ec"].public_jwk(kid="priv"), "d": "AAAA"},  # private material
            keys["ec"].public_jwk(kid="enc", use="enc"),  # not for signatures
            keys["ec"].public_jwk(kid="wrong-alg", alg="RS256"),  # EC key, RSA algorithm
            keys["rsa"].public_jwk(kid="hs", alg="HS256"),  # RSA key, HMAC algorithm
            keys["ed"].public_jwk(kid="dup"),
            keys["ec"].public_jwk(kid="dup"),  # ambiguous kid: neither is used
            {k: v for k, v in keys["ed"].public_jwk().items() if k != "kid"},  # no kid
            "not an object",
            keys["rsa"].public_jwk(kid="good"),
        ]
    }
    parsed = parse_jwks(json.dumps(doc), "test")
    assert set(parsed) == {"good"}
    assert parsed["good"].alg == "RS256"


def test_jwk_without_alg_gets_the_one_its_curve_allows(keys: Keys) -> None:
    strip = [{k: v for k, v in key.public_jwk().items() if k != "alg"} for key in keys.values()]
    parsed = parse_jwks(json.dumps({"keys": strip}), "test")
    assert {kid: k.alg for kid, k in parsed.items()} == {
        "rsa-1": "RS256",
        "ps-1": "RS256",
        "ec-1": "ES256",
        "ed-1": "EdDSA",
    }


def test_not_a_jwks_document() -> None:
    for text in ("[]", "{}", '{"keys": {}}', "nope"):
        with pytest.raises(KeyError_):
            parse_jwks(text, "test")


def test_plain_http_jwks_only_on_loopback() -> None:
    UrlSource("http://127.0.0.1:8080/jwks.json", 1)
    UrlSource("http://localhost/jwks.json", 1)
    UrlSource("https://issuer.example/jwks.json", 1)
    for url in ("http://issuer.example/jwks.json", "ftp://x/jwks.json", "https:///nohost"):
        with pytest.raises(ValueError):
            UrlSource(url, 1)


def test_configured_pem_keys(tmp_path: Path, keys: Keys) -> None:
    (tmp_path / "rsa.pem").write_bytes(keys["rsa"].public_pem())
    (tmp_path / "weak.pem").write_bytes(rsa_key("weak", bits=1024).public_pem())
    (tmp_path / "private.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    loaded = load_pem_keys([f"pem-1:RS256:{tmp_path / 'rsa.pem'}"])
    assert loaded["pem-1"].alg == "RS256"
    for entry in ("w:RS256:weak.pem", "e:ES256:rsa.pem", "p:RS256:private.pem", "m:RS256:missing"):
        kid, alg, name = entry.split(":")
        with pytest.raises(KeyError_):
            load_pem_keys([f"{kid}:{alg}:{tmp_path / name}"])


def test_tokens_verify_against_pem_keys_without_a_jwks(
    deploy: Deploy, tmp_path: Path, keys: Keys
) -> None:
    pem = tmp_path / "ed.pem"
    pem.write_bytes(keys["ed"].public_pem())
    d = deploy(auth_jwks=None, auth_keys=f"ed-1:EdDSA:{pem}")
    assert _code(d, keys["ed"].sign(claims())) is grpc.StatusCode.OK
    assert _code(d, keys["rsa"].sign(claims())) is grpc.StatusCode.UNAUTHENTICATED
    assert _last_reason(d) == "unknown_kid"


def test_a_jwks_file_is_reread_on_rotation(deploy: Deploy, tmp_path: Path, keys: Keys) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [keys["ec"].public_jwk()]}))
    d = deploy(auth_jwks=str(path), auth_jwks_refetch_interval=0.1)
    assert _code(d, keys["ec"].sign(claims())) is grpc.StatusCode.OK
    new = ed_key("ed-2")
    path.write_text(json.dumps({"keys": [keys["ec"].public_jwk(), new.public_jwk()]}))
    time.sleep(0.15)
    assert _code(d, new.sign(claims())) is grpc.StatusCode.OK
    assert isinstance(d.runtime.keys.source, FileSource)
