"""Membership in nested groups, answered from the closures of the groups a subject is in."""

from __future__ import annotations

from datetime import UTC, datetime

from rebac import Engine

SCHEMA = """
use expiration

definition user {}
definition group {
    relation member: user | user:* | group#member | user with expiration
}
definition document {
    relation viewer: user | group#member
    permission view = viewer
}
"""


def at(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def test_a_hundred_levels_of_nesting_cost_no_dispatch_depth() -> None:
    e = Engine(SCHEMA)
    e.touch(
        *(f"group:g{i}#member@group:g{i + 1}#member" for i in range(100)),
        "group:g100#member@user:deep",
        "document:d#viewer@group:g0#member",
    )
    for _ in range(3):  # the closures are reused by the later questions
        assert e.check("document:d", "view", "user:deep").allowed
        assert not e.check("document:d", "view", "user:stranger").allowed


def test_walks_and_memberships_agree_on_every_group_of_a_tree() -> None:
    e = Engine(SCHEMA)
    e.touch(
        "group:root#member@group:left#member",
        "group:root#member@group:right#member",
        "group:left#member@group:leaf#member",
        "group:leaf#member@user:ann",
        "group:right#member@user:*",
        *(f"document:{g}#viewer@group:{g}#member" for g in ("root", "left", "right", "leaf")),
    )
    expected = {"root": True, "left": True, "right": True, "leaf": True}
    for _ in range(3):
        for g, allowed in expected.items():
            assert e.check(f"document:{g}", "view", "user:ann").allowed is allowed
    for g in ("root", "right"):
        assert e.check(f"document:{g}", "view", "user:bob").allowed  # through user:*
    assert not e.check("document:leaf", "view", "user:bob").allowed


def test_an_expired_membership_leaves_the_closures() -> None:
    now = [1_000_000.0]
    e = Engine(SCHEMA, clock=lambda: now[0])
    e.touch(
        "group:outer#member@group:inner#member",
        f"group:inner#member@user:temp[expiration:{at(now[0] + 10)}]",
        "document:d#viewer@group:outer#member",
    )
    assert e.check("document:d", "view", "user:temp").allowed
    now[0] += 11
    assert not e.check("document:d", "view", "user:temp").allowed


def test_a_subject_in_many_groups_is_answered_through_each_of_them() -> None:
    e = Engine(SCHEMA)
    e.touch(
        *(f"group:g{i}#member@user:busy" for i in range(40)),
        "group:outer#member@group:g39#member",
        "document:near#viewer@group:g0#member",
        "document:far#viewer@group:outer#member",
        "document:none#viewer@group:other#member",
    )
    for _ in range(2):
        assert e.check("document:near", "view", "user:busy").allowed
        assert e.check("document:far", "view", "user:busy").allowed
        assert not e.check("document:none", "view", "user:busy").allowed
