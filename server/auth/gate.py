"""One call's passage through the auth layer: admission (authentication, scope, tenancy,
step-up) and its audit record. The order and its reasons are in :mod:`server.auth.interceptor`.

A :class:`Gate` is made per call by the interceptor, inside the worker thread that runs the
handler; it ends refused calls itself (``abort_with_status``) and writes exactly one audit line
per call, whatever the outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, NoReturn, cast

import grpc

from rebac.errors import RebacError
from server.auth import audit as au
from server.auth import statuses as st
from server.auth.audit import AuditLog
from server.auth.authenticate import AuthContext, Authenticator
from server.auth.principal import Principal
from server.auth.quote import clip, quote
from server.auth.scopes import Listener, MethodPolicy, is_admin_action, is_reflection
from server.auth.stepup import REASON as STEP_UP_REASON
from server.auth.stepup import StepUpPolicy
from server.auth.verify import AuthFailure
from server.calls import CallCancelled
from server.errors import CallStatus, mapping_for
from server.interceptors import current_request_id

log = logging.getLogger("rebac.auth")

CREATE_STORE = "/rebac.api.v1.StoreService/CreateStore"


class Refused(Exception):
    """Internal: a refusal decided by :meth:`Gate.admit`, carrying the status to end with."""

    def __init__(self, status: CallStatus, reason: str, detail: str = ""):
        self.status = status
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class AuthConfig:
    """Everything one listener's interceptor needs."""

    listener: Listener
    authenticator: Authenticator
    step_up: StepUpPolicy
    audit: AuditLog
    audit_calls: bool = True


class Gate:
    """One call's admission and audit record."""

    def __init__(
        self,
        config: AuthConfig,
        method: str,
        policy: MethodPolicy | None,
        context: grpc.ServicerContext,
    ):
        self.config = config
        self.method = method
        self.policy = policy
        self.context = context
        self.principal: Principal | None = None
        self.event = au.new_event(
            config.listener.value, method, current_request_id(), context.peer() or ""
        )
        self._written = False
        self.admin_action = is_admin_action(policy, config.listener)

    # -- admission -------------------------------------------------------------------------------

    def admit(self, request: Any) -> Principal:
        """Let the call through (returning its principal) or end it; audited either way."""
        if request is not None:
            try:
                au.describe_request(self.method, request, self.event)
            except Exception:  # describing a call must never fail it
                log.exception("audit: cannot describe a %s request", self.method)
        try:
            principal = self._decide(request)
        except Refused as refusal:
            self._refuse(refusal)
        except RebacError as exc:  # tenancy: answered like a missing store
            self._refuse_store(exc)
            raise
        self.principal = principal
        return principal

    def _decide(self, request: Any) -> Principal:
        config = self.config
        try:
            principal = config.authenticator.authenticate(
                tuple(self.context.invocation_metadata() or ()),
                # grpc-stubs says Mapping[str, bytes]; at run time each value is a list of bytes
                cast(AuthContext, self.context.auth_context()),
            )
        except AuthFailure as failure:
            raise Refused(st.unauthenticated(), failure.reason, failure.detail) from None
        au.set_principal(self.event, principal)
        if self.admin_action and not config.audit.healthy:
            raise Refused(st.audit_unavailable(), "audit_unavailable")
        policy = self.policy
        if policy is None:
            if is_reflection(self.method):
                return principal
            raise Refused(st.not_served(self.method), "missing_scope")
        if not principal.has_scope(policy.scope):
            raise Refused(
                st.missing_scope(self.method, policy.scope), "missing_scope", policy.scope
            )
        if request is not None and policy.store_field:
            self._check_store(principal, getattr(request, policy.store_field, ""))
        if policy.step_up is not None and request is not None and policy.step_up(request):
            self._check_step_up(principal)
        return principal

    def _check_step_up(self, principal: Principal) -> None:
        step_up = self.config.step_up
        if step_up.satisfied_by(principal):
            return
        raise Refused(
            st.step_up_required(step_up),
            STEP_UP_REASON,
            f"acr {quote(principal.acr)} amr {quote(list(principal.amr))} "
            f"auth_time {principal.auth_time!r}",
        )

    def _check_store(self, principal: Principal, store_id: object) -> None:
        if not isinstance(store_id, str) or not store_id or principal.may_use_store(store_id):
            return  # an empty store id is the handler's to reject as a missing field
        if self.method == CREATE_STORE:
            raise Refused(st.store_not_granted(store_id), "store_not_granted", clip(store_id))
        raise st.store_not_found(store_id)

    def check_stream_store(self, message: Any) -> None:
        """Tenancy for each message of a client stream (Import), audited like admission."""
        assert self.principal is not None
        store_id = getattr(message, "store_id", "")
        if isinstance(store_id, str) and store_id and self.event["store"] is None:
            self.event["store"] = clip(store_id)
        try:
            self._check_store(self.principal, store_id)
        except RebacError as exc:
            self._refuse_store(exc)
            raise

    def _refuse_store(self, exc: RebacError) -> None:
        """Audit and log a store outside the principal's claim (the caller sees NOT_FOUND)."""
        au.set_refusal(self.event, mapping_for(exc).code.name, "store_not_granted", str(exc))
        log.info(
            "%s refused %s for %s: store %s not granted (request id %s)",
            self.config.listener.value,
            self.method,
            quote(self.event["principal"]),
            quote(self.event["store"]),
            self.event["request_id"],
        )
        self._write(refused=True)

    def _refuse(self, refusal: Refused) -> NoReturn:
        code = refusal.status.code.name
        au.set_refusal(self.event, code, refusal.reason, refusal.detail)
        log.warning(
            "%s refused %s from %s: %s %s (request id %s)",
            self.config.listener.value,
            self.method,
            self.event["peer"],
            refusal.reason,
            refusal.detail,
            self.event["request_id"],
        )
        self._write(refused=True)
        self.context.abort_with_status(refusal.status)
        raise AssertionError("abort_with_status returned")  # pragma: no cover

    # -- outcome ---------------------------------------------------------------------------------

    def saw(self, response: Any) -> None:
        try:
            revision = au.find_revision(response)
        except Exception:  # describing a call must never fail it
            log.exception("audit: cannot read the revision of a %s response", self.method)
            return
        if revision is not None:
            self.event["revision"] = revision

    def succeeded(self, response: Any) -> None:
        self.event.update(decision="ALLOW", status="OK")
        if response is not None:
            try:
                au.describe_response(self.method, response, self.event)
            except Exception:  # describing a call must never fail it
                log.exception("audit: cannot describe a %s response", self.method)
        self._write(refused=False)

    def failed(self, exc: BaseException) -> None:
        if isinstance(exc, RebacError):
            status = mapping_for(exc).code.name
        elif isinstance(exc, CallCancelled | GeneratorExit):
            status = "CANCELLED"
        else:
            code_of = getattr(self.context, "code", None)
            code = code_of() if callable(code_of) else None
            status = code.name if isinstance(code, grpc.StatusCode) else "INTERNAL"
        self.event.update(decision="ERROR", status=status)
        self._write(refused=False)

    def _write(self, *, refused: bool) -> None:
        """One line per call: the first outcome recorded is the call's outcome."""
        if self._written:
            return
        self._written = True
        config = self.config
        if refused or config.audit_calls or self.admin_action:
            config.audit.write(self.event)
