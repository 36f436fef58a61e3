"""The outermost interceptor: a request id for every call, and errors mapped to statuses.

It wraps every handler kind (unary and streaming, either direction) so that servicers can
simply raise :class:`~rebac.errors.RebacError`: the status code, reason and details come from
the one table in :mod:`server.errors`. Anything else is a bug, logged under the request id.

The request id comes from the caller's ``x-request-id`` metadata when it is a short token of
safe characters (so a gateway's id carries through), else a fresh one; it is returned in the
``x-request-id`` trailer and in every error's details, and readable by inner interceptors (the
auth and audit layers) through :func:`current_request_id`.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

import grpc

from rebac.errors import RebacError
from server.calls import CallCancelled
from server.errors import REQUEST_ID_KEY, internal_status, status_for

log = logging.getLogger("rebac.server")

_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}\Z")
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("rebac_request_id", default="")

if TYPE_CHECKING:  # grpc-stubs makes these generic; the runtime classes are not
    Handler = grpc.RpcMethodHandler[Any, Any]
    _ServerInterceptor = grpc.ServerInterceptor[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
    _ServerInterceptor = grpc.ServerInterceptor


def current_request_id() -> str:
    """The id of the call this thread is serving ('' outside a call)."""
    return _request_id.get()


def _incoming_id(context: grpc.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and _SAFE_ID.match(value):
            return value
    return uuid.uuid4().hex


def _already_aborted(context: grpc.ServicerContext) -> bool:
    """An inner layer (e.g. authentication) already ended the call with a status of its own."""
    code = getattr(context, "code", None)
    status = code() if callable(code) else None
    return status is not None and status is not grpc.StatusCode.OK


def _fail(exc: Exception, context: grpc.ServicerContext, request_id: str) -> NoReturn:
    if isinstance(exc, CallCancelled):
        context.abort(grpc.StatusCode.CANCELLED, "the client cancelled the call")
    if isinstance(exc, RebacError):
        context.abort_with_status(status_for(exc, request_id))
    if _already_aborted(context):
        raise exc
    context.abort_with_status(internal_status(exc, request_id))


class _Scope:
    """Request id in place for the duration of one call, plus a debug log line at the end."""

    def __init__(self, method: str, context: grpc.ServicerContext):
        self.method = method
        self.context = context
        self.request_id = _incoming_id(context)
        self.started = time.monotonic()
        self._token = _request_id.set(self.request_id)

    def succeeded(self) -> None:
        self.context.set_trailing_metadata(((REQUEST_ID_KEY, self.request_id),))

    def close(self, outcome: str) -> None:
        # A stream closed by the garbage collector runs this in another thread's context.
        with contextlib.suppress(ValueError):
            _request_id.reset(self._token)
        if log.isEnabledFor(logging.DEBUG):
            ms = (time.monotonic() - self.started) * 1000
            log.debug("%s %s %.1f ms (request id %s)", self.method, outcome, ms, self.request_id)


def _unary(method: str, behavior: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[..., Any]:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        scope = _Scope(method, context)
        outcome = "failed"
        try:
            response = behavior(request, context)
            scope.succeeded()
            outcome = "ok"
            return response
        except Exception as exc:
            _fail(exc, context, scope.request_id)
        finally:
            scope.close(outcome)

    return call


def _streaming(
    method: str, behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]]
) -> Callable[..., Iterator[Any]]:
    def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        scope = _Scope(method, context)
        outcome = "failed"
        try:
            yield from behavior(request, context)
            scope.succeeded()
            outcome = "ok"
        except CallCancelled:
            outcome = "cancelled"
        except Exception as exc:
            _fail(exc, context, scope.request_id)
        finally:
            scope.close(outcome)

    return call


class RequestInterceptor(_ServerInterceptor):
    """Request ids and the error table for every handler kind. Always the outermost one."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        de, ser = handler.request_deserializer, handler.response_serializer
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(_unary(method, handler.unary_unary), de, ser)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _unary(method, handler.stream_unary), de, ser
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _streaming(method, handler.unary_stream), de, ser
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                _streaming(method, handler.stream_stream), de, ser
            )
        return handler  # pragma: no cover - grpc has no other kind
