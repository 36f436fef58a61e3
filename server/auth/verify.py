"""JWT verification: a compact token string in, a :class:`Principal` or an :class:`AuthFailure` out.

No gRPC here: this is the security decision, testable on its own; the interceptor only plugs
it in. The header is parsed and judged *before* any key is looked up or any signature checked,
so a hostile header never reaches PyJWT's algorithm dispatch:

* three base64url segments, at most ``max_token_bytes``; header and payload JSON objects
  without duplicate members (two ``alg`` or two ``sub`` are a parser-differential attack);
* ``alg`` exactly one of the allowed names (so ``none``, ``None``, ``NONE`` and HS256 all fail);
* ``kid`` required, and the key found under it must be bound to that very ``alg``;
* ``crit``, ``jku``, ``x5u``, ``jwk``, ``x5c``, ``b64`` and ``zip`` refused outright: we never
  fetch or trust keys a token points at, and understand no critical extension;
* ``typ`` per policy.

Then PyJWT checks the signature with that one key and algorithm, and the claims: ``iss`` equal
to the configured issuer, ``aud`` containing the audience (exactly equal and a single string
when ``strict_audience``, as on the admin listener), ``exp``/``iat``/``sub`` present, ``nbf``
honoured, leeway at most 60 s, ``iat`` not in the future, and ``exp - iat`` within the maximum
lifetime. Every failure is an :class:`AuthFailure` with a short ``reason`` for the logs; the
caller is told none of it.

A service sends the same token with every call until it refreshes it, and checking it costs
more than answering a Check (signature, base64 and JSON work: ~250 us). So each verifier
remembers the tokens it accepted (:class:`VerifiedTokens`), keyed by the exact token text, and
answers a repeated token from memory only while all of these still hold: the clock is before
its ``exp`` (never the leeway past it: after ``exp`` the token takes the full path again, which
accepts or refuses it exactly as without the cache), and the key that verified it is still the
key its ``kid`` names (a key rotated out or a key set gone stale sends it down the full path,
where it fails closed). Refusals are never remembered, and a verifier belongs to one listener
and one audience, so a token accepted for one is unknown to another.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jwt
from jwt import exceptions as jwt_errors

from server.auth.jwks import KeyCache
from server.auth.keys import VerificationKey
from server.auth.principal import Principal
from server.auth.quote import quote
from server.auth.settings import ALLOWED_ALGORITHMS, MAX_LEEWAY

FORBIDDEN_HEADER = ("crit", "jku", "x5u", "jwk", "x5c", "b64", "zip")
MAX_KID_LENGTH = 256
MAX_SUB_LENGTH = 1024
_COMPACT = re.compile(rb"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class AuthFailure(Exception):
    """Authentication refused. ``reason`` is a stable code, ``detail`` already log-safe."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """What a token must look like to be accepted on one listener."""

    issuer: str
    audience: str
    strict_audience: bool = False
    leeway: float = 30.0
    max_lifetime: float = 3600.0
    max_token_bytes: int = 8192
    typ: frozenset[str] = frozenset({"jwt", "at+jwt"})
    typ_required: bool = False
    store_claim: str = "rebac_store"

    def __post_init__(self) -> None:
        if not self.issuer or not self.audience:
            raise ValueError("a token policy needs an issuer and an audience")
        if not 0 <= self.leeway <= MAX_LEEWAY:
            raise ValueError(f"leeway must be 0 to {MAX_LEEWAY} seconds")


def normalise_typ(value: str) -> str:
    """RFC 7515 4.1.9: ``typ`` is a media type, compared case-insensitively without the
    ``application/`` prefix."""
    lowered = value.lower()
    return lowered.removeprefix("application/")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate member {quote(key)}")
        out[key] = value
    return out


def _segment_json(segment: bytes, what: str) -> dict[str, Any]:
    padded = segment + b"=" * (-len(segment) % 4)
    try:
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
        value = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise AuthFailure("malformed", f"{what}: {quote(str(exc))}") from None
    if not isinstance(value, dict):
        raise AuthFailure("malformed", f"{what} is not a JSON object")
    return value


def _number(claims: dict[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise AuthFailure("missing_claim", name)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AuthFailure("bad_claim", f"{name} is not a finite number")
    return float(value)


def _strings(value: object, name: str) -> tuple[str, ...]:
    """A space-separated string or a list of strings (how ``scope``/``scp`` are sent)."""
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise AuthFailure("bad_claim", f"{name} must be a string or a list of strings")


#: Accepted tokens one verifier remembers: a few thousand services' current tokens, at most
#: ``max_token_bytes`` each (8 KiB by default: 32 MiB in the worst case, ~4 MiB for the usual
#: ~1 KiB token).
VERIFIED_TOKENS = 4096


class _Verified(NamedTuple):
    principal: Principal
    exp: float
    kid: str
    key: VerificationKey


class VerifiedTokens:
    """Tokens a verifier accepted, by their exact text, until their ``exp`` (bounded: when
    full, expired entries go first, then the oldest). Thread-safe; lookups take no lock."""

    def __init__(self, capacity: int = VERIFIED_TOKENS):
        self.capacity = capacity
        self._entries: dict[str, _Verified] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> _Verified | None:
        return self._entries.get(token)

    def add(self, token: str, entry: _Verified, now: float) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            entries = self._entries
            if len(entries) >= self.capacity and token not in entries:
                for old in [t for t, e in entries.items() if e.exp <= now]:
                    del entries[old]
                while len(entries) >= self.capacity:
                    del entries[next(iter(entries))]
            entries[token] = entry

    def discard(self, token: str) -> None:
        with self._lock:
            self._entries.pop(token, None)


class TokenVerifier:
    """Verifies tokens against one key cache and one :class:`TokenPolicy`; remembers the
    tokens it accepted (see the module docstring)."""

    def __init__(
        self,
        keys: KeyCache,
        policy: TokenPolicy,
        clock: Callable[[], float] = time.time,
        *,
        cache_size: int = VERIFIED_TOKENS,
    ):
        self.keys = keys
        self.policy = policy
        self.clock = clock
        self.verified = VerifiedTokens(cache_size)

    def header(self, token: str) -> dict[str, Any]:
        """The judged header (see the module docstring); AuthFailure otherwise."""
        policy = self.policy
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise AuthFailure("malformed", "non-ASCII characters") from None
        if len(raw) > policy.max_token_bytes:
            raise AuthFailure("too_long", f"{len(raw)} bytes")
        if not _COMPACT.fullmatch(raw):
            raise AuthFailure("malformed", "not three base64url segments")
        header = _segment_json(raw.split(b".", 1)[0], "header")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
            raise AuthFailure("alg_not_allowed", quote(alg))
        forbidden = sorted(name for name in FORBIDDEN_HEADER if name in header)
        if forbidden:
            raise AuthFailure("forbidden_header", ",".join(forbidden))
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
            raise AuthFailure("no_kid", quote(kid))
        typ = header.get("typ")
        if typ is None:
            if policy.typ_required:
                raise AuthFailure("typ", "missing")
        elif not isinstance(typ, str) or (policy.typ and normalise_typ(typ) not in policy.typ):
            raise AuthFailure("typ", quote(typ))
        return header

    def verify(self, token: str) -> Principal:
        """The principal ``token`` stands for; AuthFailure when it is not acceptable here."""
        known = self.verified.get(token)
        if known is not None:
            if self.clock() < known.exp and self.keys.current(known.kid) is known.key:
                return known.principal
            self.verified.discard(token)  # expired or its key replaced: the full path decides
        entry = self._verify(token)
        now = self.clock()
        if now < entry.exp:
            self.verified.add(token, entry, now)
        return entry.principal

    def _verify(self, token: str) -> _Verified:
        """Every check of the module docstring, nothing remembered."""
        header = self.header(token)
        kid, alg = header["kid"], header["alg"]
        key = self.keys.get(kid)
        if key is None:
            if self.keys.unavailable():
                raise AuthFailure("jwks_unavailable", f"kid {quote(kid)}")
            raise AuthFailure("unknown_kid", quote(kid))
        if key.alg != alg:
            raise AuthFailure("alg_mismatch", f"kid {quote(kid)} is {key.alg}, token says {alg}")
        policy = self.policy
        try:
            jwt.decode(
                token,
                key=key.key,
                algorithms=[key.alg],
                audience=policy.audience,
                issuer=policy.issuer,
                leeway=policy.leeway,
                options={
                    "require": ["exp", "iat", "iss", "aud", "sub"],
                    "strict_aud": policy.strict_audience,
                },
            )
        except jwt_errors.PyJWTError as exc:
            raise _failure_for(exc) from None
        claims = _segment_json(token.encode("ascii").split(b".")[1], "payload")
        principal, exp = self._principal(claims, kid)
        return _Verified(principal, exp, kid, key)

    def _principal(self, claims: dict[str, Any], kid: str) -> tuple[Principal, float]:
        policy = self.policy
        now = self.clock()
        exp = _number(claims, "exp", required=True)
        iat = _number(claims, "iat", required=True)
        _number(claims, "nbf", required=False)
        assert exp is not None and iat is not None
        if iat > now + policy.leeway:
            raise AuthFailure("iat_in_future", f"iat {iat:.0f} > now {now:.0f}")
        if exp - iat > policy.max_lifetime:
            raise AuthFailure(
                "lifetime_exceeded", f"{exp - iat:.0f} s > {policy.max_lifetime:.0f} s"
            )
        sub = claims.get("sub")
        if not isinstance(sub, str) or not 0 < len(sub) <= MAX_SUB_LENGTH:
            raise AuthFailure("bad_claim", "sub must be a non-empty string")
        if "scope" in claims:
            scopes = _strings(claims["scope"], "scope")
        elif "scp" in claims:
            scopes = _strings(claims["scp"], "scp")
        else:
            scopes = ()
        stores_claim = claims.get(policy.store_claim)
        stores = () if stores_claim is None else _strings(stores_claim, policy.store_claim)
        acr = claims.get("acr")
        if acr is not None and not isinstance(acr, str):
            raise AuthFailure("bad_claim", "acr must be a string")
        amr_claim = claims.get("amr")
        amr = () if amr_claim is None else _strings(amr_claim, "amr")
        auth_time = _number(claims, "auth_time", required=False)
        principal = Principal(
            sub=sub,
            iss=policy.issuer,
            method="jwt",
            scopes=frozenset(scopes),
            stores=frozenset(stores),
            credential_id=kid,
            acr=acr,
            amr=amr,
            auth_time=auth_time,
            cert_thumbprint=_cnf_thumbprint(claims),
        )
        return principal, exp


def _cnf_thumbprint(claims: dict[str, Any]) -> str | None:
    """RFC 8705 ``cnf.x5t#S256``; any other confirmation method cannot be checked: refused."""
    cnf = claims.get("cnf")
    if cnf is None:
        return None
    if not isinstance(cnf, dict) or set(cnf) != {"x5t#S256"}:
        raise AuthFailure("unsupported_cnf", "only cnf.x5t#S256 (mTLS binding) is supported")
    value = cnf["x5t#S256"]
    if not isinstance(value, str) or not value:
        raise AuthFailure("bad_claim", "cnf.x5t#S256 must be a string")
    return value


def _failure_for(exc: jwt_errors.PyJWTError) -> AuthFailure:
    """PyJWT's exception as a reason code (its message is ours, not the attacker's)."""
    if isinstance(exc, jwt_errors.InvalidSignatureError):
        return AuthFailure("bad_signature")
    if isinstance(exc, jwt_errors.ExpiredSignatureError):
        return AuthFailure("expired")
    if isinstance(exc, jwt_errors.ImmatureSignatureError):
        return AuthFailure("iat_in_future" if "(iat)" in str(exc) else "not_yet_valid")
    if isinstance(exc, jwt_errors.MissingRequiredClaimError):
        return AuthFailure("audience" if exc.claim == "aud" else "missing_claim", exc.claim)
    if isinstance(exc, jwt_errors.InvalidAudienceError):
        return AuthFailure("audience", str(exc))
    if isinstance(exc, jwt_errors.InvalidIssuerError):
        return AuthFailure("issuer", str(exc))
    return AuthFailure("invalid", f"{type(exc).__name__}: {quote(str(exc))}")
