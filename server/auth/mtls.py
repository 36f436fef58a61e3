"""Mutual TLS: the transport proves which workload is calling, with certificates.

With ``tls_client_ca`` set, a listener completes the TLS handshake only with clients whose
certificate chains to that CA (``require_client_auth``), so an unknown client never reaches
gRPC at all. Per call, the certificate then serves two purposes:

* **A principal of its own**: when the call carries no ``authorization`` header, the
  certificate's identities (URI/DNS subject alternative names, e.g. a SPIFFE ID, then the
  common name) are looked up in ``tls_identities_file`` (``[[client]]`` entries with
  ``identity``, ``sub``, ``scopes``, ``stores``). Data-plane only, like API keys.
* **Certificate-bound tokens** (RFC 8705): a token with ``cnf.x5t#S256`` is accepted only over
  a connection that presented exactly that certificate, so a stolen token is useless alone.

No gRPC here: the listener's credentials are built in :mod:`server.auth.runtime`, and the
peer's verified certificate arrives as gRPC's ``auth_context()`` mapping.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from server.auth.grants import Grant, GrantError, grant_of, read_entries
from server.auth.principal import Principal


def _values(auth: Mapping[str, Sequence[bytes]], key: str) -> list[str]:
    return [v.decode("utf-8", "replace") for v in auth.get(key, ())]


def peer_identities(auth: Mapping[str, Sequence[bytes]]) -> list[str]:
    """The verified certificate's identities, most specific first."""
    return [
        *_values(auth, "x509_subject_alternative_name"),
        *_values(auth, "x509_common_name"),
    ]


def peer_thumbprint(auth: Mapping[str, Sequence[bytes]]) -> str | None:
    """base64url SHA-256 of the peer certificate's DER (RFC 8705's ``x5t#S256``)."""
    pems = auth.get("x509_pem_cert")
    if not pems:
        return None
    der = x509.load_pem_x509_certificate(pems[0]).public_bytes(Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


class CertIdentities:
    """``tls_identities_file``: certificate identity -> principal."""

    def __init__(self, grants: Mapping[str, Grant]):
        self._grants = dict(grants)

    @classmethod
    def load(cls, path: Path) -> CertIdentities:
        grants: dict[str, Grant] = {}
        for n, raw in enumerate(read_entries(path, "client")):
            where = f"{path} client {n}"
            identity = raw.get("identity")
            if not isinstance(identity, str) or not identity or identity in grants:
                raise GrantError(f"{where}: identity is required and must be unique")
            grants[identity] = grant_of(raw, where)
        return cls(grants)

    def authenticate(self, auth: Mapping[str, Sequence[bytes]]) -> Principal | None:
        for identity in peer_identities(auth):
            grant = self._grants.get(identity)
            if grant is not None:
                return Principal(
                    sub=grant.sub,
                    iss="mtls",
                    method="mtls",
                    scopes=grant.scopes,
                    stores=grant.stores,
                    credential_id=identity,
                )
        return None
