"""One call's passage through the auth layer: admission (authentication, scope, tenancy,
step-up) and its audit record. The order and its reasons are in :mod:`server.auth.interceptor`.

What depends only on the method (its scope, whether it is an admin action, whether an admitted
call is audited, how its request is described) is worked out once per method into a
:class:`Route`; a :class:`Gate` is made per call by the interceptor, inside the worker thread
that runs the handler. It ends refused calls itself (``abort_with_status``) and writes exactly
one audit line per call, whatever the outcome. The line is assembled when it is written, from
what the gate kept (request, principal, outcome), so a call whose line is not written
(``audit_calls = false``) costs no audit work at all.
"""

from __future__ import annotations

import logging
import time
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


@dataclass(frozen=True, slots=True)
class Route:
    """One method on one listener, as the gate sees it (built once per method)."""

    method: str
    policy: MethodPolicy | None
    #: audited whatever ``audit_calls`` says, and refused while the audit log is broken
    admin_action: bool
    #: an admitted call writes an audit line (refusals always do)
    audited: bool
    #: no scope, but an authenticated caller (reflection describes the API only)
    reflection: bool
    #: Check: an admitted call's line is made as text (:func:`~server.auth.audit.check_line`)
    check: bool = False
    #: Check and CheckBulk: an admitted call's line is made and written later, by the audit
    #: log's writer (:meth:`~server.auth.audit.AuditLog.write_later`): they are most of the
    #: calls, and a bulk check's line describes every item
    deferred: bool = False

    @classmethod
    def of(cls, config: AuthConfig, method: str, policy: MethodPolicy | None) -> Route:
        admin = is_admin_action(policy, config.listener)
        audited = admin or config.audit_calls
        return cls(
            method,
            policy,
            admin,
            audited,
            is_reflection(method),
            check=method == au.CHECK,
            deferred=method in au.DEFERRED and not admin,
        )


