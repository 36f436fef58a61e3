"""The gRPC plug: run authentication, authorization and audit before any handler, on every
RPC kind. The decisions themselves live in the transport-free modules next to this one.

Per call, in this order (the first refusal ends the call; the handler never runs):

1. health checking passes through untouched; a method the listener does not expose (admin
   operations on the data-plane listener and vice versa) gets gRPC's own UNIMPLEMENTED, exactly
   as if it did not exist;
2. authentication (:mod:`server.auth.authenticate`): on failure UNAUTHENTICATED with
   :data:`UNAUTHENTICATED_MESSAGE` -- one constant text whatever went wrong; the precise
   reason goes to the server log and the audit log only;
3. for admin actions, a broken audit log refuses the call (UNAVAILABLE): admin actions are
   never unaudited;
4. the operation's scope (:mod:`server.auth.scopes`): PERMISSION_DENIED naming the scope;
5. tenancy: the request's store must be one the principal's store claim names; any other
   store gets the very error a store that does not exist gets (same code, message, details);
6. step-up for high-risk requests (:mod:`server.auth.stepup`).

Why the work happens inside the wrapped handler rather than in ``intercept_service``: gRPC
calls ``intercept_service`` on its single polling thread, so anything slow there (a key fetch)
would stall every connection; the wrapped handler runs in the worker pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, cast

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from rebac.errors import RebacError, StoreNotFound
from server.auth import audit as au
from server.auth.audit import AuditLog
from server.auth.authenticate import AuthContext, Authenticator
from server.auth.principal import Principal
from server.auth.quote import clip, quote
from server.auth.scopes import (
    Listener,
    MethodPolicy,
    exposed,
    is_admin_action,
    is_public,
    is_reflection,
    policy_for,
)
from server.auth.stepup import MESSAGE as STEP_UP_MESSAGE
from server.auth.stepup import REASON as STEP_UP_REASON
from server.auth.stepup import StepUpPolicy
from server.auth.verify import AuthFailure
from server.calls import CallCancelled
from server.errors import DETAILS_KEY, DOMAIN, REQUEST_ID_KEY, CallStatus, mapping_for
from server.interceptors import current_request_id

log = logging.getLogger("rebac.auth")

#: The one message every authentication failure gets, whatever the reason.
UNAUTHENTICATED_MESSAGE = "authentication failed: a valid credential is required"
UNAUTHENTICATED_REASON = "ERROR_REASON_UNAUTHENTICATED"
MISSING_SCOPE_REASON = "ERROR_REASON_MISSING_SCOPE"
STORE_NOT_GRANTED_REASON = "ERROR_REASON_STORE_NOT_GRANTED"
AUDIT_UNAVAILABLE_REASON = "ERROR_REASON_AUDIT_UNAVAILABLE"
CREATE_STORE = "/rebac.api.v1.StoreService/CreateStore"
LIST_STORES = "/rebac.api.v1.StoreService/ListStores"

if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
    _ServerInterceptor = grpc.ServerInterceptor[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
    _ServerInterceptor = grpc.ServerInterceptor


def store_not_found(store_id: str) -> StoreNotFound:
    """Exactly what the datastore raises for a store that does not exist (tested byte for
    byte), so a store of another tenant cannot be told from no store at all."""
    return StoreNotFound(f"store {store_id!r} not found")


def rich_status(
    code: grpc.StatusCode,
    message: str,
    reason: str,
    metadata: dict[str, str],
    extra_trailers: tuple[tuple[str, str], ...] = (),
) -> CallStatus:
    """A status with an ErrorInfo detail and the request id, like :mod:`server.errors` makes."""
    request_id = current_request_id()
    info = error_details_pb2.ErrorInfo(
        reason=reason, domain=DOMAIN, metadata={**metadata, "request_id": request_id}
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    rich = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    trailers: tuple[tuple[str, str | bytes], ...] = (
        (DETAILS_KEY, rich.SerializeToString()),
        (REQUEST_ID_KEY, request_id),
        *extra_trailers,
    )
    return CallStatus(code, message, trailers)


class Refused(Exception):
    """Internal: a refusal decided by :meth:`_Call.admit`, carrying the status to end with."""

    def __init__(self, status: CallStatus | None, reason: str, detail: str = ""):
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


class _Call:
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
            raise Refused(
                rich_status(
                    grpc.StatusCode.UNAUTHENTICATED,
                    UNAUTHENTICATED_MESSAGE,
                    UNAUTHENTICATED_REASON,
                    {},
                ),
                failure.reason,
                failure.detail,
            ) from None
        au.set_principal(self.event, principal)
        if self.admin_action and not config.audit.healthy:
            raise Refused(
                rich_status(
                    grpc.StatusCode.UNAVAILABLE,
                    "the audit log cannot be written; admin actions are refused until it can",
                    AUDIT_UNAVAILABLE_REASON,
                    {},
                ),
                "audit_unavailable",
            )
        policy = self.policy
        if policy is None:
            if is_reflection(self.method):
                return principal
            raise self._denied(f"{self.method} has no scope defined; it is not served", "")
        if not principal.has_scope(policy.scope):
            raise self._denied(
                f"permission denied: {self.method} requires scope '{policy.scope}'",
                policy.scope,
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
            rich_status(
                grpc.StatusCode.UNAUTHENTICATED,
                STEP_UP_MESSAGE,
                STEP_UP_REASON,
                step_up.challenge(),
                (("www-authenticate", step_up.www_authenticate()),),
            ),
            STEP_UP_REASON,
            f"acr {quote(principal.acr)} amr {quote(list(principal.amr))} "
            f"auth_time {principal.auth_time!r}",
        )

    def _denied(self, message: str, scope: str) -> Refused:
        status = rich_status(
            grpc.StatusCode.PERMISSION_DENIED,
            message,
            MISSING_SCOPE_REASON,
            {"required_scope": scope} if scope else {},
        )
        return Refused(status, "missing_scope", scope)

    def _check_store(self, principal: Principal, store_id: object) -> None:
        if not isinstance(store_id, str) or not store_id or principal.may_use_store(store_id):
            return  # an empty store id is the handler's to reject as a missing field
        if self.method == CREATE_STORE:
            raise Refused(
                rich_status(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"permission denied: the token does not grant store {store_id!r}",
                    STORE_NOT_GRANTED_REASON,
                    {},
                ),
                "store_not_granted",
                clip(store_id),
            )
        raise store_not_found(store_id)

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
        assert refusal.status is not None
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


Behavior = Callable[[Any, grpc.ServicerContext], Any]


class AuthInterceptor(_ServerInterceptor):
    """Authentication, authorization and audit for one listener (see the module docstring)."""

    def __init__(self, config: AuthConfig):
        self.config = config

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method = handler_call_details.method
        if is_public(method):
            return continuation(handler_call_details)
        policy = policy_for(method)
        if policy is not None and not exposed(policy, self.config.listener):
            return None  # not exposed here: UNIMPLEMENTED, as for a method that does not exist
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        return self._wrap(handler, method, policy)

    def _wrap(self, handler: Handler, method: str, policy: MethodPolicy | None) -> Handler:
        de, ser = handler.request_deserializer, handler.response_serializer
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, policy, handler.unary_unary), de, ser
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._server_stream(method, policy, handler.unary_stream), de, ser
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._client_stream(method, policy, handler.stream_unary), de, ser
            )
        assert handler.stream_stream is not None
        return grpc.stream_stream_rpc_method_handler(
            self._bidi(method, policy, handler.stream_stream), de, ser
        )

    def _unary(self, method: str, policy: MethodPolicy | None, behavior: Behavior) -> Behavior:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            gate = _Call(self.config, method, policy, context)
            principal = gate.admit(request)
            try:
                response = behavior(request, context)
            except BaseException as exc:
                gate.failed(exc)
                raise
            if method == LIST_STORES:
                _filter_stores(response, principal)
            gate.succeeded(response)
            return response

        return call

    def _server_stream(
        self, method: str, policy: MethodPolicy | None, behavior: Behavior
    ) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            gate = _Call(self.config, method, policy, context)
            gate.admit(request)
            try:
                for response in behavior(request, context):
                    gate.saw(response)
                    yield response
            except BaseException as exc:
                gate.failed(exc)
                raise
            gate.succeeded(None)

        return call

    def _client_stream(
        self, method: str, policy: MethodPolicy | None, behavior: Behavior
    ) -> Behavior:
        def call(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            gate = _Call(self.config, method, policy, context)
            gate.admit(None)
            first = next(requests, None)
            if first is not None:
                gate.check_stream_store(first)  # before the handler sees anything
            try:
                response = behavior(_checked(gate, first, requests), context)
            except BaseException as exc:
                gate.failed(exc)
                raise
            gate.succeeded(response)
            return response

        return call

    def _bidi(
        self, method: str, policy: MethodPolicy | None, behavior: Behavior
    ) -> Callable[[Iterator[Any], grpc.ServicerContext], Iterator[Any]]:
        def call(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
            gate = _Call(self.config, method, policy, context)
            gate.admit(None)
            try:
                yield from behavior(requests, context)
            except BaseException as exc:
                gate.failed(exc)
                raise
            gate.succeeded(None)

        return call


def _checked(gate: _Call, first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    if first is None:
        return
    yield first
    for message in rest:
        gate.check_stream_store(message)
        yield message


def _filter_stores(response: Any, principal: Principal) -> None:
    """ListStores shows only the stores the caller's claim names."""
    keep = [s for s in response.store_ids if principal.may_use_store(s)]
    if len(keep) != len(response.store_ids):
        del response.store_ids[:]
        response.store_ids.extend(keep)
