"""Store contract: tenants, revisions, the changelog, schema versions, GC, threads, restarts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from rebac.errors import (
    InvalidRequest,
    NotFound,
    RevisionError,
    RevisionExpired,
    StoreAlreadyExists,
    StoreNotFound,
)
from rebac.model import RelationshipFilter
from rebac.store import Store, StoreConfig, StoreReader
from tests.store.conftest import T0, Backend, FakeClock
from tests.store.helpers import STORE, create, delete, read, strs, touch

DAY = 24 * 3600.0

# -- tenants --------------------------------------------------------------------------------------


def test_stores_are_created_listed_and_deleted(backend: Backend) -> None:
    s = backend.make()
    assert s.list_stores() == []
    for name in ("beta", "Alpha", "alpha", "a.b-c_d/e"):
        s.create_store(name)
    assert s.list_stores() == ["Alpha", "a.b-c_d/e", "alpha", "beta"]
    with pytest.raises(StoreAlreadyExists):
        s.create_store("alpha")
    s.delete_store("alpha")
    assert s.list_stores() == ["Alpha", "a.b-c_d/e", "beta"]


@pytest.mark.parametrize("bad", ["", " x", "x y", "-x", "é", "x" * 129, 7])
def test_store_ids_are_validated(backend: Backend, bad: Any) -> None:
    with pytest.raises(InvalidRequest, match="store id"):
        backend.make().create_store(bad)


def test_tenants_are_isolated_and_ids_case_sensitive(store: Store) -> None:
    store.create_store("ACME")
    store.write(STORE, create("document:d1#viewer@user:alice"))
    store.write(STORE, create("document:d2#viewer@user:alice"))
    store.write("ACME", create("document:d1#viewer@user:alice[cav]"))  # no clash
    store.write_schema("ACME", "definition user {}")
    assert read(store) == ["document:d1#viewer@user:alice", "document:d2#viewer@user:alice"]
    assert read(store, store_id="ACME") == ["document:d1#viewer@user:alice[cav]"]
    assert (store.head_revision(STORE), store.head_revision("ACME")) == (2, 2)
    with pytest.raises(NotFound):
        store.read_schema(STORE)
    assert store.delete(STORE, RelationshipFilter("document")).deleted == 2
    assert read(store, store_id="ACME") == ["document:d1#viewer@user:alice[cav]"]
    assert [len(c.deleted) for c in store.changes("ACME", 0)] == [0, 0]


def _calls(s: Store, sid: str) -> list[Callable[[], object]]:
    f = RelationshipFilter("document")
    return [
        lambda: s.head_revision(sid),
        lambda: s.oldest_revision(sid),
        lambda: s.write(sid, []),
        lambda: s.delete(sid, f),
        lambda: s.import_relationships(sid, []),
        lambda: s.read(sid, f, revision=0),
        lambda: list(s.snapshot(sid, 0)),
        lambda: s.changes(sid, 0),
        lambda: s.write_schema(sid, "definition user {}"),
        lambda: s.read_schema(sid),
        lambda: s.gc(sid),
        lambda: s.delete_store(sid),
    ]


def test_unknown_and_deleted_stores_are_indistinguishable(store: Store) -> None:
    store.create_store("gone")
    store.write("gone", create("document:d1#viewer@user:alice"))
    store.delete_store("gone")
    for unknown, deleted in zip(_calls(store, "never"), _calls(store, "gone"), strict=True):
        with pytest.raises(StoreNotFound) as a:
            unknown()
        with pytest.raises(StoreNotFound) as b:
            deleted()
        assert str(a.value).replace("never", "X") == str(b.value).replace("gone", "X")
        assert isinstance(a.value, NotFound)
    with pytest.raises(StoreNotFound):
        store.head_revision("Acme")  # case matters


def test_a_store_created_again_is_empty_and_continues_the_revision_count(store: Store) -> None:
    store.write(STORE, create("document:d1#viewer@user:alice"))
    store.write_schema(STORE, "definition user {}")
    store.delete_store(STORE)
    store.create_store(STORE)
    assert store.head_revision(STORE) == 2
    assert read(store) == []
    assert store.changes(STORE, 2) == []
    with pytest.raises(NotFound):
        store.read_schema(STORE)
    with pytest.raises(RevisionExpired):
        store.read(STORE, None, revision=1)  # the old incarnation's past is gone
    assert store.write(STORE, create("document:d1#viewer@user:bob")) == 3


# -- the changelog --------------------------------------------------------------------------------


def test_changes_are_in_revision_order_with_metadata(store: Store, clock: FakeClock) -> None:
    store.write(
        STORE,
        create("document:d2#viewer@user:b", "document:d1#viewer@user:a"),
        metadata={"by": "svc", "n": [1, 2]},
    )
    clock.advance(1)
    store.write(STORE, touch("document:d1#viewer@user:a[cav]", "document:d1#viewer@user:c"))
    clock.advance(1)
    store.write(STORE, delete("document:d2#viewer@user:b", "document:d9#viewer@user:z"))
    store.write_schema(STORE, "definition user {}")
    store.write(STORE, [])
    cs = store.changes(STORE, 0)
    assert [c.revision for c in cs] == [1, 2, 3, 4, 5]
    assert [c.timestamp for c in cs] == [T0, T0 + 1, T0 + 2, T0 + 2, T0 + 2]
    assert strs(cs[0].touched) == ["document:d1#viewer@user:a", "document:d2#viewer@user:b"]
    assert cs[0].metadata == {"by": "svc", "n": [1, 2]} and cs[1].metadata is None
    # A TOUCH that replaces reports the new form only, never a delete of the old one.
    assert strs(cs[1].touched) == ["document:d1#viewer@user:a[cav]", "document:d1#viewer@user:c"]
    assert cs[1].deleted == ()
    assert strs(cs[2].deleted) == ["document:d2#viewer@user:b"] and cs[2].touched == ()
    assert [c.schema_changed for c in cs] == [False, False, False, True, False]
    assert (cs[4].touched, cs[4].deleted) == ((), ())


def test_changes_windows(store: Store) -> None:
    for i in range(5):
        store.write(STORE, create(f"document:d{i}#viewer@user:u"))
    assert [c.revision for c in store.changes(STORE, 2)] == [3, 4, 5]
    assert [c.revision for c in store.changes(STORE, 1, up_to=3)] == [2, 3]
    assert [c.revision for c in store.changes(STORE, 1, limit=2)] == [2, 3]
    assert [c.revision for c in store.changes(STORE, 0, up_to=99)] == [1, 2, 3, 4, 5]
    assert store.changes(STORE, 5) == []
    assert store.changes(STORE, 3, up_to=2) == []
    with pytest.raises(RevisionError, match="ahead"):
        store.changes(STORE, 6)


def test_changes_replay_to_the_same_state_as_a_snapshot(store: Store) -> None:
    store.write(STORE, create("document:d1#viewer@user:a", "document:d2#viewer@user:b"))
    store.write(STORE, touch("document:d1#viewer@user:a[cav]"))
    store.delete(STORE, RelationshipFilter("document", "d2"))
    store.write(STORE, create("document:d2#viewer@user:b", "document:d3#viewer@user:c"))
    state: dict[object, str] = {}
    for c in store.changes(STORE, 0):
        for r in c.deleted:
            del state[r.key]
        for r in c.touched:
            state[r.key] = str(r)
        assert sorted(state.values()) == read(store, revision=c.revision)


# -- schema ---------------------------------------------------------------------------------------


def test_schema_versions(store: Store) -> None:
    with pytest.raises(NotFound, match="no schema"):
        store.read_schema(STORE)
    assert store.write_schema(STORE, "definition user {}") == 1
    store.write(STORE, [])
    assert store.write_schema(STORE, "definition user {}\ndefinition team {}") == 3
    assert store.read_schema(STORE) == ("definition user {}\ndefinition team {}", 3)
    assert store.read_schema(STORE, 2) == ("definition user {}", 1)
    assert store.read_schema(STORE, 2).revision == 1
    with pytest.raises(NotFound):
        store.read_schema(STORE, 0)
    with pytest.raises(RevisionError):
        store.read_schema(STORE, 4)


def test_schema_guard_sees_the_head_and_can_refuse_atomically(
    store: Store, clock: FakeClock
) -> None:
    store.write(STORE, create("document:d1#viewer@user:alice", "folder:f1#owner@user:bob"))
    store.write(STORE, create(f"team:t1#member@user:x[expiration:{_at(5)}]"))
    clock.advance(5)
    seen: dict[str, object] = {}

    def guard(reader: StoreReader) -> None:
        seen["viewer"] = reader.exists(RelationshipFilter("document", relation="viewer"))
        seen["editor"] = reader.exists(RelationshipFilter("document", relation="editor"))
        seen["team"] = reader.exists(RelationshipFilter("team"))  # expired: not in use
        seen["first"] = reader.first(RelationshipFilter("folder"))
        if seen["viewer"]:
            raise InvalidRequest("relation document#viewer is still in use")

    with pytest.raises(InvalidRequest, match="still in use"):
        store.write_schema(STORE, "definition document {}", guard=guard)
    assert seen["viewer"] is True and seen["editor"] is False and seen["team"] is False
    assert str(seen["first"]) == "folder:f1#owner@user:bob"
    assert store.head_revision(STORE) == 2
    with pytest.raises(NotFound):
        store.read_schema(STORE)
    store.delete(STORE, RelationshipFilter("document"))
    assert store.write_schema(STORE, "definition document {}", guard=guard) == 4


def _at(seconds: float) -> str:
    from tests.store.test_contract_writes import at

    return at(seconds)


# -- revisions and garbage collection -------------------------------------------------------------


def test_gc_keeps_the_window_readable_and_expires_the_rest(store: Store, clock: FakeClock) -> None:
    store.write(STORE, create("document:d1#viewer@user:a"))  # rev 1 at T0
    store.write_schema(STORE, "definition user {}")  # rev 2 at T0
    clock.advance(3600)
    store.write(STORE, touch("document:d1#viewer@user:a[cav]"))  # rev 3 at T0+1h
    clock.advance(3600)
    store.write(STORE, delete("document:d1#viewer@user:a"))  # rev 4 at T0+2h
    assert store.gc(STORE) == 0  # nothing is older than a day yet
    assert store.oldest_revision(STORE) == 0

    clock.advance(DAY - 3600)  # now T0+1d+1h: revisions 1..2 predate the cutoff T0+1h
    assert store.gc(STORE) == 3  # rev 3 (T0+1h) was current at the cutoff: kept readable
    assert store.oldest_revision(STORE) == 3
    for call in (
        lambda: store.read(STORE, None, revision=2),
        lambda: list(store.snapshot(STORE, 1)),
        lambda: store.changes(STORE, 2),
        lambda: store.read_schema(STORE, 2),
    ):
        with pytest.raises(RevisionExpired, match="oldest readable revision is 3"):
            call()
    assert read(store, revision=3) == ["document:d1#viewer@user:a[cav]"]
    assert read(store, revision=4) == []
    assert store.read_schema(STORE, 3) == ("definition user {}", 2)  # still in force
    assert [c.revision for c in store.changes(STORE, 3)] == [4]
    assert isinstance(RevisionExpired("x"), RevisionError)
    assert store.gc(STORE) == 3  # idempotent


def test_gc_window_is_configurable_and_gc_takes_an_explicit_now(backend: Backend) -> None:
    s = backend.make(StoreConfig(gc_window=60))
    s.create_store(STORE)
    s.write(STORE, [])
    s.write(STORE, [])
    assert s.gc(STORE, now=T0 + 59) == 0
    assert s.gc(STORE, now=T0 + 60) == 2
    with pytest.raises(RevisionExpired):
        s.read(STORE, None, revision=1)


def test_gc_keeps_rows_needed_by_retained_revisions(store: Store, clock: FakeClock) -> None:
    store.write(STORE, create("document:d1#viewer@user:a", "document:d2#viewer@user:b"))
    store.write(STORE, create(f"document:d3#viewer@user:c[expiration:{_at(10)}]"))
    clock.advance(DAY)
    store.write(STORE, delete("document:d2#viewer@user:b"))  # rev 3, inside the window
    assert store.gc(STORE) == 2
    assert read(store, revision=2) == ["document:d1#viewer@user:a", "document:d2#viewer@user:b"]
    assert read(store, revision=3) == ["document:d1#viewer@user:a"]
    assert strs(store.changes(STORE, 2)[0].deleted) == ["document:d2#viewer@user:b"]
    store.write(STORE, create("document:d3#viewer@user:c"))  # expired: may be created again
    assert read(store) == ["document:d1#viewer@user:a", "document:d3#viewer@user:c"]


def test_revisions_are_strictly_monotonic_under_concurrent_writers(store: Store) -> None:
    results: list[int] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        for i in range(25):
            rev = store.write(STORE, touch(f"document:w{n}_{i}#viewer@user:u"))
            with lock:
                results.append(rev)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(1, 101))
    assert len(read(store)) == 100


def test_concurrent_readers_see_consistent_snapshots(store: Store) -> None:
    stop = threading.Event()
    errors: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            head = store.head_revision(STORE)
            rows = store.read(STORE, None, revision=head)
            if len(rows) != head:  # every revision adds exactly one row
                errors.append(f"{len(rows)} rows at revision {head}")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(60):
        store.write(STORE, create(f"document:d{i}#viewer@user:u"))
    stop.set()
    for t in threads:
        t.join()
    assert errors == []


def test_closed_store_refuses_calls(backend: Backend) -> None:
    s = backend.make()
    s.create_store(STORE)
    s.close()
    with pytest.raises(RuntimeError, match="closed"):
        s.head_revision(STORE)


# -- restarts (persistent backends) ---------------------------------------------------------------


def test_everything_survives_a_restart(persistent_backend: Backend, clock: FakeClock) -> None:
    backend = persistent_backend
    s = backend.make()
    s.create_store(STORE)
    s.create_store("gone")
    s.delete_store("gone")
    s.write(STORE, create("document:d1#viewer@user:a"), metadata={"k": "v"})
    s.write_schema(STORE, "definition user {}")
    token = s.tokens.encode(STORE, 2)
    s.close()

    again = backend.make()
    assert again.list_stores() == [STORE]
    assert again.head_revision(STORE) == 2
    assert again.tokens.decode(token, STORE) == 2  # same datastore identity and key
    assert again.write(STORE, []) == 3
    assert again.changes(STORE, 0)[0].metadata == {"k": "v"}
    assert again.read_schema(STORE) == ("definition user {}", 2)
    with pytest.raises(StoreNotFound):
        again.head_revision("gone")
