"""Store contract, writes: operations, atomicity, preconditions, limits, delete, import."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from rebac.errors import (
    AlreadyExists,
    InvalidRequest,
    LimitExceeded,
    PreconditionFailed,
    TooManyPreconditions,
    TooManyRelationshipsForDelete,
    TooManyUpdates,
    UpdatesOnSameRelationship,
)
from rebac.model import (
    Operation,
    Precondition,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
    SubjectFilter,
)
from rebac.store import Store, StoreConfig
from tests.store.conftest import T0, Backend, FakeClock
from tests.store.helpers import STORE, create, delete, read, rel, strs, touch

DOCS = RelationshipFilter("document")


def must_match(f: RelationshipFilter) -> Precondition:
    return Precondition(True, f)


def must_not_match(f: RelationshipFilter) -> Precondition:
    return Precondition(False, f)


def at(seconds_from_t0: float) -> str:
    """RFC 3339 text of T0 + seconds (expirations relative to the fake clock)."""
    when = datetime.fromtimestamp(T0 + seconds_from_t0, UTC)
    return when.isoformat().replace("+00:00", "Z")


# -- operations -----------------------------------------------------------------------------------


def test_write_returns_consecutive_revisions_starting_at_one(store: Store) -> None:
    assert store.head_revision(STORE) == 0
    assert store.write(STORE, create("document:d1#viewer@user:alice")) == 1
    assert store.write(STORE, touch("document:d1#viewer@user:bob")) == 2
    assert store.head_revision(STORE) == 2


def test_empty_write_still_gets_a_revision(store: Store) -> None:
    assert store.write(STORE, []) == 1
    assert store.write(STORE, []) == 2
    assert read(store) == []


def test_create_of_existing_relationship_fails(store: Store) -> None:
    store.write(STORE, create("document:d1#viewer@user:alice"))
    with pytest.raises(AlreadyExists, match=r"document:d1#viewer@user:alice.*already exists"):
        store.write(STORE, create("document:d1#viewer@user:alice"))
    assert store.head_revision(STORE) == 1


def test_create_ignores_caveat_when_comparing_identity(store: Store) -> None:
    store.write(STORE, create("document:d1#viewer@user:alice"))
    with pytest.raises(AlreadyExists):
        store.write(STORE, create('document:d1#viewer@user:alice[ipcav:{"a":1}]'))


def test_touch_upserts_and_replaces_caveat_context_and_expiration(store: Store) -> None:
    store.write(STORE, touch('document:d1#viewer@user:alice[ipcav:{"a":1}]'))
    store.write(
        STORE, touch(f'document:d1#viewer@user:alice[other:{{"b":[1,2]}}][expiration:{at(60)}]')
    )
    (only,) = store.read(STORE, DOCS, revision=2)
    assert only.caveat_name == "other"
    assert only.caveat_context == {"b": [1, 2]}
    assert only.expires_at == datetime.fromtimestamp(T0 + 60, UTC)
    store.write(STORE, touch("document:d1#viewer@user:alice"))
    assert read(store) == ["document:d1#viewer@user:alice"]


def test_identical_touch_changes_nothing_but_the_revision(store: Store) -> None:
    store.write(STORE, touch('document:d1#viewer@user:alice[ipcav:{"a":1}]'))
    rev = store.write(STORE, touch('document:d1#viewer@user:alice[ipcav:{"a":1}]'))
    assert rev == 2
    (cs,) = store.changes(STORE, 1)
    assert cs.touched == () and cs.deleted == ()


def test_delete_of_missing_relationship_is_a_no_op(store: Store) -> None:
    rev = store.write(STORE, delete("document:d1#viewer@user:alice"))
    assert rev == 1
    assert store.changes(STORE, 0)[0].deleted == ()


def test_delete_removes_only_the_named_relationship(store: Store) -> None:
    store.write(
        STORE,
        create(
            "document:d1#viewer@user:alice",
            "document:d1#viewer@user:bob",
            "document:d1#viewer@group:eng#member",
            "document:d1#viewer@group:eng",
        ),
    )
    store.write(STORE, delete("document:d1#viewer@group:eng#member", "document:d1#viewer@user:bob"))
    assert read(store) == ["document:d1#viewer@group:eng", "document:d1#viewer@user:alice"]


def test_mixed_batch_applies_every_operation(store: Store) -> None:
    store.write(STORE, create("document:d1#viewer@user:alice", "document:d2#viewer@user:bob"))
    batch = [
        *create("document:d3#viewer@user:carol"),
        *touch("document:d2#viewer@user:bob[cav]"),
        *delete("document:d1#viewer@user:alice"),
    ]
    store.write(STORE, batch)
    assert read(store) == ["document:d2#viewer@user:bob[cav]", "document:d3#viewer@user:carol"]


def test_caveat_context_is_copied_not_aliased(store: Store) -> None:
    ctx = {"allowed": ["10.0.0.0/8"]}
    store.write(
        STORE,
        [
            RelationshipUpdate(
                Operation.TOUCH,
                Relationship(
                    rel("document:d1#viewer@user:alice").resource,
                    "viewer",
                    rel("document:d1#viewer@user:alice").subject,
                    "ipcav",
                    ctx,
                ),
            )
        ],
    )
    ctx["allowed"].append("mutated")
    (got,) = store.read(STORE, DOCS, revision=1)
    assert got.caveat_context == {"allowed": ["10.0.0.0/8"]}
    assert isinstance(got.caveat_context, dict)
    got.caveat_context["allowed"].append("mutated too")
    (again,) = store.read(STORE, DOCS, revision=1)
    assert again.caveat_context == {"allowed": ["10.0.0.0/8"]}


def test_empty_and_absent_context_are_kept_apart(store: Store) -> None:
    r = rel("document:d1#viewer@user:alice[cav]")
    store.write(STORE, [RelationshipUpdate(Operation.TOUCH, r)])
    assert store.read(STORE, DOCS, revision=1)[0].caveat_context is None
    with_empty = Relationship(r.resource, r.relation, r.subject, "cav", {})
    store.write(STORE, [RelationshipUpdate(Operation.TOUCH, with_empty)])
    assert store.read(STORE, DOCS, revision=2)[0].caveat_context == {}


def test_unserialisable_context_is_refused_before_anything_happens(store: Store) -> None:
    r = rel("document:d1#viewer@user:alice")
    bad = Relationship(r.resource, r.relation, r.subject, "cav", {"x": object()})
    with pytest.raises(InvalidRequest, match="not JSON-serialisable"):
        store.write(STORE, [RelationshipUpdate(Operation.TOUCH, bad)])
    nan = Relationship(r.resource, r.relation, r.subject, "cav", {"x": float("nan")})
    with pytest.raises(InvalidRequest):
        store.write(STORE, [RelationshipUpdate(Operation.TOUCH, nan)])
    assert store.head_revision(STORE) == 0


def test_naive_expiration_is_refused(store: Store) -> None:
    r = rel("document:d1#viewer@user:alice")
    naive = Relationship(r.resource, r.relation, r.subject, expires_at=datetime(2030, 1, 1))
    with pytest.raises(InvalidRequest, match="time zone"):
        store.write(STORE, [RelationshipUpdate(Operation.TOUCH, naive)])


def test_expiration_in_another_zone_round_trips_as_the_same_instant(store: Store) -> None:
    r = rel("document:d1#viewer@user:alice")
    plus2 = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC).astimezone(
        __import__("datetime").timezone(timedelta(hours=2))
    )
    store.write(
        STORE,
        [
            RelationshipUpdate(
                Operation.TOUCH, Relationship(r.resource, r.relation, r.subject, expires_at=plus2)
            )
        ],
    )
    (got,) = store.read(STORE, DOCS, revision=1)
    assert got.expires_at == plus2 and got.expires_at.utcoffset() == timedelta(0)


# -- atomicity ----------------------------------------------------------------------------------


def test_failed_create_in_a_batch_changes_nothing(store: Store) -> None:
    store.write(STORE, create("document:d2#viewer@user:bob"))
    batch = [
        *create("document:d1#viewer@user:alice"),
        *delete("document:d9#viewer@user:zed"),
        *touch("document:d3#viewer@user:carol"),
        *create("document:d2#viewer@user:bob"),  # exists: the whole batch fails
    ]
    with pytest.raises(AlreadyExists):
        store.write(STORE, batch)
    assert read(store) == ["document:d2#viewer@user:bob"]
    assert store.head_revision(STORE) == 1
    assert len(store.changes(STORE, 0)) == 1


def test_failed_delete_by_filter_changes_nothing(store: Store) -> None:
    store.write(STORE, create("document:d1#viewer@user:a", "document:d2#viewer@user:b"))
    with pytest.raises(TooManyRelationshipsForDelete):
        store.delete(STORE, DOCS, limit=1)
    assert len(read(store)) == 2
    assert store.head_revision(STORE) == 1


# -- preconditions -------------------------------------------------------------------------------


def test_must_match_precondition(store: Store) -> None:
    guard = must_match(RelationshipFilter("folder", "f1", relation="owner"))
    with pytest.raises(PreconditionFailed, match="MUST_MATCH"):
        store.write(STORE, create("document:d1#viewer@user:alice"), [guard])
    assert store.head_revision(STORE) == 0
    store.write(STORE, create("folder:f1#owner@user:alice"))
    assert store.write(STORE, create("document:d1#viewer@user:alice"), [guard]) == 2


def test_must_not_match_precondition(store: Store) -> None:
    guard = must_not_match(RelationshipFilter("document", "d1", subject=SubjectFilter("user")))
    store.write(STORE, create("document:d1#viewer@user:alice"))
    with pytest.raises(PreconditionFailed, match="MUST_NOT_MATCH"):
        store.write(STORE, create("document:d2#viewer@user:alice"), [guard])
    assert read(store) == ["document:d1#viewer@user:alice"]


def test_preconditions_see_the_state_before_the_batch(store: Store) -> None:
    # The batch creates what the precondition asks for: still fails (evaluated before).
    with pytest.raises(PreconditionFailed):
        store.write(
            STORE,
            create("document:d1#viewer@user:alice"),
            [must_match(RelationshipFilter("document", "d1"))],
        )


def test_every_precondition_must_hold(store: Store) -> None:
    store.write(STORE, create("folder:f1#owner@user:alice"))
    with pytest.raises(PreconditionFailed):
        store.write(
            STORE,
            touch("document:d1#viewer@user:bob"),
            [must_match(RelationshipFilter("folder")), must_match(RelationshipFilter("group"))],
        )
    assert store.head_revision(STORE) == 1


def test_expired_relationship_does_not_satisfy_must_match(store: Store, clock: FakeClock) -> None:
    store.write(STORE, create(f"folder:f1#owner@user:alice[expiration:{at(10)}]"))
    guard = must_match(RelationshipFilter("folder"))
    assert store.write(STORE, [], [guard]) == 2
    clock.advance(10)
    with pytest.raises(PreconditionFailed):
        store.write(STORE, [], [guard])


def test_precondition_filter_must_not_be_empty(store: Store) -> None:
    with pytest.raises(InvalidRequest, match="at least one field"):
        store.write(STORE, [], [must_match(RelationshipFilter())])


# -- limits and duplicates -----------------------------------------------------------------------


def test_default_limits_are_one_thousand(backend: Backend) -> None:
    store = backend.make()
    store.create_store(STORE)
    ok = touch(*(f"document:d{i}#viewer@user:u" for i in range(1000)))
    assert store.write(STORE, ok) == 1
    too_many = touch(*(f"document:d{i}#viewer@user:u" for i in range(1001)))
    with pytest.raises(TooManyUpdates, match=r"1001 > max_updates 1000") as err:
        store.write(STORE, too_many)
    assert isinstance(err.value, LimitExceeded)
    guards = [must_match(RelationshipFilter("document"))] * 1001
    with pytest.raises(TooManyPreconditions, match=r"1001 > max_preconditions 1000"):
        store.write(STORE, [], guards)
    assert store.head_revision(STORE) == 1


def test_limits_are_configurable(backend: Backend) -> None:
    store = backend.make(StoreConfig(max_updates=2, max_preconditions=1))
    store.create_store(STORE)
    with pytest.raises(TooManyUpdates, match="max_updates 2"):
        store.write(
            STORE,
            touch(
                "document:x#viewer@user:1", "document:x#viewer@user:2", "document:x#viewer@user:3"
            ),
        )
    f = must_match(RelationshipFilter("document"))
    with pytest.raises(TooManyPreconditions, match="max_preconditions 1"):
        store.delete(STORE, DOCS, preconditions=[f, f])


def test_two_updates_to_one_relationship_in_a_batch_fail(store: Store) -> None:
    batch = [*touch("document:d1#viewer@user:alice[cav]"), *delete("document:d1#viewer@user:alice")]
    with pytest.raises(UpdatesOnSameRelationship, match="more than once"):
        store.write(STORE, batch)
    assert isinstance(UpdatesOnSameRelationship("x"), InvalidRequest)
    assert store.head_revision(STORE) == 0


def test_metadata_must_be_json(store: Store) -> None:
    with pytest.raises(InvalidRequest, match="metadata"):
        store.write(STORE, [], metadata={"x": {1, 2}})


# -- expiration -----------------------------------------------------------------------------------


def test_create_over_an_expired_relationship_succeeds(store: Store, clock: FakeClock) -> None:
    store.write(STORE, create(f"document:d1#viewer@user:alice[expiration:{at(5)}]"))
    clock.advance(5)
    assert read(store) == []
    store.write(STORE, create("document:d1#viewer@user:alice"))
    assert read(store) == ["document:d1#viewer@user:alice"]
    assert read(store, revision=1) == []  # still expired when read today


def test_delete_of_an_expired_relationship_reports_nothing(store: Store, clock: FakeClock) -> None:
    store.write(STORE, create(f"document:d1#viewer@user:alice[expiration:{at(5)}]"))
    clock.advance(6)
    store.write(STORE, delete("document:d1#viewer@user:alice"))
    assert store.delete(STORE, DOCS).deleted == 0
    assert [cs.deleted for cs in store.changes(STORE, 1)] == [(), ()]


# -- delete by filter -----------------------------------------------------------------------------

DATA = [
    "document:a1#viewer@user:alice",
    "document:a1#editor@user:bob",
    "document:a2#viewer@group:eng#member",
    "document:b1#viewer@user:alice",
    "document:b1#viewer@group:eng",
    "folder:a1#viewer@user:alice",
]


@pytest.mark.parametrize(
    ("filter", "left"),
    [
        (RelationshipFilter("document"), ["folder:a1#viewer@user:alice"]),
        (RelationshipFilter("document", "a1"), [2, 3, 4, 5]),
        (RelationshipFilter("document", resource_id_prefix="a"), [3, 4, 5]),
        (RelationshipFilter("document", relation="viewer"), [1, 5]),
        (RelationshipFilter(subject=SubjectFilter("user", "alice")), [1, 2, 4]),
        (RelationshipFilter("document", subject=SubjectFilter("group")), [0, 1, 3, 5]),
        (
            RelationshipFilter("document", subject=SubjectFilter("group", relation="...")),
            [0, 1, 2, 3, 5],
        ),
        (
            RelationshipFilter("document", subject=SubjectFilter("group", relation="member")),
            [0, 1, 3, 4, 5],
        ),
        (RelationshipFilter("document", resource_id_prefix="", relation="editor"), [0, 2, 3, 4, 5]),
    ],
)
def test_delete_by_filter(store: Store, filter: RelationshipFilter, left: list[object]) -> None:
    store.write(STORE, create(*DATA))
    expected = sorted(DATA[i] if isinstance(i, int) else str(i) for i in left)
    result = store.delete(STORE, filter)
    assert result.complete and result.revision == 2
    assert result.deleted == len(DATA) - len(expected)
    assert sorted(read(store)) == expected
    assert sorted(str(r) for r in store.changes(STORE, 1)[0].deleted) == sorted(
        set(DATA) - set(expected)
    )


def test_delete_without_match_still_gets_a_revision(store: Store) -> None:
    result = store.delete(STORE, RelationshipFilter("nothing"))
    assert (result.revision, result.deleted, result.complete) == (1, 0, True)


def test_delete_with_limit(store: Store) -> None:
    store.write(STORE, create(*(f"document:d{i}#viewer@user:u" for i in range(5))))
    assert store.delete(STORE, DOCS, limit=5).deleted == 5  # exactly the limit is fine
    store.write(STORE, create(*(f"document:d{i}#viewer@user:u" for i in range(5))))
    with pytest.raises(TooManyRelationshipsForDelete, match="more than 3"):
        store.delete(STORE, DOCS, limit=3)
    partial = store.delete(STORE, DOCS, limit=3, allow_partial=True)
    assert (partial.deleted, partial.complete) == (3, False)
    assert read(store) == ["document:d3#viewer@user:u", "document:d4#viewer@user:u"]  # key order
    rest = store.delete(STORE, DOCS, limit=3, allow_partial=True)
    assert (rest.deleted, rest.complete) == (2, True)


def test_delete_preconditions(store: Store) -> None:
    store.write(STORE, create("document:d1#viewer@user:u"))
    with pytest.raises(PreconditionFailed):
        store.delete(STORE, DOCS, preconditions=[must_match(RelationshipFilter("folder"))])
    assert read(store) == ["document:d1#viewer@user:u"]


def test_delete_metadata_is_recorded(store: Store) -> None:
    store.delete(STORE, DOCS, metadata={"reason": "gdpr"})
    assert store.changes(STORE, 0)[0].metadata == {"reason": "gdpr"}


@pytest.mark.parametrize(
    "bad",
    [RelationshipFilter(), RelationshipFilter("document", "d1", resource_id_prefix="d")],
)
def test_delete_filter_must_be_valid(store: Store, bad: RelationshipFilter) -> None:
    with pytest.raises(InvalidRequest):
        store.delete(STORE, bad)


@pytest.mark.parametrize("limit", [0, -1, True])
def test_delete_limit_must_be_positive(store: Store, limit: int) -> None:
    with pytest.raises(InvalidRequest, match="limit"):
        store.delete(STORE, DOCS, limit=limit)


# -- bulk import ----------------------------------------------------------------------------------


def test_import_loads_batches_atomically_at_one_revision(store: Store) -> None:
    batches = [[rel(f"document:d{b}_{i}#viewer@user:u{i}") for i in range(50)] for b in range(4)]
    result = store.import_relationships(STORE, iter(batches))
    assert result == (1, 200)
    assert result.revision == 1 and result.loaded == 200
    assert len(read(store)) == 200
    (cs,) = store.changes(STORE, 0)
    assert len(cs.touched) == 200 and list(cs.touched) == sorted(cs.touched, key=_key)


def _key(r: Relationship) -> tuple[str, ...]:
    return (*r.key[:5], r.key[5] or "")


def test_import_fails_whole_if_any_relationship_exists(store: Store) -> None:
    store.write(STORE, create("document:d1#viewer@user:alice"))
    batches = [
        [rel("document:d0#viewer@user:alice")],
        [rel("document:d2#viewer@user:alice"), rel("document:d1#viewer@user:alice")],
    ]
    with pytest.raises(AlreadyExists, match="document:d1#viewer@user:alice"):
        store.import_relationships(STORE, batches)
    assert read(store) == ["document:d1#viewer@user:alice"]
    assert store.head_revision(STORE) == 1


def test_import_fails_on_a_duplicate_within_the_import(store: Store) -> None:
    r = rel("document:d1#viewer@user:alice")
    with pytest.raises(AlreadyExists):
        store.import_relationships(STORE, [[r], [r]])
    assert store.head_revision(STORE) == 0


def test_import_replaces_expired_relationships(store: Store, clock: FakeClock) -> None:
    store.write(STORE, create(f"document:d1#viewer@user:alice[expiration:{at(1)}]"))
    clock.advance(2)
    result = store.import_relationships(
        STORE, [[rel("document:d1#viewer@user:alice[cav]"), rel("document:d2#viewer@user:bob")]]
    )
    assert result.loaded == 2
    assert read(store) == ["document:d1#viewer@user:alice[cav]", "document:d2#viewer@user:bob"]
    (cs,) = store.changes(STORE, 1)
    assert cs.deleted == () and len(cs.touched) == 2


def test_import_keeps_caveat_contexts_and_expirations_exactly(store: Store) -> None:
    texts = [
        'document:d1#viewer@user:alice[cav:{"note":"caf\u00e9 \\"q\\" \U0001f600",'
        '"n":[1,2.5,null]}]',
        f"document:d2#viewer@group:eng#member[expiration:{at(3600)}]",
        f'document:d3#viewer@user:*[cav:{{"limit":9007199254740993}}][expiration:{at(60)}]',
    ]
    many = [f"document:e{i}#viewer@user:u{i}" for i in range(300)]
    store.import_relationships(STORE, [[rel(t) for t in texts], [rel(t) for t in many]])
    assert sorted(read(store)) == sorted(strs(rel(t) for t in texts + many))
    by_text = {str(r): r for r in store.read(STORE, None, revision=store.head_revision(STORE))}
    for t in texts:
        assert by_text[str(rel(t))] == rel(t)  # contexts compare as values, times exactly


def test_import_stopped_by_its_source_changes_nothing(store: Store) -> None:
    def batches() -> Iterator[list[Relationship]]:
        for b in range(3):
            yield [rel(f"document:d{b}_{i}#viewer@user:u{i}") for i in range(100)]
        raise RuntimeError("the client went away")

    with pytest.raises(RuntimeError, match="went away"):
        store.import_relationships(STORE, batches())
    assert read(store) == [] and store.head_revision(STORE) == 0
    store.write(STORE, create("document:after#viewer@user:alice"))  # the store goes on
    assert read(store) == ["document:after#viewer@user:alice"]


def test_empty_import_gets_a_revision(store: Store) -> None:
    assert store.import_relationships(STORE, []) == (1, 0)
