"""Local-development mode: real token checks, with a key the server made for itself.

``rebac serve`` without any authentication setting does not turn authentication off. It
creates (once) an Ed25519 signing key and its JWKS under ``DATA_DIR/dev-auth/``, verifies
tokens against that JWKS exactly as in production, listens on loopback only, and writes a
short-lived token with every scope and every store to ``DATA_DIR/dev-auth/token``
(:func:`token_file`), where the ``rebac`` command line looks for one.

What differs from production, on purpose and printed in the start-up banner: one listener
serves the data-plane and the admin APIs (a developer has one address), and the step-up
maximum age is the token lifetime, since the development token records a multi-factor
sign-in as of the moment it was written.

Why not "no authentication" for development: code written against an unauthenticated server
breaks the day it meets a real one; here the token plumbing is exercised from the first call.
Why loopback only: the signing key sits in the data directory, readable by whoever can read
that directory, so these tokens prove nothing about the caller beyond "runs on this machine".

``rebac token mint`` (:mod:`rebac.cli.token_cmd`) mints more tokens from the same key.
No gRPC here.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from jwt.algorithms import OKPAlgorithm
from jwt.utils import base64url_encode

from server.auth.principal import ANY_STORE
from server.auth.scopes import ALL_SCOPES

DEV_DIR = "dev-auth"
DEV_ISSUER = "urn:rebac:dev"
DEV_AUDIENCE = "rebac-dev"
DEV_LIFETIME = 3600
KEY_FILE = "signing-key.pem"
JWKS_FILE = "jwks.json"
TOKEN_FILE = "token"


class DevKeyError(Exception):
    """No development key in the data directory (``rebac serve`` creates it)."""


def dev_dir(data_dir: Path) -> Path:
    return data_dir / DEV_DIR


def default_data_dir() -> Path:
    """The data directory the server settings name (``REBAC_CONFIG``, ``REBAC_DATA_DIR``)."""
    from server.settings import SettingsError, load_settings

    try:
        return load_settings().data_dir
    except SettingsError:
        return Path(".rebac-data")


def token_file(data_dir: Path | None = None) -> Path:
    """Where the development server writes its token (in :func:`default_data_dir` unless
    ``data_dir`` is given)."""
    return dev_dir(default_data_dir() if data_dir is None else data_dir) / TOKEN_FILE


def _write_private(path: Path, data: bytes) -> None:
    """Create or replace ``path`` readable by the owner only, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _kid(key: Ed25519PrivateKey) -> str:
    """The RFC 7638 thumbprint of the public key: stable, and different for every new key."""
    jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    canonical = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":")
    )
    digest = base64url_encode(hashlib.sha256(canonical.encode()).digest())
    return "dev-" + digest.decode()[:16]


def ensure_key(data_dir: Path) -> tuple[Ed25519PrivateKey, str]:
    """The development signing key (created on first use) and its kid; JWKS kept beside it."""
    directory = dev_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / KEY_FILE
    if path.exists():
        key = load_key(data_dir)[0]
    else:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        _write_private(path, pem)
    kid = _kid(key)
    public = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    public.update(kid=kid, alg="EdDSA", use="sig")
    text = json.dumps({"keys": [public]}, indent=2) + "\n"
    jwks = directory / JWKS_FILE
    # Replaced atomically and only when it changes: several workers start at once, and one
    # must never read the file while another is rewriting it (it would see no keys).
    if not jwks.exists() or jwks.read_text() != text:
        tmp = jwks.with_name(f"{jwks.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, jwks)
    return key, kid


def load_key(data_dir: Path) -> tuple[Ed25519PrivateKey, str]:
    path = dev_dir(data_dir) / KEY_FILE
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise DevKeyError(
            f"no development key at {path}: run `rebac serve` (development mode) once with "
            f"--data-dir {data_dir}"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise DevKeyError(f"{path} is not an Ed25519 key")
    return key, _kid(key)


def jwks_path(data_dir: Path) -> Path:
    return dev_dir(data_dir) / JWKS_FILE


def dev_settings(data_dir: Path) -> dict[str, Any]:
    """The authentication settings development mode runs with."""
    return {
        "auth_issuer": DEV_ISSUER,
        "auth_audience": DEV_AUDIENCE,
        "auth_jwks": str(jwks_path(data_dir)),
        "auth_stepup_amr": ["mfa"],
        "auth_stepup_max_age": float(DEV_LIFETIME),
    }


def mint(
    key: Ed25519PrivateKey,
    kid: str,
    *,
    sub: str,
    scopes: Iterable[str],
    stores: Iterable[str],
    audience: str = DEV_AUDIENCE,
    issuer: str = DEV_ISSUER,
    lifetime: int = DEV_LIFETIME,
    step_up: bool = False,
    store_claim: str = "rebac_store",
    now: float | None = None,
) -> str:
    """A signed token; with ``step_up``, it also says "multi-factor sign-in just now"."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": sub,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": uuid.uuid4().hex,
        "scope": " ".join(scopes),
        store_claim: sorted(set(stores)),
    }
    if step_up:
        claims.update(amr=["mfa"], auth_time=issued)
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"})


def write_token(data_dir: Path, *, lifetime: int = DEV_LIFETIME) -> Path:
    """A fresh all-scopes, all-stores token in :func:`token_file` (readable by the owner only)."""
    key, kid = ensure_key(data_dir)
    token = mint(
        key, kid, sub="dev", scopes=ALL_SCOPES, stores=[ANY_STORE], lifetime=lifetime, step_up=True
    )
    path = token_file(data_dir)
    _write_private(path, token.encode() + b"\n")
    return path
