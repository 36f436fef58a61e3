"""The interceptor extension point (where authentication plugs in): extra interceptors run
before any servicer on every RPC kind, see the request id, and may end a call with a status of
their own, which reaches the client untouched (never turned into INTERNAL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from rebac.client import Client, Unauthenticated
from server.app import build_server, open_datastore
from server.interceptors import current_request_id
from server.settings import Settings
from tests.server.conftest import SCHEMA


class RequireToken(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """A stand-in for the auth interceptor: every call needs ``authorization: Bearer ok``."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        ok = ("authorization", "Bearer ok") in tuple(details.invocation_metadata)

        def guard(behavior: Callable[..., Any], streaming: bool) -> Callable[..., Any]:
            def call(request: Any, context: grpc.ServicerContext) -> Any:
                self.seen.append((details.method, current_request_id()))
                if not ok:
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, "authentication failed")
                return behavior(request, context)

            def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                self.seen.append((details.method, current_request_id()))
                if not ok:
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, "authentication failed")
                yield from behavior(request, context)

            return stream if streaming else call

        kinds = {
            "unary_unary": (grpc.unary_unary_rpc_method_handler, False),
            "unary_stream": (grpc.unary_stream_rpc_method_handler, True),
            "stream_unary": (grpc.stream_unary_rpc_method_handler, False),
            "stream_stream": (grpc.stream_stream_rpc_method_handler, True),
        }
        for attr, (make, streaming) in kinds.items():
            behavior = getattr(handler, attr)
            if behavior is not None:
                return make(
                    guard(behavior, streaming),
                    handler.request_deserializer,
                    handler.response_serializer,
                )
        return handler


@pytest.fixture
def guarded() -> Iterator[tuple[RequireToken, str]]:
    settings = Settings(listen="127.0.0.1:0", store="memory:")
    datastore = open_datastore(settings)
    datastore.create_store("default")
    guard = RequireToken()
    server = build_server(settings, datastore, interceptors=[guard])
    server.start()
    yield guard, server.address
    server.stop(0)


def test_calls_without_the_token_never_reach_a_servicer(guarded: tuple[RequireToken, str]) -> None:
    guard, address = guarded
    with Client(address, timeout=5) as anonymous:
        attempts: list[Callable[[], Any]] = [
            lambda: anonymous.write_schema(SCHEMA),  # unary
            lambda: anonymous.lookup_resources("document", "view", "user:a"),  # server stream
            lambda: anonymous.import_relationships([["group:g#member@user:a"]]),  # client stream
        ]
        for attempt in attempts:
            with pytest.raises(Unauthenticated, match="authentication failed"):
                attempt()
    with Client(address, timeout=5, metadata=[("authorization", "Bearer ok")]) as allowed:
        allowed.write_schema(SCHEMA)
        assert allowed.lookup_resources("document", "view", "user:a").ids == []
        assert allowed.read_schema().text == SCHEMA
    assert len(guard.seen) == 6
    assert all(request_id for _, request_id in guard.seen)
