"""Consistency tokens across two server processes' worth of state: two servers, one SQLite file.

Server B's index is only refreshed every ``quantum`` (a minute here) for minimize_latency, so it
shows a stale state on purpose; a token from a write on A must still be honoured on B.
"""

from __future__ import annotations

from pathlib import Path

from rebac.model import RelationshipFilter
from rebac.revision import Consistency
from tests.server.conftest import SCHEMA, MakeServer


def test_write_on_one_server_then_at_least_as_fresh_on_another(
    make_server: MakeServer, tmp_path: Path
) -> None:
    store = f"sqlite:{tmp_path / 'rebac.db'}"
    _, a = make_server(store=store, quantum=60)
    _, b = make_server(store=store, quantum=60)
    a.write_schema(SCHEMA)
    a.touch("document:doc#viewer@user:alice")
    b.check("document:doc", "view", "user:alice")  # B's index now has the schema and alice
    token = a.touch("document:doc#viewer@user:bob")
    stale = b.check("document:doc", "view", "user:bob")
    assert not stale.allowed, "B should answer from its (stale) index under minimize_latency"
    fresh = b.check(
        "document:doc", "view", "user:bob", consistency=Consistency.at_least_as_fresh(token)
    )
    assert fresh.allowed and fresh.token == token
    full = b.check("document:doc", "view", "user:bob", consistency=Consistency.fully_consistent())
    assert full.allowed


def test_at_exact_snapshot_answers_at_that_revision(make_server: MakeServer) -> None:
    _, client = make_server()
    client.write_schema(SCHEMA)
    before = client.touch("document:doc#viewer@user:alice")
    client.delete("document:doc#viewer@user:alice")
    then = client.check(
        "document:doc", "view", "user:alice", consistency=Consistency.at_exact_snapshot(before)
    )
    assert then.allowed and then.token == before
    assert not client.check("document:doc", "view", "user:alice").allowed
    page = client.lookup_resources(
        "document", "view", "user:alice", consistency=Consistency.at_exact_snapshot(before)
    )
    assert page.ids == ["doc"] and page.token == before
    read = client.read_relationships(
        RelationshipFilter("document"),
        consistency=Consistency.at_exact_snapshot(before),
    )
    assert [str(r) for r in read.relationships] == ["document:doc#viewer@user:alice"]
