"""Request-scoped (contextual) relationships and caveat context limits."""

from __future__ import annotations

import pytest

from rebac import Engine
from rebac.errors import InvalidField, InvalidSubjectType, LimitExceeded

SCHEMA = """
definition user {}
definition group {
    relation member: user | group#member
}
caveat on_network(allowed string, network string) { network == allowed }
definition document {
    relation viewer: user | group#member | user with on_network
    permission view = viewer
}
"""


@pytest.fixture
def engine() -> Engine:
    e = Engine(SCHEMA)
    e.touch("document:d#viewer@group:eng#member")
    return e


def test_contextual_group_claim_grants_for_that_request_only(engine: Engine) -> None:
    claim = ["group:eng#member@user:alice"]
    assert engine.check("document:d", "view", "user:alice", contextual=claim).allowed
    assert not engine.check("document:d", "view", "user:alice").allowed
    assert len(engine.read_relationships()) == 1  # nothing was stored


def test_contextual_relationships_reach_every_query(engine: Engine) -> None:
    claim = ["group:eng#member@user:alice"]
    found = engine.lookup_resources("document", "view", "user:alice", contextual=claim)
    assert [r.id for r in found] == ["d"]
    subjects = engine.lookup_subjects("document:d", "view", "user", contextual=claim)
    assert [s.id for s in subjects] == ["alice"]
    tree = engine.expand("document:d", "view", recursive=True, contextual=claim)
    assert any(str(s.subject) == "user:alice" for leaf in tree.leaves() for s in leaf.subjects)


def test_contextual_relationships_are_validated_like_writes(engine: Engine) -> None:
    with pytest.raises(InvalidField, match=r"contextual_relationships\[1\]") as info:
        engine.check(
            "document:d",
            "view",
            "user:a",
            contextual=["group:eng#member@user:a", "document:d#viewer@group:x"],
        )
    assert isinstance(info.value.__cause__, InvalidSubjectType)


def test_contextual_relationship_limit_names_the_limit(engine: Engine) -> None:
    many = [f"group:eng#member@user:u{i}" for i in range(1001)]
    with pytest.raises(LimitExceeded, match="limit 1000"):
        engine.check("document:d", "view", "user:u1", contextual=many)


def test_request_context_over_4_kib_is_refused(engine: Engine) -> None:
    with pytest.raises(LimitExceeded, match="limit of 4096"):
        engine.check("document:d", "view", "user:a", {"network": "x" * 5000})


def test_stored_context_over_25000_bytes_is_refused(engine: Engine) -> None:
    big = '{"allowed":"' + "x" * 25_100 + '"}'
    with pytest.raises(LimitExceeded, match="limit of 25000"):
        engine.touch(f"document:d#viewer@user:bob[on_network:{big}]")


def test_stored_context_wins_and_missing_context_is_conditional(engine: Engine) -> None:
    engine.touch('document:d#viewer@user:bob[on_network:{"allowed":"office"}]')
    assert engine.check("document:d", "view", "user:bob", {"network": "office"}).allowed
    result = engine.check("document:d", "view", "user:bob")
    assert result.permissionship.name == "CONDITIONAL_PERMISSION"
    assert result.missing_context == ("network",)
    spoof = {"network": "home", "allowed": "home"}
    assert not engine.check("document:d", "view", "user:bob", spoof).allowed


def test_context_size_is_measured_for_nested_and_long_values(engine: Engine) -> None:
    with pytest.raises(LimitExceeded, match="limit of 4096"):
        engine.check("document:d", "view", "user:a", {"network": {"x": "y" * 5000}})
    with pytest.raises(LimitExceeded, match="limit of 4096"):
        engine.check("document:d", "view", "user:a", {f"k{i}": i for i in range(600)})
    assert not engine.check("document:d", "view", "user:a", {"network": "lab"}).allowed
