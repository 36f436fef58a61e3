"""Expected relations (the ``validation`` section) against recursive expansions."""

from __future__ import annotations

from rebac.engine import Engine
from rebac.validation import expected_from_tree, parse_expected_relation
from rebac.validation.expected import compare_expected


def _lines(schema: str, relationships: list[str], resource: str, permission: str) -> list[str]:
    engine = Engine(schema)
    engine.touch(*relationships)
    return [str(e) for e in expected_from_tree(engine.expand(resource, permission, recursive=True))]


GROUPS = """
definition user {}
definition group { relation member: user | group#member }
definition document {
  relation viewer: user | user:* | group#member
  relation editor: user
  relation banned: user | user:*
  permission view = viewer + editor
  permission both = viewer & editor
  permission allowed = viewer - banned
}
"""


def test_subjects_list_every_relation_that_holds_them_directly() -> None:
    lines = _lines(
        GROUPS,
        [
            "document:d#viewer@user:tom",
            "document:d#editor@user:tom",
            "document:d#viewer@group:eng#member",
            "group:eng#member@user:sarah",
        ],
        "document:d",
        "view",
    )
    assert lines == [
        "[group:eng#member] is <document:d#viewer>",
        "[user:sarah] is <group:eng#member>",
        "[user:tom] is <document:d#editor>/<document:d#viewer>",
    ]


def test_intersection_keeps_only_subjects_on_both_sides() -> None:
    lines = _lines(
        GROUPS,
        ["document:d#viewer@user:tom", "document:d#viewer@user:ann", "document:d#editor@user:tom"],
        "document:d",
        "both",
    )
    assert lines == ["[user:tom] is <document:d#editor>/<document:d#viewer>"]


def test_wildcard_minus_subjects_lists_the_exclusions() -> None:
    lines = _lines(
        GROUPS,
        ["document:d#viewer@user:*", "document:d#banned@user:bad"],
        "document:d",
        "allowed",
    )
    assert lines == ["[user:* - {user:bad}] is <document:d#viewer>"]


def test_subtracting_a_wildcard_removes_explicit_subjects_too() -> None:
    lines = _lines(
        GROUPS,
        ["document:d#viewer@user:tom", "document:d#banned@user:*"],
        "document:d",
        "allowed",
    )
    assert lines == []


def test_caveat_on_a_subject_set_marks_everything_behind_it() -> None:
    schema = """
    definition user {}
    caveat only_if(flag bool) { flag }
    definition group { relation member: user }
    definition document { relation viewer: group#member with only_if | user }
    """
    lines = _lines(
        schema,
        ["document:d#viewer@group:eng#member[only_if]", "group:eng#member@user:ann"],
        "document:d",
        "viewer",
    )
    assert lines == [
        "[group:eng#member[...]] is <document:d#viewer>",
        "[user:ann[...]] is <group:eng#member>",
    ]


def test_comparison_reports_missing_extra_and_different_subjects() -> None:
    expected = [
        parse_expected_relation("[user:tom] is <document:d#viewer>"),
        parse_expected_relation("[user:ann] is <document:d#viewer>"),
    ]
    actual = [
        parse_expected_relation("[user:tom] is <document:d#editor>"),
        parse_expected_relation("[user:bob] is <document:d#viewer>"),
    ]
    assert compare_expected(expected, actual) == [
        "expected subject user:ann is not reachable (listed as [user:ann] is <document:d#viewer>)",
        "subject user:bob is reachable but not listed: [user:bob] is <document:d#viewer>",
        "subject user:tom: expected [user:tom] is <document:d#viewer>, "
        "found [user:tom] is <document:d#editor>",
    ]


def test_ellipsis_and_order_of_resources_do_not_matter() -> None:
    a = parse_expected_relation("[user:tom#...] is <document:d#viewer>/<document:d#editor>")
    b = parse_expected_relation("  [user:tom] is <document:d#editor>/<document:d#viewer>  ")
    assert compare_expected([a], [b]) == []