class Gate:
    """One call's admission and audit record."""

    __slots__ = (
        "_written",
        "config",
        "context",
        "principal",
        "request",
        "request_id",
        "revision",
        "route",
        "started",
        "store",
    )

    def __init__(self, config: AuthConfig, route: Route, context: grpc.ServicerContext):
        self.config = config
        self.route = route
        self.context = context
        self.request_id = current_request_id()
        self.started = time.time()
        self.principal: Principal | None = None
        self.request: Any = None
        self.store: str | None = None  # of a client stream, from its first message
        self.revision: str | None = None  # of a server stream, from its messages
        self._written = False

    # -- admission -------------------------------------------------------------------------------

    def admit(self, request: Any) -> Principal:
        """Let the call through (returning its principal) or end it; audited either way."""
        self.request = request
        try:
            principal = self._decide(request)
        except Refused as refusal:
            self._refuse(refusal)
        except RebacError as exc:  # tenancy: answered like a missing store
            self._refuse_store(exc)
            raise
        return principal

    def _decide(self, request: Any) -> Principal:
        config, route, context = self.config, self.route, self.context
        try:
            principal = config.authenticator.authenticate(
                context.invocation_metadata() or (),
                # grpc-stubs says Mapping[str, bytes]; at run time each value is a list of bytes
                lambda: cast(AuthContext, context.auth_context()),
            )
        except AuthFailure as failure:
            raise Refused(st.unauthenticated(), failure.reason, failure.detail) from None
        self.principal = principal
        if route.admin_action and not config.audit.healthy:
            raise Refused(st.audit_unavailable(), "audit_unavailable")
        policy = route.policy
        if policy is None:
            if route.reflection:
                return principal
            raise Refused(st.not_served(route.method), "missing_scope")
        if not principal.has_scope(policy.scope):
            raise Refused(
                st.missing_scope(route.method, policy.scope), "missing_scope", policy.scope
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
        if self.route.method == CREATE_STORE:
            raise Refused(st.store_not_granted(store_id), "store_not_granted", clip(store_id))
        raise st.store_not_found(store_id)

    def check_stream_store(self, message: Any) -> None:
        """Tenancy for each message of a client stream (Import), audited like admission."""
        assert self.principal is not None
        store_id = getattr(message, "store_id", "")
        if isinstance(store_id, str) and store_id and self.store is None:
            self.store = store_id
        try:
            self._check_store(self.principal, store_id)
        except RebacError as exc:
            self._refuse_store(exc)
            raise

    def _refuse_store(self, exc: RebacError) -> None:
        """Audit and log a store outside the principal's claim (the caller sees NOT_FOUND)."""
        event = self._event()
        au.set_refusal(event, mapping_for(exc).code.name, "store_not_granted", str(exc))
        log.info(
            "%s refused %s for %s: store %s not granted (request id %s)",
            self.config.listener.value,
            self.route.method,
            quote(event["principal"]),
            quote(event["store"]),
            self.request_id,
        )
        self._write(event)

    def _refuse(self, refusal: Refused) -> NoReturn:
        code = refusal.status.code.name
        event = self._event()
        au.set_refusal(event, code, refusal.reason, refusal.detail)
        log.warning(
            "%s refused %s from %s: %s %s (request id %s)",
            self.config.listener.value,
            self.route.method,
            event["peer"],
            refusal.reason,
            refusal.detail,
            self.request_id,
        )
        self._write(event)
        self.context.abort_with_status(refusal.status)
        raise AssertionError("abort_with_status returned")  # pragma: no cover

    # -- outcome ---------------------------------------------------------------------------------

    def saw(self, response: Any) -> None:
        """A message of a server stream: the latest revision it names is the call's."""
        if not self.route.audited:
            return
        try:
            revision = au.find_revision(response)
        except Exception:  # describing a call must never fail it
            log.exception("audit: cannot read the revision of a %s response", self.route.method)
            return
        if revision is not None:
            self.revision = revision

    def succeeded(self, response: Any) -> None:
        if self._written or not self.route.audited:
            self._written = True
            return
        route = self.route
        if route.deferred and response is not None and self.principal is not None:
            # The hot path: the line is made and written later, by the audit log's writer.
            self._written = True
            make = self._check_line if route.check else self._success_line
            self.config.audit.write_later(make, self._peer(), response)
            return
        self._write(self._success(response))

    def _check_line(self, peer: str, response: Any) -> str:
        assert self.principal is not None
        try:
            return au.check_line(
                self.config.listener.value,
                self.request_id,
                peer,
                self.started,
                self.principal,
                self.request,
                response,
            )
        except Exception:  # describing a call must never fail it: the general path instead
            log.exception("audit: cannot write a %s line as text", self.route.method)
            return self._success_line(peer, response)

    def _success_line(self, peer: str, response: Any) -> str:
        return au.encode(self._success(response, peer))

    def _success(self, response: Any, peer: str | None = None) -> dict[str, Any]:
        event = self._event(peer)
        event.update(decision="ALLOW", status="OK")
        if response is not None:
            try:
                au.describe_response(self.route.method, response, event)
            except Exception:  # describing a call must never fail it
                log.exception("audit: cannot describe a %s response", self.route.method)
        return event

    def failed(self, exc: BaseException) -> None:
        if self._written or not self.route.audited:
            self._written = True
            return
        if isinstance(exc, RebacError):
            status = mapping_for(exc).code.name
        elif isinstance(exc, CallCancelled | GeneratorExit):
            status = "CANCELLED"
        else:
            code_of = getattr(self.context, "code", None)
            code = code_of() if callable(code_of) else None
            status = code.name if isinstance(code, grpc.StatusCode) else "INTERNAL"
        event = self._event()
        event.update(decision="ERROR", status=status)
        self._write(event)

    # -- the record ------------------------------------------------------------------------------

    def _event(self, peer: str | None = None) -> dict[str, Any]:
        """The audit event of this call so far (see :mod:`server.auth.audit` for the fields);
        ``peer`` when it was read while the call was still on."""
        route = self.route
        event = au.new_event(
            self.config.listener.value,
            route.method,
            self.request_id,
            self._peer() if peer is None else peer,
            self.started,
        )
        if self.request is not None:
            try:
                au.describe_request(route.method, self.request, event)
            except Exception:  # describing a call must never fail it
                log.exception("audit: cannot describe a %s request", route.method)
        if self.store is not None and event["store"] is None:
            event["store"] = clip(self.store)
        if self.principal is not None:
            au.set_principal(event, self.principal)
        if self.revision is not None:
            event["revision"] = self.revision
        return event

    def _peer(self) -> str:
        try:
            return self.context.peer() or ""
        except Exception:  # a finished stream's context may no longer know it
            return ""

    def _write(self, event: dict[str, Any]) -> None:
        """One line per call: the first outcome recorded is the call's outcome."""
        if self._written:
            return
        self._written = True
        self.config.audit.write(event)
