"""Store contract, reads: stable order, filters, paging and cursors, snapshots, expiration."""

from __future__ import annotations

import random

import pytest

from rebac.errors import InvalidCursor, InvalidRequest, RevisionError, RevisionExpired
from rebac.model import RelationshipFilter, SubjectFilter
from rebac.store import Store
from rebac.store.paging import read_page
from tests.store.conftest import FakeClock
from tests.store.helpers import STORE, create, delete, read, strs, touch
from tests.store.test_contract_writes import at

SORTED = [
    "document:a#editor@user:zed",
    "document:a#viewer@group:eng",
    "document:a#viewer@group:eng#member",
    "document:a#viewer@group:eng#owner",
    "document:a#viewer@user:*",
    "document:a#viewer@user:alice",
    "document:a/b#viewer@user:alice",
    "document:ab#viewer@user:alice",
    "document:b#viewer@user:alice",
    "folder:a#viewer@user:alice",
    "folder/sub:a#viewer@user:alice",
]


@pytest.fixture
def loaded(store: Store) -> Store:
    shuffled = SORTED[:]
    random.Random(7).shuffle(shuffled)
    store.write(STORE, create(*shuffled))
    return store


def test_read_order_is_by_resource_type_id_relation_then_subject(loaded: Store) -> None:
    # The subject relation "..." (None) sorts before every named relation.
    assert read(loaded) == SORTED
    assert strs(loaded.snapshot(STORE, 1)) == SORTED


@pytest.mark.parametrize(
    ("filter", "indexes"),
    [
        (RelationshipFilter("document"), range(9)),
        (RelationshipFilter("document", "a"), range(6)),
        (RelationshipFilter("document", resource_id_prefix="a"), range(8)),
        (RelationshipFilter("document", resource_id_prefix="a/"), [6]),
        (RelationshipFilter("document", "a", relation="viewer"), range(1, 6)),
        (RelationshipFilter(relation="editor"), [0]),
        (RelationshipFilter(subject=SubjectFilter("user", "alice")), [5, 6, 7, 8, 9, 10]),
        (RelationshipFilter(subject=SubjectFilter("user", "*")), [4]),
        (RelationshipFilter("document", subject=SubjectFilter("group")), [1, 2, 3]),
        (RelationshipFilter(subject=SubjectFilter("group", "eng", "...")), [1]),
        (RelationshipFilter(subject=SubjectFilter("group", relation="owner")), [3]),
        (RelationshipFilter(resource_id_prefix="a"), [*range(8), 9, 10]),
        (RelationshipFilter("folder/sub"), [10]),
        (RelationshipFilter("nope"), []),
    ],
)
def test_read_by_filter(loaded: Store, filter: RelationshipFilter, indexes: list[int]) -> None:
    assert read(loaded, filter) == [SORTED[i] for i in indexes]


def test_read_with_limit_and_after_pages_through_in_order(loaded: Store) -> None:
    for f in [None, RelationshipFilter("document"), RelationshipFilter("document", "a")]:
        full = loaded.read(STORE, f, revision=1)
        for size in (1, 2, 3, 100):
            got = []
            after = None
            while True:
                page = loaded.read(STORE, f, revision=1, limit=size, after=after)
                got.extend(page)
                if len(page) < size:
                    break
                after = page[-1].key
            assert got == full


def test_after_a_position_that_is_not_stored(loaded: Store) -> None:
    after = ("document", "a", "viewer", "group", "eng", "zzz")
    assert read_after(loaded, None, after) == SORTED[4:]
    f = RelationshipFilter("document", "a", relation="viewer")
    assert read_after(loaded, f, after) == SORTED[4:6]
    assert read_after(loaded, f, ("document", "a", "aaa", "x", "x", None)) == SORTED[1:6]
    assert read_after(loaded, f, ("document", "b", "aaa", "x", "x", None)) == []
    assert read_after(loaded, f, ("a", "b", "c", "d", "e", None)) == SORTED[1:6]


def test_after_with_a_filter_that_fixes_the_whole_key(loaded: Store) -> None:
    f = RelationshipFilter(
        "document", "a", relation="viewer", subject=SubjectFilter("user", "alice", "...")
    )
    key = ("document", "a", "viewer", "user", "alice", None)
    assert read_after(loaded, f, key) == []
    assert read_after(loaded, f, ("document", "a", "viewer", "user", "al", None)) == [SORTED[5]]
    assert read_after(loaded, f, ("document", "a", "viewer", "user", "alice", "x")) == []


def read_after(
    store: Store, f: RelationshipFilter | None, after: tuple[str | None, ...]
) -> list[str]:
    return strs(store.read(STORE, f, revision=1, after=after))


@pytest.mark.parametrize("bad", [("a", "b"), ("a", "b", "c", "d", "e", 1), "document:a"])
def test_after_must_be_a_relationship_key(loaded: Store, bad: object) -> None:
    with pytest.raises(InvalidRequest, match="position"):
        loaded.read(STORE, None, revision=1, after=bad)  # type: ignore[arg-type]


def test_read_filter_must_be_valid_but_may_be_absent(loaded: Store) -> None:
    with pytest.raises(InvalidRequest, match="at least one field"):
        loaded.read(STORE, RelationshipFilter(), revision=1)
    with pytest.raises(InvalidRequest, match="limit"):
        loaded.read(STORE, None, revision=1, limit=0)


# -- snapshots ------------------------------------------------------------------------------------


