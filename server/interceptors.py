"""The outermost interceptor: a request id for every call, and errors mapped to statuses.

It wraps every handler kind (unary and streaming, either direction) so that servicers can
simply raise :class:`~rebac.errors.RebacError`: the status code, reason and details come from
the one table in :mod:`server.errors`. Anything else is a bug, logged under the request id.

The request id comes from the caller's ``x-request-id`` metadata when it is a short token of
safe characters (so a gateway's id carries through), else a fresh one; it is returned in the
``x-request-id`` trailer and in every error's details, and readable by inner interceptors (the
auth and audit layers) through :func:`current_request_id`.

**One layer, wrapped once per method.** gRPC asks the interceptors for a handler on every call;
a chain of interceptors that each wrap the handler anew costs a closure, a handler object and a
table lookup per layer per call. Here the layers that depend only on the method (the auth layer
is one: see :class:`HandlerLayer`) are folded into this one interceptor, and the handler they
produce for a method is built at the method's first call and reused while gRPC hands over the
same inner handler (it does, for registered methods). Plain gRPC interceptors still work: they
run after these layers, in the order given, every call.

**No interceptor at all when every layer folds.** gRPC runs its interceptor pipeline for every
call on the server's one polling thread, which every call of the process waits behind. When
there is no plain interceptor (the production set-up), :class:`Registrar` instead adds the
services with their handlers already wrapped, once per method at registration, and the server
is built without interceptors: a call goes straight to its wrapped handler. What a call sees
is the same either way (the extension-point tests run a plain interceptor).
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, runtime_checkable

import grpc

from rebac.errors import RebacError
from server.calls import CallCancelled
from server.errors import REQUEST_ID_KEY, internal_status, status_for
from server.ids import new_id

log = logging.getLogger("rebac.server")

_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}\Z")
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("rebac_request_id", default="")

#: Methods whose wrapped handler is remembered (the API has a few dozen).
MAX_METHODS = 256

if TYPE_CHECKING:  # grpc-stubs makes these generic; the runtime classes are not
    Handler = grpc.RpcMethodHandler[Any, Any]
    _ServerInterceptor = grpc.ServerInterceptor[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
    _ServerInterceptor = grpc.ServerInterceptor


@runtime_checkable
class HandlerLayer(Protocol):
    """A layer that wraps one method's handler once and serves every call of the method with
    the result: what it wraps may depend on the method, never on one call's metadata (those
    it reads per call, inside the wrapped behaviour). ``None`` hides the method (gRPC answers
    UNIMPLEMENTED, as for a method that does not exist)."""

    def wrap(self, method: str, handler: Handler) -> Handler | None: ...


def current_request_id() -> str:
    """The id of the call this thread is serving ('' outside a call)."""
    return _request_id.get()


def _incoming_id(context: grpc.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and _SAFE_ID.match(value):
            return value
    return new_id()


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


def _reset(token: contextvars.Token[str]) -> None:
    # A stream closed by the garbage collector runs this in another thread's context.
    try:  # noqa: SIM105 - contextlib.suppress costs a microsecond on every call
        _request_id.reset(token)
    except ValueError:
        pass


def _done(method: str, outcome: str, started: float, request_id: str) -> None:
    ms = (time.monotonic() - started) * 1000
    log.debug("%s %s %.1f ms (request id %s)", method, outcome, ms, request_id)


def _unary(method: str, behavior: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[..., Any]:
    debug = log.isEnabledFor

    def call(request: Any, context: grpc.ServicerContext) -> Any:
        request_id = _incoming_id(context)
        token = _request_id.set(request_id)
        started = time.monotonic() if debug(logging.DEBUG) else 0.0
        outcome = "failed"
        try:
            response = behavior(request, context)
            context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
            outcome = "ok"
            return response
        except Exception as exc:
            _fail(exc, context, request_id)
        finally:
            _reset(token)
            if started:
                _done(method, outcome, started, request_id)

    return call


def _streaming(
    method: str, behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]]
) -> Callable[..., Iterator[Any]]:
    def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        request_id = _incoming_id(context)
        token = _request_id.set(request_id)
        started = time.monotonic()
        outcome = "failed"
        try:
            yield from behavior(request, context)
            context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
            outcome = "ok"
        except CallCancelled:
            outcome = "cancelled"
        except Exception as exc:
            _fail(exc, context, request_id)
        finally:
            _reset(token)
            if log.isEnabledFor(logging.DEBUG):
                _done(method, outcome, started, request_id)

    return call


def _request_scope(method: str, handler: Handler) -> Handler:
    """``handler`` with a request id and the error table around each of its calls."""
    de, ser = handler.request_deserializer, handler.response_serializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_unary(method, handler.unary_unary), de, ser)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(_unary(method, handler.stream_unary), de, ser)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _streaming(method, handler.unary_stream), de, ser
        )
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(
            _streaming(method, handler.stream_stream), de, ser
        )
    return handler  # pragma: no cover - grpc has no other kind


class RequestInterceptor(_ServerInterceptor):
    """Request ids and the error table for every handler kind, around ``layers`` (outermost
    first). Always the outermost interceptor; see the module docstring."""

    def __init__(self, layers: Sequence[HandlerLayer] = ()):
        self.layers = tuple(layers)
        self._wrapped: dict[str, tuple[Handler, Handler | None]] = {}

    def wrap(self, method: str, handler: Handler) -> Handler | None:
        """``handler`` inside every layer, then inside the request scope."""
        for layer in reversed(self.layers):
            wrapped = layer.wrap(method, handler)
            if wrapped is None:
                return None
            handler = wrapped
        return _request_scope(method, handler)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        known = self._wrapped.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = self.wrap(method, handler)
        if len(self._wrapped) < MAX_METHODS or method in self._wrapped:
            self._wrapped[method] = (handler, wrapped)
        return wrapped


if TYPE_CHECKING:  # grpc-stubs makes it generic; the runtime class is not
    _GenericHandler = grpc.GenericRpcHandler[Any, Any]
else:
    _GenericHandler = grpc.GenericRpcHandler


class Registrar(grpc.Server):
    """``server`` for the generated ``add_*_to_server`` functions, adding each method with its
    handler inside ``interceptor`` (see the module docstring). A method the layers hide is
    not registered, and its generic lookup answers None, so gRPC answers UNIMPLEMENTED as for
    a method that does not exist. Everything else is the server's own."""

    def __init__(self, server: grpc.Server, interceptor: RequestInterceptor):
        self._server = server
        self._interceptor = interceptor

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: Mapping[str, Handler]
    ) -> None:
        wrapped: dict[str, Handler] = {}
        for name, handler in method_handlers.items():
            found = self._interceptor.wrap(f"/{service_name}/{name}", handler)
            if found is not None:
                wrapped[name] = found
        # grpcio has it since 1.62 (pyproject requires 1.85); grpc-stubs predates it
        register: Callable[[str, dict[str, Handler]], None] = (
            self._server.add_registered_method_handlers  # type: ignore[attr-defined]
        )
        register(service_name, wrapped)

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Iterable[_GenericHandler]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_Intercepted(h, self._interceptor) for h in generic_rpc_handlers)
        )

    def add_insecure_port(self, address: str) -> int:
        return self._server.add_insecure_port(address)

    def add_secure_port(self, address: str, server_credentials: grpc.ServerCredentials) -> int:
        return self._server.add_secure_port(address, server_credentials)

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float | None = None) -> threading.Event:
        return self._server.stop(grace)


class _Intercepted(_GenericHandler):
    """A generic handler whose handlers come out of the request interceptor (a method that
    is not registered: gRPC's own lookup by name, which asks this per call)."""

    def __init__(self, inner: _GenericHandler, interceptor: RequestInterceptor):
        self._inner = inner
        self._interceptor = interceptor

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        return self._interceptor.intercept_service(self._inner.service, handler_call_details)
