"""Who is calling: the authenticated identity every later decision is made about.

A :class:`Principal` is built only by an authenticator (JWT, API key, client certificate) after
the credential was verified; it carries what authorization needs (scopes, stores, the strength
and age of the user authentication behind it) and nothing secret, so it can be logged and
audited as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass

#: A store claim entry granting every store. Meant for operators' admin tokens and the
#: development token; a workload token should name its store.
ANY_STORE = "*"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``method`` is ``jwt``, ``api_key`` or ``mtls``; ``iss`` is the token issuer (or the method
    for non-token credentials); ``credential_id`` names the key or certificate identity that
    vouched for the caller (a kid, an API key id): never the credential itself.
    """

    sub: str
    iss: str
    method: str
    scopes: frozenset[str]
    stores: frozenset[str]
    credential_id: str = ""
    acr: str | None = None
    amr: tuple[str, ...] = ()
    auth_time: float | None = None
    #: RFC 8705 certificate binding (``cnf.x5t#S256``): the token is only valid over a TLS
    #: connection that presented this certificate.
    cert_thumbprint: str | None = None

    def has_scope(self, scope: str) -> bool:
        """Exact match: ``rebac:write`` does not imply ``rebac:read`` or any other scope."""
        return scope in self.scopes

    def may_use_store(self, store_id: str) -> bool:
        return ANY_STORE in self.stores or store_id in self.stores
