"""Step-up: high-risk actions need a *recent*, *multi-factor* user authentication.

A long-lived workload credential, or a user token from a password-only sign-in hours ago, must
not be enough to drop a schema or a store. The token has to show, in standard OpenID Connect
claims, that a person authenticated strongly and recently: ``acr`` in the configured set, or
``amr`` containing a configured method (e.g. ``mfa``, ``hwk``), and ``auth_time`` no older than
``max_age``. Otherwise the call ends UNAUTHENTICATED with reason
``insufficient_user_authentication`` and the requirement in the details, the gRPC analogue of
RFC 9470's ``WWW-Authenticate: Bearer error="insufficient_user_authentication"``, so a client
can send the user back to the identity provider with ``acr_values`` and ``max_age`` and retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from server.auth.principal import Principal

REASON = "insufficient_user_authentication"
MESSAGE = (
    "insufficient user authentication: this action needs a recent multi-factor sign-in "
    "(see acr_values and max_age in the error details)"
)


@dataclass(frozen=True, slots=True)
class StepUpPolicy:
    acr_values: tuple[str, ...] = ()
    amr_values: tuple[str, ...] = ("mfa",)
    max_age: float = 300.0

    @classmethod
    def of(cls, acr: Iterable[str], amr: Iterable[str], max_age: float) -> StepUpPolicy:
        return cls(tuple(acr), tuple(amr), max_age)

    def satisfied_by(self, principal: Principal, now: float | None = None) -> bool:
        """True if ``principal`` authenticated strongly enough, recently enough."""
        if principal.method != "jwt" or principal.auth_time is None:
            return False
        strong = (principal.acr is not None and principal.acr in self.acr_values) or any(
            m in self.amr_values for m in principal.amr
        )
        if not strong:
            return False
        now = time.time() if now is None else now
        age = now - principal.auth_time
        return -60.0 <= age <= self.max_age

    def challenge(self) -> dict[str, str]:
        """The requirement, for the error details (strings only: ErrorInfo metadata)."""
        details = {"max_age": str(int(self.max_age))}
        if self.acr_values:
            details["acr_values"] = " ".join(self.acr_values)
        if self.amr_values:
            details["amr_values"] = " ".join(self.amr_values)
        return details

    def www_authenticate(self) -> str:
        """The RFC 9470 header value, also sent as trailing metadata for HTTP-minded clients."""
        parts = [f'Bearer error="{REASON}"']
        if self.acr_values:
            parts.append(f'acr_values="{" ".join(self.acr_values)}"')
        parts.append(f"max_age={int(self.max_age)}")
        return ", ".join(parts)


Clock = Callable[[], float]
