"""Verification keys: each one bound to exactly one algorithm, checked before it is trusted.

A key comes from a JWKS entry or a configured PEM file and becomes a :class:`VerificationKey`
only if it passes every rule here; a key that fails is skipped (and logged), never "used
anyway". The rules:

* the algorithm is one of :data:`~server.auth.settings.ALLOWED_ALGORITHMS` and matches the key
  type (RS256/PS256: RSA of at least 2048 bits; ES256: EC P-256; EdDSA: Ed25519 or Ed448);
* a JWK without ``alg`` gets the only algorithm its curve allows; an RSA JWK without ``alg``
  gets RS256 (what every issuer we know of publishes); a token must then use exactly that one;
* symmetric (``oct``) keys, private key material (``d``), ``use`` other than ``sig`` and
  ``key_ops`` without ``verify`` are refused;
* every key needs a ``kid``, and a ``kid`` that appears twice in one set is refused for both
  entries: which one would verify is otherwise up to the attacker.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from server.auth.quote import quote
from server.auth.settings import ALLOWED_ALGORITHMS

log = logging.getLogger("rebac.auth")

MIN_RSA_BITS = 2048
MAX_KID_LENGTH = 256
MAX_KEYS = 100

PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)


class KeyError_(ValueError):
    """A key that must not be used; ``str()`` says why (for the operator's log)."""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key and the one algorithm tokens signed with it must declare."""

    kid: str
    alg: str
    key: PublicKey


def check_key(kid: str, alg: str, key: object) -> VerificationKey:
    """``key`` bound to ``alg``, or KeyError_ when the pair breaks a rule."""
    if alg not in ALLOWED_ALGORITHMS:
        raise KeyError_(f"algorithm {quote(alg)} is not allowed")
    if not kid or len(kid) > MAX_KID_LENGTH:
        raise KeyError_("kid must be 1 to 256 characters")
    if alg in ("RS256", "PS256"):
        if not isinstance(key, rsa.RSAPublicKey):
            raise KeyError_(f"{alg} needs an RSA key")
        if key.key_size < MIN_RSA_BITS:
            raise KeyError_(f"RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} required")
        return VerificationKey(kid, alg, key)
    if alg == "ES256":
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise KeyError_("ES256 needs an EC key on curve P-256")
        return VerificationKey(kid, alg, key)
    if not isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        raise KeyError_("EdDSA needs an Ed25519 or Ed448 key")
    return VerificationKey(kid, alg, key)


def _jwk_algorithm(jwk: Mapping[str, Any]) -> str:
    alg = jwk.get("alg")
    if alg is not None:
        if not isinstance(alg, str):
            raise KeyError_("alg must be a string")
        return alg
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "RSA":
        return "RS256"
    if kty == "EC" and crv == "P-256":
        return "ES256"
    if kty == "OKP" and crv in ("Ed25519", "Ed448"):
        return "EdDSA"
    raise KeyError_(f"no allowed algorithm for kty {quote(kty)} crv {quote(crv)}")


def key_from_jwk(jwk: Mapping[str, Any]) -> VerificationKey:
    """One JWKS entry as a verification key; KeyError_ naming the broken rule otherwise."""
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise KeyError_("no kid")
    if jwk.get("kty") == "oct":
        raise KeyError_("symmetric key (kty 'oct') next to public keys is never accepted")
    if "d" in jwk:
        raise KeyError_("private key material ('d') published in a JWKS")
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise KeyError_(f"use {quote(use)} is not 'sig'")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise KeyError_("key_ops does not include 'verify'")
    alg = _jwk_algorithm(jwk)
    if alg not in ALLOWED_ALGORITHMS:
        raise KeyError_(f"algorithm {quote(alg)} is not allowed")
    try:
        parsed = PyJWK(dict(jwk), algorithm=alg)
    except (PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise KeyError_(f"unreadable key: {type(exc).__name__}") from None
    return check_key(kid, alg, parsed.key)


def keys_from_jwks(document: object, source: str) -> dict[str, VerificationKey]:
    """The usable keys of a JWKS document by kid; bad entries are logged and skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeyError_(f"{source}: not a JWKS (expected an object with a 'keys' list)")
    entries = document["keys"][: MAX_KEYS + 1]
    if len(entries) > MAX_KEYS:
        raise KeyError_(f"{source}: more than {MAX_KEYS} keys")
    keys: dict[str, VerificationKey] = {}
    seen: dict[str, int] = {}
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            log.warning("%s: key %d skipped: not an object", source, n)
            continue
        kid = entry.get("kid")
        if isinstance(kid, str):
            seen[kid] = seen.get(kid, 0) + 1
        try:
            key = key_from_jwk(entry)
        except KeyError_ as exc:
            log.warning("%s: key %d (kid %s) skipped: %s", source, n, quote(kid), exc)
            continue
        keys[key.kid] = key
    for kid, count in seen.items():
        if count > 1 and kid in keys:
            log.warning(
                "%s: kid %s appears %d times; none of them is used", source, quote(kid), count
            )
            del keys[kid]
    return keys


def parse_jwks(text: bytes | str, source: str) -> dict[str, VerificationKey]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise KeyError_(f"{source}: not JSON ({type(exc).__name__})") from None
    return keys_from_jwks(document, source)


def load_pem_key(kid: str, alg: str, path: Path) -> VerificationKey:
    """A PEM public key or certificate file, bound to ``alg`` under ``kid``."""
    data = path.read_bytes()
    key: object
    if b"-----BEGIN CERTIFICATE-----" in data:
        key = x509.load_pem_x509_certificate(data).public_key()
    elif b"PRIVATE KEY" in data:
        raise KeyError_(f"{path} holds a private key; configure the public key only")
    else:
        key = load_pem_public_key(data)
    return check_key(kid, alg, key)


def load_pem_keys(entries: Iterable[str]) -> dict[str, VerificationKey]:
    """``KID:ALG:PATH`` entries; any unusable one stops the start (it was configured by hand)."""
    keys: dict[str, VerificationKey] = {}
    for entry in entries:
        kid, alg, path = entry.split(":", 2)
        if kid in keys:
            raise KeyError_(f"auth_keys: kid {kid!r} configured twice")
        try:
            keys[kid] = load_pem_key(kid, alg, Path(path))
        except (OSError, ValueError) as exc:
            raise KeyError_(f"auth_keys: key {kid!r} from {path}: {exc}") from None
    return keys
