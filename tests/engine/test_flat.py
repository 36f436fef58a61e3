"""Flattened union/arrow permissions (rebac.engine.flat) answer exactly as plain evaluation.

Each test asks the same questions of an engine that flattens (the default) -- on a member's
first visit, which climbs, and on the next, which flattens -- and of the checker with
flattening switched off (no flat cache), and pins the expected answer.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rebac import Engine, Permissionship
from rebac.engine.check import _SEEN, Checker
from rebac.engine.engine import build_plan
from rebac.engine.index import RelationshipIndex
from rebac.errors import MaximumDepthExceeded
from rebac.model import Relationship
from rebac.schema import ast

SCHEMA = """
use expiration

definition user {}
caveat weekday(day string) { day != "sunday" }
definition group {
    relation member: user | group#member
}
definition folder {
    relation parent: folder | folder with weekday | folder with expiration
    relation viewer: user | user:* | group#member | user with weekday
    permission view = viewer + parent->view
}
definition document {
    relation parent: folder
    relation owner: user
    relation viewer: user | group#member
    permission edit = owner
    permission view = viewer + edit + parent->view
}
"""


def at(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def unflattened(engine: Engine, resource: str, permission: str, subject: str) -> Permissionship:
    """The answer of the checker without a flat cache (every member evaluated as written)."""
    head = engine._head  # the engine's current state: the same index the flattening reads
    assert head.plan is not None
    rtype, _, rid = resource.partition(":")
    stype, _, sid = subject.partition(":")
    value = Checker(
        head.plan, head.index, stype, sid, None, now=engine.clock(), max_depth=engine.max_depth
    ).check(rtype, rid, permission)
    if value is True:
        return Permissionship.HAS_PERMISSION
    if value is False:
        return Permissionship.NO_PERMISSION
    return Permissionship.CONDITIONAL_PERMISSION


def both(engine: Engine, resource: str, permission: str, subject: str) -> Permissionship:
    """The engine's answer, asked twice, each time pinned to the unflattened one: a flat
    member is climbed on its first visit (Checker._climb) and flattened on the next."""
    expected = unflattened(engine, resource, permission, subject)
    climbed = engine.check(resource, permission, subject).permissionship
    engine._head.checkers.clear()  # forget the answer, keep what the flat cache learned
    flattened = engine.check(resource, permission, subject).permissionship
    assert climbed is expected
    assert flattened is expected
    return flattened


def test_the_schema_decides_which_permissions_are_flat() -> None:
    plan = build_plan(SCHEMA)
    assert ("folder", "view") in plan.flat
    assert ("document", "view") in plan.flat
    assert ("document", "edit") in plan.flat
    excluded = build_plan(
        "definition user {}\n"
        "definition doc {\n relation viewer: user\n relation banned: user\n"
        " permission view = viewer - banned\n}"
    )
    assert ("doc", "view") not in excluded.flat  # an exclusion is not plain reachability


def test_a_permission_reading_a_non_pure_subject_set_is_not_flat() -> None:
    plan = build_plan(
        "definition user {}\n"
        "definition team {\n relation admin: user\n permission manage = admin\n}\n"
        "definition doc {\n relation viewer: team#manage\n permission view = viewer\n}"
    )
    # team#manage is a permission: reading doc#viewer would dispatch, so view is not flat.
    assert ("doc", "view") not in plan.flat


def test_ancestors_grant_through_a_chain_of_folders() -> None:
    e = Engine(SCHEMA)
    e.touch(
        "folder:f0#viewer@group:g#member",
        "group:g#member@user:alice",
        *(f"folder:f{i}#parent@folder:f{i - 1}" for i in range(1, 6)),
        "document:d#parent@folder:f5",
        "document:e#parent@folder:f3",
    )
    for doc in ("document:d", "document:e"):
        assert both(e, doc, "view", "user:alice") is Permissionship.HAS_PERMISSION
        assert both(e, doc, "view", "user:bob") is Permissionship.NO_PERMISSION
    assert both(e, "folder:f4", "view", "user:alice") is Permissionship.HAS_PERMISSION


def test_a_cycle_of_folders_is_answered_as_a_least_fixpoint() -> None:
    e = Engine(SCHEMA)
    e.touch(
        "folder:a#parent@folder:b",
        "folder:b#parent@folder:c",
        "folder:c#parent@folder:a",
        "folder:c#viewer@user:carol",
        "document:d#parent@folder:a",
    )
    assert both(e, "document:d", "view", "user:carol") is Permissionship.HAS_PERMISSION
    assert both(e, "document:d", "view", "user:dave") is Permissionship.NO_PERMISSION
    assert both(e, "folder:b", "view", "user:dave") is Permissionship.NO_PERMISSION


def test_a_chain_deeper_than_the_limit_still_fails_loudly() -> None:
    e = Engine(SCHEMA, max_depth=10)
    e.touch(
        *(f"folder:f{i}#parent@folder:f{i - 1}" for i in range(1, 30)),
        "document:d#parent@folder:f29",
        "folder:elsewhere#viewer@user:nobody",  # so that the schema-level pruning cannot help
    )
    with pytest.raises(MaximumDepthExceeded):
        e.check("document:d", "view", "user:nobody")
    with pytest.raises(MaximumDepthExceeded):
        unflattened(e, "document:d", "view", "user:nobody")
    e.touch("folder:f28#viewer@user:near")  # found before the limit: answered
    assert e.check("document:d", "view", "user:near").allowed


def test_a_caveated_arrow_gives_a_conditional_answer() -> None:
    e = Engine(SCHEMA)
    e.touch(
        "folder:root#viewer@user:u",
        "folder:mid#parent@folder:root[weekday]",
        "folder:leaf#parent@folder:mid",
        "document:d#parent@folder:leaf",
    )
    assert both(e, "document:d", "view", "user:u") is Permissionship.CONDITIONAL_PERMISSION
    assert e.check("document:d", "view", "user:u", {"day": "monday"}).allowed
    assert not e.check("document:d", "view", "user:u", {"day": "sunday"}).allowed


def test_caveated_and_wildcard_viewers_are_read_from_flattened_slots() -> None:
    e = Engine(SCHEMA)
    e.touch(
        "folder:root#viewer@user:u[weekday]",
        "folder:pub#viewer@user:*",
        "folder:mid#parent@folder:root",
        "folder:mid#parent@folder:pub",
        "document:d#parent@folder:mid",
    )
    assert both(e, "document:d", "view", "user:anyone") is Permissionship.HAS_PERMISSION
    e.delete("folder:mid#parent@folder:pub")
    assert both(e, "document:d", "view", "user:u") is Permissionship.CONDITIONAL_PERMISSION
    assert both(e, "document:d", "view", "user:anyone") is Permissionship.NO_PERMISSION


def test_an_expiring_arrow_stops_granting_when_it_expires() -> None:
    now = [1_000_000.0]
    e = Engine(SCHEMA, clock=lambda: now[0])
    e.touch(
        "folder:root#viewer@user:u",
        f"folder:mid#parent@folder:root[expiration:{at(now[0] + 10)}]",
        "folder:leaf#parent@folder:mid",
        "document:d#parent@folder:leaf",
        "document:d2#parent@folder:leaf",
    )
    assert both(e, "document:d", "view", "user:u") is Permissionship.HAS_PERMISSION
    now[0] += 11
    # document:d2 is new to the checker but folder:leaf's flattened entry is not.
    assert both(e, "document:d2", "view", "user:u") is Permissionship.NO_PERMISSION
    assert both(e, "document:d", "view", "user:u") is Permissionship.NO_PERMISSION


def test_writes_reach_answers_read_from_flattened_entries() -> None:
    e = Engine(SCHEMA)
    e.touch(
        "folder:root#viewer@user:u",
        "folder:leaf#parent@folder:root",
        "document:d#parent@folder:leaf",
        "document:d2#parent@folder:leaf",
    )
    assert both(e, "document:d", "view", "user:u") is Permissionship.HAS_PERMISSION
    e.delete("folder:leaf#parent@folder:root")
    assert both(e, "document:d2", "view", "user:u") is Permissionship.NO_PERMISSION
    e.touch("folder:leaf#viewer@group:g#member", "group:g#member@user:v")
    assert both(e, "document:d", "view", "user:v") is Permissionship.HAS_PERMISSION


def test_subject_sets_are_answered_by_identity_as_before() -> None:
    e = Engine(SCHEMA)
    e.touch("folder:root#viewer@group:g#member", "document:d#parent@folder:root")
    assert e.check("document:d", "view", "group:g#member").allowed
    assert e.check("folder:root", "view", "folder:root#view").allowed


@pytest.mark.parametrize("fan_out", [300, 900])
def test_a_wide_fan_out_gives_up_flattening_and_still_answers(fan_out: int) -> None:
    e = Engine(SCHEMA)
    e.touch(
        *(f"folder:top#parent@folder:p{i}" for i in range(fan_out)),
        f"folder:p{fan_out - 1}#viewer@user:last",
        "document:d#parent@folder:top",
    )
    assert both(e, "document:d", "view", "user:last") is Permissionship.HAS_PERMISSION
    assert both(e, "document:d", "view", "user:other") is Permissionship.NO_PERMISSION


# -- the compact index ------------------------------------------------------------------------


def rel(text: str) -> Relationship:
    return Relationship.parse(text)


def test_a_small_slot_grows_into_groups_and_back_to_empty() -> None:
    index = RelationshipIndex()
    keys = [f"doc:d#viewer@user:u{i}" for i in range(12)]
    for k in keys[:3]:
        assert index.add(rel(k))
    assert isinstance(index.slot("doc", "d", "viewer"), tuple)
    for k in keys[3:]:
        assert index.add(rel(k))
    assert isinstance(index.slot("doc", "d", "viewer"), dict)  # grown past SMALL
    assert not index.add(rel(keys[0]))  # a touch of an existing key is not new
    assert len(index) == 12
    for k in keys:
        assert index.remove(rel(k))
    assert index.slot("doc", "d", "viewer") is None
    assert len(index) == 0
    assert index.resources_of_subject("user", "u0") == {}


def test_a_caveated_edge_turns_a_small_slot_into_groups_keeping_the_others() -> None:
    index = RelationshipIndex()
    index.add(rel("doc:d#viewer@user:a"))
    index.add(rel("doc:d#viewer@user:b[weekday]"))
    slot = index.slot("doc", "d", "viewer")
    assert isinstance(slot, dict)
    assert set(slot[("user", None)]) == {"a", "b"}
    edge = index.get(rel("doc:d#viewer@user:b"))
    assert edge is not None and edge.caveat == "weekday"


def test_a_slot_marks_whether_it_holds_subject_sets() -> None:
    from rebac.engine.index import SetsSlot

    index = RelationshipIndex()
    index.add(rel("doc:d#viewer@user:a"))
    assert type(index.slot("doc", "d", "viewer")) is tuple
    index.add(rel("doc:d#viewer@group:g#member"))
    assert type(index.slot("doc", "d", "viewer")) is SetsSlot
    index.remove(rel("doc:d#viewer@group:g#member"))
    assert type(index.slot("doc", "d", "viewer")) is tuple


def test_every_slot_names_one_shared_key_per_subject() -> None:
    index = RelationshipIndex()
    index.add(rel("doc:a#viewer@user:u"))
    index.add(rel("doc:b#owner@user:u"))
    a, b = index.slot("doc", "a", "viewer"), index.slot("doc", "b", "owner")
    assert isinstance(a, tuple) and isinstance(b, tuple)
    assert a[0] is b[0] is index.subject_key("user", "u", None)


def test_flattening_schema_ast_is_untouched() -> None:
    # The flat plan is derived; the schema's own expressions are what expand and the printer use.
    plan = build_plan(SCHEMA)
    member = plan.members[("folder", "view")]
    assert isinstance(getattr(member, "expr", None), ast.Union)


def test_a_folder_is_climbed_on_its_first_visit_and_flattened_on_the_next() -> None:
    """Flattening keeps an entry per ancestor: worth it for a folder that checks come back
    to, wasted on one asked about once. The first visit climbs and only marks the folder."""
    e = Engine(SCHEMA)
    e.touch(
        *(f"folder:f{i}#parent@folder:f{i - 1}" for i in range(1, 6)),
        "folder:f0#viewer@user:root",
        "document:d#parent@folder:f5",
    )
    assert e.check("document:d", "view", "user:root").allowed
    flats = e._head.learned.flats
    assert flats.entry("folder", "f5", "view") is _SEEN
    assert not any(("folder", f"f{i}", "view") in flats.entries() for i in range(5))
    e._head.checkers.clear()  # a new question about the same folder
    assert e.check("document:d", "view", "user:root").allowed
    entry = flats.entry("folder", "f5", "view")
    assert entry is not None and entry is not _SEEN and entry.depth == 5


def test_flattening_a_folder_leaves_its_ancestors_flattened_too() -> None:
    e = Engine(SCHEMA)
    e.touch(
        *(f"folder:f{i}#parent@folder:f{i - 1}" for i in range(1, 6)),
        "folder:f0#viewer@user:root",
        "document:d#parent@folder:f5",
    )
    assert both(e, "document:d", "view", "user:root") is Permissionship.HAS_PERMISSION
    flats = e._head.learned.flats
    for i in range(6):
        entry = flats.entry("folder", f"f{i}", "view")
        assert entry is not None
        assert entry.depth == i  # f_i reaches f0 through i parents
