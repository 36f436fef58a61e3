"""Authentication: call metadata (and the peer certificate) in, a :class:`Principal` out.

No gRPC here either; the interceptor hands over the metadata pairs and a way to get
``auth_context()`` (asked for only when a client certificate matters).
The rules about the header itself:

* exactly one ``authorization`` entry: two of them are refused, since which one a proxy, a
  logger and this server each read could differ;
* the scheme is ``Bearer`` (case-insensitive, RFC 6750) followed by one space and the token;
* a value starting ``rbk_`` is an API key (data-plane listener only), anything else a JWT;
* with no ``authorization`` at all, a client certificate mapped in the identities file is the
  credential (data-plane listener only); otherwise the call is refused;
* a token bound to a certificate (``cnf.x5t#S256``) must arrive over a connection that
  presented that certificate.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from server.auth.apikeys import ApiKeys, looks_like_key
from server.auth.mtls import CertIdentities, peer_thumbprint
from server.auth.principal import Principal
from server.auth.quote import quote
from server.auth.verify import AuthFailure, TokenVerifier

AUTHORIZATION = "authorization"
_AUTHORIZATION_LENGTH = len(AUTHORIZATION)  # most keys differ in length: no lower() for them
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] ([!-~]+)")

#: Header values already found well-formed, and the token each carries: a caller sends the
#: same header on every call until its token is renewed, and what is decided from the token
#: (verification, expiry, the key's currency) is still decided on every call. Bounded by
#: clearing. API keys are not kept: the server holds them as digests only.
_CREDENTIALS_LIMIT = 4096
_credentials: dict[str, str] = {}

Metadata = Sequence[tuple[str, str | bytes]]
AuthContext = Mapping[str, Sequence[bytes]]
#: The connection's auth context, asked for only when a decision needs it (a client
#: certificate); building it costs a little on every call that does not.
PeerContext = Callable[[], AuthContext]


@dataclass(frozen=True)
class Authenticator:
    """The credential types one listener accepts."""

    tokens: TokenVerifier | None
    api_keys: ApiKeys | None = None
    certs: CertIdentities | None = None

    def authenticate(self, metadata: Metadata, auth_context: PeerContext) -> Principal:
        value: str | bytes | None = None
        found = 0
        for k, v in metadata:
            if len(k) == _AUTHORIZATION_LENGTH and k.lower() == AUTHORIZATION:
                value = v
                found += 1
        if found > 1:
            raise AuthFailure("duplicate_authorization", f"{found} headers")
        if value is None:
            if self.certs is not None:
                principal = self.certs.authenticate(auth_context())
                if principal is not None:
                    return principal
                raise AuthFailure("no_credentials", "client certificate not in identities")
            raise AuthFailure("no_credentials")
        if not isinstance(value, str):
            raise AuthFailure("bad_scheme", "binary value")
        credential = _credentials.get(value)
        if credential is None:
            match = _BEARER.fullmatch(value)
            if match is None:
                raise AuthFailure("bad_scheme", quote(value.split(" ", 1)[0], 32))
            credential = match.group(1)
            if not looks_like_key(credential):  # API keys are kept as digests only
                if len(_credentials) >= _CREDENTIALS_LIMIT:
                    _credentials.clear()
                _credentials[value] = credential
        if looks_like_key(credential):
            if self.api_keys is None:
                raise AuthFailure("api_key_not_accepted")
            principal = self.api_keys.authenticate(credential)
            if principal is None:
                raise AuthFailure("unknown_api_key")
            return principal
        if self.tokens is None:
            raise AuthFailure("token_not_accepted")
        principal = self.tokens.verify(credential)
        if principal.cert_thumbprint is not None:
            presented = peer_thumbprint(auth_context())
            if presented is None or not hmac.compare_digest(
                presented.encode(), principal.cert_thumbprint.encode()
            ):
                raise AuthFailure("cert_binding", "token bound to another certificate")
        return principal
