"""The gRPC plug: run authentication, authorization and audit before any handler, on every
RPC kind. The decisions themselves live in the transport-free modules next to this one.

Per call, in this order (the first refusal ends the call; the handler never runs):

1. health checking passes through untouched; a method the listener does not expose (admin
   operations on the data-plane listener and vice versa) gets gRPC's own UNIMPLEMENTED, exactly
   as if it did not exist;
2. authentication (:mod:`server.auth.authenticate`): on failure UNAUTHENTICATED with
   :data:`~server.auth.statuses.UNAUTHENTICATED_MESSAGE` -- one constant text whatever went
   wrong; the precise reason goes to the server log and the audit log only;
3. for admin actions, a broken audit log refuses the call (UNAVAILABLE): admin actions are
   never unaudited;
4. the operation's scope (:mod:`server.auth.scopes`): PERMISSION_DENIED naming the scope;
5. tenancy: the request's store must be one the principal's store claim names; any other
   store gets the very error a store that does not exist gets (same code, message, details);
6. step-up for high-risk requests (:mod:`server.auth.stepup`).

Why the work happens inside the wrapped handler rather than in ``intercept_service``: gRPC
calls ``intercept_service`` on its single polling thread, so anything slow there (a key fetch)
would stall every connection; the wrapped handler runs in the worker pool.

What does not depend on the call (the method's scope row, whether the listener exposes it,
whether it is an admin action, whether its success is audited) is decided once per method in
:meth:`AuthInterceptor.wrap`, which the server's request interceptor calls at a method's first
call (:class:`~server.interceptors.HandlerLayer`); per call, only the gate runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import grpc

from server.auth.gate import AuthConfig, Gate, Route
from server.auth.principal import Principal
from server.auth.scopes import exposed, is_public, policy_for

__all__ = ["AuthConfig", "AuthInterceptor"]

LIST_STORES = "/rebac.api.v1.StoreService/ListStores"

if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
    _ServerInterceptor = grpc.ServerInterceptor[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
    _ServerInterceptor = grpc.ServerInterceptor


Behavior = Callable[[Any, grpc.ServicerContext], Any]


class AuthInterceptor(_ServerInterceptor):
    """Authentication, authorization and audit for one listener (see the module docstring).

    A :class:`~server.interceptors.HandlerLayer` (:meth:`wrap`, folded into the server's one
    interceptor) and, for use on its own, a gRPC interceptor."""

    def __init__(self, config: AuthConfig):
        self.config = config

    def close(self) -> None:
        """Write the audit lines still waiting (a worker process calls this as it stops; the
        log itself belongs to the runtime that opened it)."""
        self.config.audit.flush()

    def serves(self, method: str) -> bool:
        """Whether this listener exposes ``method`` at all (unknown methods: the gate refuses
        them, fail closed)."""
        policy = policy_for(method)
        return policy is None or exposed(policy, self.config.listener)

    def wrap(self, method: str, handler: Handler) -> Handler | None:
        """``handler`` behind the gate; None when this listener does not expose ``method``."""
        if is_public(method):
            return handler
        if not self.serves(method):
            return None  # not exposed here: UNIMPLEMENTED, as for a method that does not exist
        return self._wrap(handler, Route.of(self.config, method, policy_for(method)))

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method = handler_call_details.method
        if not is_public(method) and not self.serves(method):
            return None
        handler = continuation(handler_call_details)
        return None if handler is None else self.wrap(method, handler)

    def _wrap(self, handler: Handler, route: Route) -> Handler:
        de, ser = handler.request_deserializer, handler.response_serializer
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(route, handler.unary_unary), de, ser
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._server_stream(route, handler.unary_stream), de, ser
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._client_stream(route, handler.stream_unary), de, ser
            )
        assert handler.stream_stream is not None
        return grpc.stream_stream_rpc_method_handler(
            self._bidi(route, handler.stream_stream), de, ser
        )

    def _unary(self, route: Route, behavior: Behavior) -> Behavior:
        config = self.config
        list_stores = route.method == LIST_STORES

        def call(request: Any, context: grpc.ServicerContext) -> Any:
            gate = Gate(config, route, context)
            principal = gate.admit(request)
            try:
                response = behavior(request, context)
            except BaseException as exc:
                gate.failed(exc)
                raise
            if list_stores:
                _filter_stores(response, principal)
            gate.succeeded(response)
            return response

        return call

    def _server_stream(
        self, route: Route, behavior: Behavior
    ) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
        config = self.config

        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            gate = Gate(config, route, context)
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

    def _client_stream(self, route: Route, behavior: Behavior) -> Behavior:
        config = self.config

        def call(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            gate = Gate(config, route, context)
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
        self, route: Route, behavior: Behavior
    ) -> Callable[[Iterator[Any], grpc.ServicerContext], Iterator[Any]]:
        config = self.config

        def call(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
            gate = Gate(config, route, context)
            gate.admit(None)
            try:
                yield from behavior(requests, context)
            except BaseException as exc:
                gate.failed(exc)
                raise
            gate.succeeded(None)

        return call


def _checked(gate: Gate, first: Any, rest: Iterator[Any]) -> Iterator[Any]:
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
