"""Watch: changes in revision order, resumable from any token, filtered, across processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from rebac import errors
from rebac.client import Client, WatchEvent
from rebac.model import Operation, Relationship, RelationshipFilter, RelationshipUpdate
from server.app import RebacServer
from tests.server.conftest import SCHEMA, MakeServer


def _take(events: object, n: int) -> list[WatchEvent]:
    it = iter(events)  # type: ignore[call-overload]
    out = [next(it) for _ in range(n)]
    it.close()
    return out


def test_changes_arrive_in_order_and_resume_from_a_token(client: Client) -> None:
    start = client.write_schema(SCHEMA)
    tokens = [client.touch(f"document:d{i}#viewer@user:u{i}") for i in range(5)]
    tokens.append(client.delete("document:d0#viewer@user:u0"))
    events = _take(client.watch(start), 6)
    assert [e.token for e in events] == tokens
    assert [str(r) for e in events[:5] for r in e.touched] == [
        f"document:d{i}#viewer@user:u{i}" for i in range(5)
    ]
    assert [str(r) for r in events[5].deleted] == ["document:d0#viewer@user:u0"]
    resumed = _take(client.watch(tokens[2]), 3)
    assert [e.token for e in resumed] == tokens[3:]


def test_live_changes_filters_metadata_schema_and_checkpoints(client: Client) -> None:
    start = client.write_schema(SCHEMA)
    stream = client.watch(
        start,
        filters=[RelationshipFilter("group")],
        schema=True,
        checkpoints=True,
    )
    client.touch("document:d#viewer@user:u")  # not watched: only a checkpoint shows it
    first = next(stream)
    assert first.checkpoint and not first.touched
    token = client.write(
        [RelationshipUpdate(Operation.TOUCH, Relationship.parse("group:g#member@user:u"))],
        metadata={"by": "test"},
    )
    second = next(stream)
    assert second.token == token and second.metadata == {"by": "test"}
    assert [str(r) for r in second.touched] == ["group:g#member@user:u"]
    client.write_schema(SCHEMA + "\ndefinition extra {}\n")
    third = next(stream)
    assert third.schema_updated and not third.touched
    stream.close()


def test_a_write_through_another_server_is_seen(make_server: MakeServer, tmp_path: Path) -> None:
    store = f"sqlite:{tmp_path / 'rebac.db'}"
    _, a = make_server(store=store)
    _, b = make_server(store=store)
    start = a.write_schema(SCHEMA)
    stream = b.watch(start)
    token = a.touch("document:x#viewer@user:y")
    event = next(stream)
    stream.close()
    assert event.token == token


def test_an_expired_start_token_is_out_of_range(client: Client, server: RebacServer) -> None:
    old = client.write_schema(SCHEMA)
    client.touch("document:x#viewer@user:y")
    server.datastore.store.gc("default", now=1e12)
    with pytest.raises(errors.RevisionExpired) as info:
        next(client.watch(old))
    assert info.value.reason == "ERROR_REASON_REVISION_EXPIRED"
