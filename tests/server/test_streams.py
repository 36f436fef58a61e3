"""Streams stop when they should: a cancelled call or an expired deadline ends evaluation,
and nothing (threads, open streams) is left behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from rebac.api.v1 import core_pb2, permission_service_pb2, permission_service_pb2_grpc
from rebac.client import Client, DeadlineExceeded
from rebac.engine.snapshot import Snapshot
from server.app import RebacServer
from tests.server.conftest import SCHEMA, MakeServer

N_DOCS = 3000


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _load(server: RebacServer) -> None:
    """In-process, so that a test's tiny deadline does not apply to loading its data."""
    engine = server.datastore.engine("default")
    engine.write_schema(SCHEMA)
    docs = [f"document:d{i:05d}#viewer@user:alice" for i in range(N_DOCS)]
    engine.import_relationships([docs])


def _lookup_stream(server: RebacServer, channel: grpc.Channel) -> Any:
    stub = permission_service_pb2_grpc.PermissionServiceStub(channel)
    request = permission_service_pb2.LookupResourcesRequest(
        store_id="default",
        resource_object_type="document",
        permission="view",
        subject=core_pb2.SubjectReference(
            object=core_pb2.ObjectReference(object_type="user", object_id="alice")
        ),
    )
    return stub.LookupResources(request, timeout=10)


@pytest.fixture
def slow_chunks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Every lookup chunk takes 50 ms longer; the list records when each chunk ran."""
    calls: list[float] = []
    original = Snapshot.lookup_resources

    def slow(self: Snapshot, *args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        time.sleep(0.05)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Snapshot, "lookup_resources", slow)
    yield calls


def test_cancelled_streams_leave_no_threads_or_open_streams(make_server: MakeServer) -> None:
    server, client = make_server(threads=4)
    _load(server)

    rounds = iter(range(100))

    def cancel_once() -> None:
        n = next(rounds)
        with grpc.insecure_channel(server.address) as channel:
            call = _lookup_stream(server, channel)
            next(iter(call))
            call.cancel()
        start = client.touch(f"document:w#viewer@user:bob{n}")
        client.touch(f"document:w#viewer@user:carol{n}")
        watch = client.watch(start)
        next(watch)
        watch.close()
        assert _wait_for(lambda: server.control.open_streams == 0)

    # Warm up: hold every server pool thread at once (pool threads live on by design, so
    # the pool must be at full size before counting), and create the channels' threads.
    start = client.touch("document:w#viewer@user:warm")
    client.touch("document:w#viewer@user:warmer")
    held = [client.watch(start) for _ in range(4)]
    for stream in held:
        next(stream)
    for stream in held:
        stream.close()
    cancel_once()
    assert _wait_for(lambda: server.control.open_streams == 0)
    time.sleep(0.1)
    before = {t.ident: t.name for t in threading.enumerate()}
    for _ in range(5):
        cancel_once()

    def no_new_threads() -> bool:
        return all(t.ident in before for t in threading.enumerate())

    assert _wait_for(no_new_threads), "leaked: " + ", ".join(
        t.name for t in threading.enumerate() if t.ident not in before
    )


def test_the_server_default_deadline_stops_a_slow_lookup(
    make_server: MakeServer, slow_chunks: list[float]
) -> None:
    server, _ = make_server(default_deadline=0.12)
    _load(server)
    with Client(server.address) as no_deadline, pytest.raises(DeadlineExceeded) as info:
        no_deadline.lookup_resources("document", "view", "user:alice")
    assert info.value.reason == "ERROR_REASON_DEADLINE_EXCEEDED"
    assert 1 <= len(slow_chunks) <= 4, "evaluation went on after the deadline"


def test_a_client_deadline_longer_than_the_default_is_honoured(
    make_server: MakeServer, slow_chunks: list[float]
) -> None:
    server, _ = make_server(default_deadline=0.05)
    _load(server)
    with Client(server.address, timeout=10) as patient:
        assert len(patient.lookup_resources("document", "view", "user:alice").ids) == N_DOCS


def test_a_client_deadline_stops_evaluation_on_the_server(
    make_server: MakeServer, slow_chunks: list[float]
) -> None:
    server, client = make_server()
    _load(server)
    with pytest.raises(DeadlineExceeded):
        client.lookup_resources("document", "view", "user:alice", timeout=0.08)
    assert _wait_for(lambda: server.control.open_streams == 0)
    settled = len(slow_chunks)
    time.sleep(0.2)
    assert len(slow_chunks) == settled <= 3
