"""Results shared across checks of one subject: never stale, never across contexts."""

from __future__ import annotations

from datetime import UTC, datetime

from rebac import Engine, Permissionship

SCHEMA = """
use expiration

definition user {}
caveat weekday(day string) { day != "sunday" }
definition folder {
    relation parent: folder
    relation viewer: user | user with expiration | user with weekday
    permission view = viewer + parent->view
}
definition document {
    relation parent: folder
    permission view = parent->view
}
"""


def at(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def test_a_shared_result_expires_with_the_relationship_it_relied_on() -> None:
    now = [1_000_000.0]
    e = Engine(SCHEMA, clock=lambda: now[0])
    e.touch(
        "folder:root#viewer@user:u[expiration:" + at(now[0] + 10) + "]",
        "folder:sub#parent@folder:root",
        "document:a#parent@folder:sub",
        "document:b#parent@folder:sub",
    )
    assert e.check("document:a", "view", "user:u").allowed
    assert e.check("document:b", "view", "user:u").allowed  # answered from shared results
    now[0] += 11
    assert not e.check("document:a", "view", "user:u").allowed
    assert not e.check("document:b", "view", "user:u").allowed


def test_a_write_invalidates_shared_results() -> None:
    e = Engine(SCHEMA)
    e.touch("folder:root#viewer@user:u", "document:a#parent@folder:root")
    assert e.check("document:a", "view", "user:u").allowed
    e.delete("folder:root#viewer@user:u")
    assert not e.check("document:a", "view", "user:u").allowed


def test_results_under_a_caveat_context_are_not_shared() -> None:
    e = Engine(SCHEMA)
    e.touch("folder:root#viewer@user:u[weekday]", "document:a#parent@folder:root")
    plain = e.check("document:a", "view", "user:u")
    assert plain.permissionship is Permissionship.CONDITIONAL_PERMISSION
    assert e.check("document:a", "view", "user:u", {"day": "monday"}).allowed
    assert not e.check("document:a", "view", "user:u", {"day": "sunday"}).allowed
    again = e.check("document:a", "view", "user:u")
    assert again.permissionship is Permissionship.CONDITIONAL_PERMISSION


def test_contextual_relationships_do_not_leak_into_shared_results() -> None:
    e = Engine(SCHEMA)
    e.touch("document:a#parent@folder:root")
    assert e.check("document:a", "view", "user:u", contextual=["folder:root#viewer@user:u"]).allowed
    assert not e.check("document:a", "view", "user:u").allowed
