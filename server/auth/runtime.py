"""Assemble authentication from settings: key cache, verifiers, interceptors, audit, TLS.

:func:`build_auth` is the one place that reads :class:`~server.auth.settings.AuthSettings`;
everything it builds is handed to the server explicitly (no globals). It decides the mode:

* **configured**: any ``auth_*`` credential setting present; incomplete configurations were
  already refused by the settings validation;
* **development**: nothing configured; see :mod:`server.auth.devmode` (loopback only, one
  listener for everything, no admin listener).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

from server.auth.apikeys import ApiKeys
from server.auth.audit import AuditLog
from server.auth.authenticate import Authenticator
from server.auth.devmode import dev_settings, ensure_key
from server.auth.interceptor import AuthConfig, AuthInterceptor
from server.auth.jwks import KeyCache, source_for
from server.auth.keys import load_pem_keys
from server.auth.mtls import CertIdentities
from server.auth.scopes import Listener
from server.auth.settings import AuthSettings
from server.auth.stepup import StepUpPolicy
from server.auth.verify import TokenPolicy, TokenVerifier, normalise_typ

if TYPE_CHECKING:
    from rebac.datastore import Datastore
    from server.app import Interceptor, RebacServer
    from server.settings import Settings

log = logging.getLogger("rebac.auth")

AUDIT_FILE = "audit.jsonl"
#: Large enough that an oversized token reaches the verifier (and gets the constant
#: UNAUTHENTICATED answer) instead of failing in the transport with another status.
MAX_METADATA_BYTES = 64 * 1024

DATA_SERVICES = (
    "rebac.api.v1.PermissionService",
    "rebac.api.v1.RelationshipService",
    "rebac.api.v1.SchemaService",
    "rebac.api.v1.WatchService",
)
ADMIN_SERVICES = ("rebac.api.v1.SchemaService", "rebac.api.v1.StoreService")


class AuthSetupError(Exception):
    """Authentication cannot be set up as configured; ``str()`` is for the operator."""


@dataclass
class AuthRuntime:
    """What the server needs from the auth layer, per listener."""

    settings: AuthSettings
    dev_mode: bool
    keys: KeyCache
    audit: AuditLog
    data: AuthInterceptor
    admin: AuthInterceptor | None
    credentials: grpc.ServerCredentials | None = None
    options: Sequence[tuple[str, Any]] = field(
        default=(("grpc.max_metadata_size", MAX_METADATA_BYTES),)
    )

    def start(self) -> None:
        """Fetch the keys once (bounded wait) and keep them fresh in the background; calling
        it again does nothing."""
        if self.keys.running:
            return
        self.keys.start()
        if self.keys.unavailable():
            log.error(
                "no verification keys yet from %s: every token is refused until a fetch "
                "succeeds (retrying in the background)",
                self.settings.auth_jwks,
            )

    def close(self) -> None:
        self.keys.stop()
        self.audit.close()

    def build_server(
        self,
        settings: Settings,
        datastore: Datastore,
        inner: Sequence[Interceptor] = (),
    ) -> RebacServer:
        """The listeners (for :func:`server.app.serve`'s ``build``): the data-plane listener,
        with the admin listener as its companion when ``admin_listen`` is set; in development
        mode one listener for everything. ``inner`` interceptors run after authentication.
        Starts the key cache if it is not running yet."""
        from server.app import RebacServer

        self.start()

        if self.dev_mode or self.admin is None:
            return RebacServer(settings, datastore, [self.data, *inner], extra_options=self.options)
        companions: list[RebacServer] = []
        if self.settings.admin_listen:
            admin_settings = settings.model_copy(update={"listen": self.settings.admin_listen})
            companions.append(
                RebacServer(
                    admin_settings,
                    datastore,
                    [self.admin, *inner],
                    services=ADMIN_SERVICES,
                    credentials=self.credentials,
                    extra_options=self.options,
                    owns_datastore=False,
                )
            )
        return RebacServer(
            settings,
            datastore,
            [self.data, *inner],
            services=DATA_SERVICES,
            credentials=self.credentials,
            extra_options=self.options,
            companions=companions,
        )

    def describe(self) -> list[str]:
        """Lines for the start-up banner: what is checked, and where the audit goes."""
        s = self.settings
        if self.dev_mode:
            lines = [
                "  authentication: DEVELOPMENT MODE - loopback only, one listener for the data",
                "                  and admin APIs, tokens signed by a key in the data directory",
            ]
        else:
            sources = [x for x in (s.auth_jwks, *(k.split(":", 1)[0] for k in s.auth_keys)) if x]
            lines = [
                f"  authentication: JWT from issuer {s.auth_issuer!r}, audience "
                f"{s.auth_audience!r}, keys {', '.join(sources) or 'none'}",
            ]
            if s.auth_api_keys_file:
                lines.append(f"                  API keys from {s.auth_api_keys_file}")
            if s.tls_client_ca:
                lines.append(f"                  mutual TLS, client CA {s.tls_client_ca}")
            if not s.admin_listen:
                lines.append("                  admin APIs not served (set admin_listen)")
        lines.append(f"  audit log:      {self.audit.name}")
        return lines


def effective_settings(auth: AuthSettings, data_dir: Path) -> tuple[AuthSettings, bool]:
    """The settings to run with, and whether that is development mode."""
    own = {name: getattr(auth, name) for name in AuthSettings.model_fields}
    if auth.auth_configured:
        return AuthSettings.model_validate(own), False
    ensure_key(data_dir)
    return AuthSettings.model_validate({**own, **dev_settings(data_dir)}), True


def _token_policy(s: AuthSettings, audience: str, *, strict: bool) -> TokenPolicy:
    assert s.auth_issuer is not None
    return TokenPolicy(
        issuer=s.auth_issuer,
        audience=audience,
        strict_audience=strict,
        leeway=s.auth_leeway,
        max_lifetime=s.auth_max_lifetime,
        max_token_bytes=s.auth_max_token_bytes,
        typ=frozenset(normalise_typ(t) for t in s.auth_typ),
        typ_required=s.auth_typ_required,
        store_claim=s.auth_store_claim,
    )


def build_auth(auth: AuthSettings, data_dir: Path) -> AuthRuntime:
    """Everything from settings; AuthSetupError naming the problem when a file is unusable."""
    s, dev = effective_settings(auth, data_dir)
    try:
        static = load_pem_keys(s.auth_keys)
        source = source_for(s.auth_jwks, s.auth_jwks_timeout) if s.auth_jwks else None
        api_keys = ApiKeys.load(s.auth_api_keys_file) if s.auth_api_keys_file else None
        certs = CertIdentities.load(s.tls_identities_file) if s.tls_identities_file else None
        credentials = _credentials(s)
    except (OSError, ValueError) as exc:
        raise AuthSetupError(str(exc)) from None
    keys = KeyCache(
        source,
        static=static,
        lifetime=s.auth_jwks_cache_seconds,
        refetch_interval=s.auth_jwks_refetch_interval,
        wait=s.auth_jwks_timeout,
    )
    data_tokens = admin_tokens = None
    if s.auth_issuer and s.auth_audience:
        data_tokens = TokenVerifier(keys, _token_policy(s, s.auth_audience, strict=False))
    if s.auth_issuer and s.auth_admin_audience:
        admin_tokens = TokenVerifier(keys, _token_policy(s, s.auth_admin_audience, strict=True))
    destination = s.audit_log if s.audit_log is not None else str(data_dir / AUDIT_FILE)
    try:
        audit = AuditLog.open(destination, flush_interval=s.audit_flush_interval)
    except OSError as exc:
        raise AuthSetupError(f"audit log {destination}: {exc.strerror or exc}") from None
    step_up = StepUpPolicy.of(s.auth_stepup_acr, s.auth_stepup_amr, s.auth_stepup_max_age)
    data = AuthInterceptor(
        AuthConfig(
            Listener.COMBINED if dev else Listener.DATA,
            Authenticator(data_tokens, api_keys, certs),
            step_up,
            audit,
            s.audit_calls,
        )
    )
    admin = None
    if not dev:
        admin = AuthInterceptor(
            AuthConfig(Listener.ADMIN, Authenticator(admin_tokens), step_up, audit, True)
        )
    return AuthRuntime(s, dev, keys, audit, data, admin, credentials)


def _credentials(s: AuthSettings) -> grpc.ServerCredentials | None:
    """TLS for the listeners; with a client CA, every client must present a certificate."""
    if s.tls_cert is None or s.tls_key is None:
        return None
    return grpc.ssl_server_credentials(
        [(s.tls_key.read_bytes(), s.tls_cert.read_bytes())],
        root_certificates=None if s.tls_client_ca is None else s.tls_client_ca.read_bytes(),
        require_client_auth=s.tls_client_ca is not None,
    )


def worker_interceptors(settings: Settings) -> list[Interceptor]:
    """For ``rebac serve --workers N`` (each worker process builds its own): the data-plane
    interceptor. TLS and the admin listener are not available with several workers."""
    runtime = build_auth(settings, settings.data_dir)
    runtime.start()
    return [runtime.data]
