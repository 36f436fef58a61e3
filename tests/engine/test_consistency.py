"""Consistency modes over a shared durable store: the new-enemy problem and snapshots."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rebac import Engine
from rebac.errors import RevisionError
from rebac.revision import Consistency
from rebac.store import MemoryStore, SQLiteStore

SCHEMA = """
definition user {}
definition folder {
    relation viewer: user
    permission view = viewer
}
definition document {
    relation parent: folder
    relation viewer: user
    permission view = viewer + parent->view
}
"""


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "rebac.db", durable=False)
    s.create_store("acme")
    return s


def replica(store: SQLiteStore, *, quantum: float = 3600.0) -> Engine:
    """An engine on the shared store that never refreshes on its own (a stale replica)."""
    return Engine(store=store, store_id="acme", quantum=quantum)


def test_new_enemy_at_least_as_fresh_never_answers_from_an_older_index(store: SQLiteStore) -> None:
    writer = replica(store)
    writer.write_schema(SCHEMA)
    writer.touch("folder:secret#viewer@user:mallory", "folder:public#viewer@user:mallory")
    reader = replica(store)
    # The reader's index is built before the two writes below and is never refreshed by time.
    assert reader.check("folder:secret", "view", "user:mallory").allowed
    writer.delete("folder:secret#viewer@user:mallory")  # Z1: remove the viewer
    z2 = writer.touch("document:plan#parent@folder:secret")  # Z2: add a document under it
    stale = reader.check("document:plan", "view", "user:mallory")
    assert not stale.allowed and stale.revision < z2  # minimize_latency may lag ...
    fresh = reader.check(
        "document:plan",
        "view",
        "user:mallory",
        consistency=Consistency.at_least_as_fresh(writer.token_for(z2)),
    )
    assert not fresh.allowed  # ... but never shows the new document to the removed viewer
    assert fresh.revision >= z2


def test_fully_consistent_sees_other_writers(store: SQLiteStore) -> None:
    a = replica(store)
    a.write_schema(SCHEMA)
    b = replica(store)
    a.touch("document:d#viewer@user:u")
    assert not b.check("document:d", "view", "user:u").allowed
    assert b.check(
        "document:d", "view", "user:u", consistency=Consistency.fully_consistent()
    ).allowed


def test_a_fully_consistent_snapshot_of_a_current_index_does_not_wait_for_the_lock(
    store: SQLiteStore,
) -> None:
    a = replica(store)
    a.write_schema(SCHEMA)
    a.touch("document:d#viewer@user:u")
    taken: list[int] = []
    with a.lock:  # held by this thread while another takes the snapshot
        t = threading.Thread(
            target=lambda: taken.append(a.snapshot(Consistency.fully_consistent()).revision)
        )
        t.start()
        t.join(10)
        assert taken == [a.revision], "the snapshot waited for the lock"
    b = replica(store)
    a.touch("document:d2#viewer@user:u")  # b is behind now: it catches up (under the lock)
    assert b.snapshot(Consistency.fully_consistent()).revision == a.revision


@pytest.mark.parametrize(
    "consistency", [None, Consistency.minimize_latency()], ids=["default", "explicit"]
)
def test_minimize_latency_catches_up_after_the_quantum(
    store: SQLiteStore, consistency: Consistency | None
) -> None:
    now = [1000.0]
    a = replica(store)
    a.write_schema(SCHEMA)
    b = Engine(store=store, store_id="acme", quantum=5.0, clock=lambda: now[0])
    a.touch("document:d#viewer@user:u")
    assert not b.check("document:d", "view", "user:u", consistency=consistency).allowed
    now[0] += 5.0
    assert b.check("document:d", "view", "user:u", consistency=consistency).allowed


def test_exact_snapshot_answers_at_the_old_revision(store: SQLiteStore) -> None:
    e = replica(store)
    e.write_schema(SCHEMA)
    before = e.touch("document:d#viewer@user:u")
    e.delete("document:d#viewer@user:u")
    old = Consistency.at_exact_snapshot(e.token_for(before))
    result = e.check("document:d", "view", "user:u", consistency=old)
    assert result.allowed and result.revision == before
    assert not e.check("document:d", "view", "user:u").allowed
    assert [r.id for r in e.lookup_resources("document", "view", "user:u", consistency=old)] == [
        "d"
    ]


def test_pinned_snapshot_ignores_writes_made_after_it_was_taken(store: SQLiteStore) -> None:
    e = replica(store)
    e.write_schema(SCHEMA)
    rev = e.touch("document:d#viewer@user:u")
    snap = e.snapshot(Consistency.at_exact_snapshot(e.token_for(rev)))
    e.delete("document:d#viewer@user:u")
    assert snap.check("document:d", "view", "user:u").allowed
    assert snap.revision == rev


def test_malformed_or_foreign_tokens_are_errors_not_downgrades(store: SQLiteStore) -> None:
    e = replica(store)
    e.write_schema(SCHEMA)
    with pytest.raises(RevisionError):
        e.check("document:d", "view", "user:u", consistency=Consistency.at_least_as_fresh("nope"))
    memory = MemoryStore()
    memory.create_store("acme")
    other = Engine(SCHEMA, store=memory, store_id="acme")
    foreign = other.token_for(other.revision)
    with pytest.raises(RevisionError):
        e.check("document:d", "view", "user:u", consistency=Consistency.at_least_as_fresh(foreign))


def test_index_survives_a_restart_from_the_durable_store(tmp_path: Path) -> None:
    path = tmp_path / "rebac.db"
    s1 = SQLiteStore(path, durable=False)
    s1.create_store("acme")
    e1 = Engine(store=s1, store_id="acme")
    e1.write_schema(SCHEMA)
    rev = e1.touch("document:d#viewer@user:u")
    s1.close()
    e2 = Engine(store=SQLiteStore(path, durable=False), store_id="acme")
    assert e2.revision == rev
    assert e2.check("document:d", "view", "user:u").allowed