def test_a_read_at_revision_r_sees_exactly_the_writes_up_to_r(store: Store) -> None:
    store.write(STORE, create("document:d1#viewer@user:alice", "document:d2#viewer@user:bob"))
    store.write(STORE, touch("document:d1#viewer@user:alice[cav]", "document:d3#viewer@user:c"))
    store.write(STORE, delete("document:d2#viewer@user:bob"))
    store.delete(STORE, RelationshipFilter("document", "d3"))
    store.write(STORE, create("document:d2#viewer@user:bob"))
    history = {
        0: [],
        1: ["document:d1#viewer@user:alice", "document:d2#viewer@user:bob"],
        2: [
            "document:d1#viewer@user:alice[cav]",
            "document:d2#viewer@user:bob",
            "document:d3#viewer@user:c",
        ],
        3: ["document:d1#viewer@user:alice[cav]", "document:d3#viewer@user:c"],
        4: ["document:d1#viewer@user:alice[cav]"],
        5: ["document:d1#viewer@user:alice[cav]", "document:d2#viewer@user:bob"],
    }
    for rev, expected in history.items():
        assert read(store, revision=rev) == expected, rev
        assert strs(store.snapshot(STORE, rev)) == expected, rev


def test_reading_ahead_of_the_head_is_an_error(store: Store) -> None:
    store.write(STORE, [])
    with pytest.raises(RevisionError, match="ahead"):
        store.read(STORE, None, revision=2)
    with pytest.raises(RevisionError):
        list(store.snapshot(STORE, 2))
    with pytest.raises(RevisionExpired):
        store.read(STORE, None, revision=-1)


def test_snapshot_streams_large_stores_in_key_order(store: Store) -> None:
    rels = [f"document:d{i:05d}#viewer@user:u{i % 7}" for i in range(6000)]
    for i in range(0, len(rels), 1000):
        store.write(STORE, create(*rels[i : i + 1000]))
    assert strs(store.snapshot(STORE, 6)) == rels
    assert strs(store.snapshot(STORE, 3)) == rels[:3000]


# -- expiration -----------------------------------------------------------------------------------


def test_expired_relationships_are_invisible_at_every_revision(
    store: Store, clock: FakeClock
) -> None:
    store.write(STORE, create(f"document:d1#viewer@user:alice[expiration:{at(10)}]"))
    store.write(STORE, create("document:d2#viewer@user:bob"))
    assert read(store, revision=2) == [
        f"document:d1#viewer@user:alice[expiration:{at(10)}]",
        "document:d2#viewer@user:bob",
    ]
    clock.advance(9.999)
    assert len(read(store)) == 2
    clock.advance(0.001)  # expiring exactly now means gone
    assert read(store, revision=1) == []
    assert read(store, revision=2) == ["document:d2#viewer@user:bob"]
    assert strs(store.snapshot(STORE, 2)) == ["document:d2#viewer@user:bob"]
    # The changelog still tells what was written.
    assert len(store.changes(STORE, 0)[0].touched) == 1


# -- paging with cursors --------------------------------------------------------------------------


def test_read_page_cursor_pins_the_snapshot(loaded: Store) -> None:
    f = RelationshipFilter("document")
    first = read_page(loaded, STORE, f, limit=4)
    assert strs(first.relationships) == SORTED[:4] and first.revision == 1
    loaded.write(STORE, delete(*SORTED[4:6]))
    loaded.write(STORE, create("document:a#viewer@user:new"))
    got = list(first.relationships)
    cursor = first.cursor
    while cursor is not None:
        page = read_page(loaded, STORE, f, limit=4, cursor=cursor)
        assert page.revision == 1
        got.extend(page.relationships)
        cursor = page.cursor
    assert strs(got) == SORTED[:9]


def test_page_size_may_change_between_pages(loaded: Store) -> None:
    first = read_page(loaded, STORE, None, limit=2)
    second = read_page(loaded, STORE, None, limit=5, cursor=first.cursor)
    assert strs(first.relationships + second.relationships) == SORTED[:7]


def test_a_cursor_reused_with_another_query_is_refused(loaded: Store) -> None:
    page = read_page(loaded, STORE, RelationshipFilter("document"), limit=2)
    assert page.cursor is not None
    with pytest.raises(InvalidCursor, match="different query"):
        read_page(loaded, STORE, RelationshipFilter("folder"), limit=2, cursor=page.cursor)
    with pytest.raises(InvalidCursor, match="different query"):
        read_page(
            loaded, STORE, RelationshipFilter("document"), limit=2, cursor=page.cursor, api="export"
        )
    loaded.create_store("other")
    with pytest.raises(InvalidCursor, match="another store"):
        read_page(loaded, "other", RelationshipFilter("document"), limit=2, cursor=page.cursor)
    with pytest.raises(InvalidCursor):
        read_page(loaded, STORE, RelationshipFilter("document"), limit=2, cursor=page.cursor[:-2])


def test_a_cursor_past_the_gc_window_is_expired(loaded: Store, clock: FakeClock) -> None:
    page = read_page(loaded, STORE, None, limit=2)
    assert page.cursor is not None
    loaded.write(STORE, [])
    clock.advance(loaded.config.gc_window + 1)
    loaded.write(STORE, [])
    loaded.gc(STORE)
    with pytest.raises(RevisionExpired):
        read_page(loaded, STORE, None, limit=2, cursor=page.cursor)


def test_last_page_has_no_cursor(loaded: Store) -> None:
    page = read_page(loaded, STORE, RelationshipFilter("folder"), limit=2)
    assert len(page.relationships) == 1 and page.cursor is None
