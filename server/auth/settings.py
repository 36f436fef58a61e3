"""Authentication, authorization and audit settings, validated once at start-up.

They join :class:`server.settings.Settings` (which inherits from :class:`AuthSettings`), so each
has one flat name that is the same in a settings file, as ``REBAC_<NAME>`` and as ``--<name>``:
``auth_issuer`` / ``REBAC_AUTH_ISSUER`` / ``--auth-issuer``. List-valued settings accept a
comma-separated string where only strings exist (environment, flags).

Why the server refuses to start rather than guess: a token verifier with no audience accepts a
token minted for any other service of the same issuer, and a half-configured verifier is worse
than none because it looks like one. With *no* authentication setting at all, ``rebac serve``
runs in the clearly labelled local-development mode of :mod:`server.auth.devmode` instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Signature algorithms a key may be bound to. Never ``none``, never HMAC: a symmetric secret
#: next to published public keys is the classic algorithm-confusion hole.
ALLOWED_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
MAX_LEEWAY = 60.0

#: Settings whose presence means "real authentication is configured" (no development mode).
AUTH_SETTINGS = (
    "auth_issuer",
    "auth_audience",
    "auth_admin_audience",
    "auth_jwks",
    "auth_keys",
    "auth_api_keys_file",
    "tls_client_ca",
)


def _split(value: Any) -> Any:
    """``"a, b"`` -> ``["a", "b"]`` for list settings given as one string (env, flags)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _check_address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("expected host:port, e.g. 127.0.0.1:50052")
    return value


class AuthSettings(BaseModel):
    """Everything about who may call and what they may do. Durations are in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auth_issuer: str | None = Field(
        None, description="exact 'iss' of accepted tokens (no prefix or suffix matching)"
    )
    auth_audience: str | None = Field(
        None, description="'aud' a token must carry for the data-plane listener"
    )
    auth_admin_audience: str | None = Field(
        None, description="the only 'aud' accepted by the admin listener (a single string)"
    )
    auth_jwks: str | None = Field(
        None, description="JWKS of the issuer: https:// URL, http:// on loopback only, or a file"
    )
    auth_keys: list[str] = Field(
        default_factory=list,
        description="PEM public keys as KID:ALG:PATH (comma-separated), next to or instead of JWKS",
    )
    auth_leeway: float = Field(30.0, ge=0, le=MAX_LEEWAY, description="clock skew allowed")
    auth_max_lifetime: float = Field(
        3600.0, gt=0, le=86_400, description="longest accepted exp - iat (workload tokens)"
    )
    auth_max_token_bytes: int = Field(8192, ge=512, le=16_384)
    auth_typ: list[str] = Field(
        default_factory=lambda: ["JWT", "at+jwt"],
        description="accepted 'typ' header values (case-insensitive; empty list: any)",
    )
    auth_typ_required: bool = Field(False, description="refuse tokens without a 'typ' header")
    auth_store_claim: str = Field(
        "rebac_store", min_length=1, description="claim naming the store(s) a caller may use"
    )
    auth_stepup_acr: list[str] = Field(
        default_factory=list, description="'acr' values that count as step-up authentication"
    )
    auth_stepup_amr: list[str] = Field(
        default_factory=lambda: ["mfa"],
        description="'amr' methods that count as step-up authentication",
    )
    auth_stepup_max_age: float = Field(
        300.0, gt=0, le=86_400, description="max age of 'auth_time' for high-risk actions"
    )
    auth_jwks_cache_seconds: float = Field(
        300.0, gt=0, le=86_400, description="keys are used at most this long after a fetch"
    )
    auth_jwks_refetch_interval: float = Field(
        30.0, gt=0, le=3600, description="min time between fetches caused by unknown kids"
    )
    auth_jwks_timeout: float = Field(2.0, gt=0, le=30, description="JWKS fetch timeout")
    auth_api_keys_file: Path | None = Field(
        None, description="static API keys (hashed): single-factor, for low-risk workloads"
    )
    tls_cert: Path | None = Field(None, description="server certificate chain (PEM)")
    tls_key: Path | None = Field(None, description="server private key (PEM)")
    tls_client_ca: Path | None = Field(
        None, description="CA bundle for client certificates: enables mutual TLS"
    )
    tls_identities_file: Path | None = Field(
        None, description="client-certificate identities mapped to principals and scopes"
    )
    admin_listen: str | None = Field(
        None, description="address of the admin listener (schema writes, stores)"
    )
    audit_log: str | None = Field(
        None, description="audit JSON-lines file, '-' for stderr (default: DATA_DIR/audit.jsonl)"
    )
    audit_calls: bool = Field(
        True, description="audit data-plane calls too (admin calls are always audited)"
    )
    audit_flush_interval: float = Field(
        0.05,
        ge=0,
        le=10,
        description="seconds the audit line of an admitted Check or CheckBulk may wait to be "
        "written with others (0: every line at once)",
    )

    _split_lists = field_validator(
        "auth_keys", "auth_typ", "auth_stepup_acr", "auth_stepup_amr", mode="before"
    )(_split)

    @field_validator("admin_listen")
    @classmethod
    def _valid_admin_listen(cls, value: str | None) -> str | None:
        return None if value is None else _check_address(value)

    @field_validator("auth_keys")
    @classmethod
    def _valid_keys(cls, value: list[str]) -> list[str]:
        for entry in value:
            parts = entry.split(":", 2)
            if len(parts) != 3 or not all(parts):
                raise ValueError(f"expected KID:ALG:PATH, got {entry!r}")
            if parts[1] not in ALLOWED_ALGORITHMS:
                raise ValueError(
                    f"algorithm {parts[1]!r} of key {parts[0]!r} is not one of "
                    f"{', '.join(ALLOWED_ALGORITHMS)}"
                )
        return value

    @model_validator(mode="after")
    def _complete(self) -> AuthSettings:
        """A partial configuration is refused: every missing piece is named."""
        if not self.auth_configured:
            return self
        problems = []
        jwt_keys = bool(self.auth_jwks or self.auth_keys)
        if not (jwt_keys or self.auth_api_keys_file or self.tls_client_ca):
            problems.append(
                "no credential source: set auth_jwks or auth_keys (tokens), "
                "auth_api_keys_file or tls_client_ca"
            )
        if jwt_keys and not self.auth_issuer:
            problems.append("auth_issuer is required to accept tokens")
        if jwt_keys and not self.auth_audience:
            problems.append(
                "auth_audience is required: without it a token minted for any other service "
                "of the issuer would be accepted"
            )
        if self.auth_admin_audience and self.auth_admin_audience == self.auth_audience:
            problems.append("auth_admin_audience must differ from auth_audience")
        if self.admin_listen and not self.auth_admin_audience:
            problems.append("admin_listen needs auth_admin_audience (its own audience)")
        if not self.auth_stepup_acr and not self.auth_stepup_amr:
            problems.append("set auth_stepup_acr or auth_stepup_amr (high-risk actions need one)")
        if (self.tls_cert is None) != (self.tls_key is None):
            problems.append("tls_cert and tls_key go together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            problems.append("tls_client_ca (mutual TLS) needs tls_cert and tls_key")
        if self.tls_identities_file is not None and self.tls_client_ca is None:
            problems.append("tls_identities_file needs tls_client_ca")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def auth_configured(self) -> bool:
        """True when any real authentication source is set (else: development mode)."""
        return any(getattr(self, name) for name in AUTH_SETTINGS)
