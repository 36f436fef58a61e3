"""Graceful shutdown: health goes NOT_SERVING, in-flight calls finish, new calls are refused
with UNAVAILABLE, Watch streams end resumably, and acknowledged writes survive."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rebac.client import Client, Unavailable
from rebac.datastore import Datastore
from rebac.model import RelationshipFilter
from tests.server.conftest import SCHEMA, MakeServer


def test_in_flight_call_completes_and_new_calls_are_unavailable(
    make_server: MakeServer, tmp_path: Path
) -> None:
    db = tmp_path / "rebac.db"
    server, client = make_server(store=f"sqlite:{db}", grace_period=5.0)
    client.write_schema(SCHEMA)
    first_sent, release = threading.Event(), threading.Event()

    def batches() -> Iterator[list[str]]:
        yield ["document:a#viewer@user:u1"]
        first_sent.set()
        assert release.wait(5)
        yield ["document:b#viewer@user:u2"]

    with grpc.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        statuses = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert next(statuses).status == health_pb2.HealthCheckResponse.SERVING

        result: dict[str, object] = {}
        importer = threading.Thread(
            target=lambda: result.update(done=client.import_relationships(batches()))
        )
        importer.start()
        assert first_sent.wait(5)
        time.sleep(0.1)  # the Import call is now in flight on the server
        stopper = threading.Thread(target=server.stop)
        stop_started = time.monotonic()
        stopper.start()
        assert _eventually(server.control.stopping.is_set)
        assert next(statuses).status == health_pb2.HealthCheckResponse.NOT_SERVING
        statuses.cancel()  # a health watcher would otherwise hold the drain to the grace period

        with Client(server.address, "default", timeout=2) as late, pytest.raises(Unavailable):
            late.check("document:a", "view", "user:u1")

        release.set()
        importer.join(5)
        stopper.join(10)
        assert time.monotonic() - stop_started < 3, "shutdown waited for the grace period"
    done = result.get("done")
    assert done is not None and done.loaded == 2  # type: ignore[attr-defined]
    reopened = Datastore.open(f"sqlite:{db}")
    try:
        rels = reopened.engine("default").read_relationships(RelationshipFilter("document"))
        assert [str(r) for r in rels] == [
            "document:a#viewer@user:u1",
            "document:b#viewer@user:u2",
        ]
    finally:
        reopened.close()


def test_watch_streams_end_with_a_resumable_unavailable(make_server: MakeServer) -> None:
    server, client = make_server(grace_period=5.0)
    start = client.write_schema(SCHEMA)
    client.touch("document:a#viewer@user:u1")
    stream = client.watch(start)
    next(stream)  # connected and caught up
    started = time.monotonic()
    server.stop()
    with pytest.raises(Unavailable) as info:
        next(stream)
    assert info.value.reason == "ERROR_REASON_SERVER_STOPPING"
    assert time.monotonic() - started < 2, "Watch held the shutdown for the whole grace period"


def _eventually(condition: object, timeout: float = 5.0) -> bool:
    assert callable(condition)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return False
