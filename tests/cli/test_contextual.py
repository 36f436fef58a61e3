"""``--contextual REL`` on check, expand and the lookups, against a live server.

The data is tests/cli/conftest.py's: eng (alice, bob) views readme, bob is banned from it,
dave views weekday on weekdays; zoe appears nowhere, so whatever she gets comes from
``--contextual``.
"""

from __future__ import annotations

import pytest

from tests.cli.conftest import Rebac

CLAIM = "group:eng#member@user:zoe"


@pytest.mark.usefixtures("loaded")
class TestCheck:
    def test_a_contextual_claim_grants_for_that_call_only(self, rebac: Rebac) -> None:
        with_claim = rebac("check", "document:readme", "view", "user:zoe", "--contextual", CLAIM)
        assert (with_claim.code, with_claim.out) == (0, "allowed\n")
        without = rebac("check", "document:readme", "view", "user:zoe")
        assert (without.code, without.out) == (1, "denied\n")

    def test_the_flag_repeats(self, rebac: Rebac) -> None:
        # Two claims that only together reach the document: zoe in ops, ops inside eng.
        r = rebac(
            "check",
            "document:readme",
            "view",
            "user:zoe",
            "--contextual",
            "group:ops#member@user:zoe",
            "--contextual",
            "group:eng#member@group:ops#member",
        )
        assert r.code == 0, r.err

    def test_a_caveated_one_is_conditional_until_the_context_decides(self, rebac: Rebac) -> None:
        rel = "document:readme#viewer@user:zoe[on_weekday]"
        r = rebac("check", "document:readme", "view", "user:zoe", "--contextual", rel)
        assert (r.code, r.out) == (2, "conditional: missing context day\n")
        monday = rebac(
            "check",
            "document:readme",
            "view",
            "user:zoe",
            "--contextual",
            rel,
            "--context",
            '{"day": "monday"}',
        )
        assert monday.code == 0

    def test_a_malformed_one_exits_3_naming_the_flag(self, rebac: Rebac) -> None:
        r = rebac("check", "document:readme", "view", "user:zoe", "--contextual", "not a rel")
        assert r.code == 3 and r.out == ""
        assert r.err.startswith("rebac check: --contextual 'not a rel': ")
        assert len(r.err.strip().splitlines()) == 1

    def test_a_malformed_one_among_several_says_which(self, rebac: Rebac) -> None:
        r = rebac(
            "check",
            "document:readme",
            "view",
            "user:zoe",
            "--contextual",
            CLAIM,
            "--contextual",
            "oops",
        )
        assert r.code == 3
        assert "--contextual 'oops' (the 2nd one)" in r.err

    def test_one_the_schema_refuses_exits_3_with_the_servers_message(self, rebac: Rebac) -> None:
        r = rebac(
            "check",
            "document:readme",
            "view",
            "user:zoe",
            "--contextual",
            CLAIM,
            "--contextual",
            "group:eng#member@document:readme",
        )
        assert r.code == 3 and r.out == ""
        assert "contextual_relationships[1]" in r.err and "not allowed" in r.err
        assert "Traceback" not in r.err

    def test_help_mentions_it(self, rebac: Rebac) -> None:
        r = rebac("check", "--help")
        assert "--contextual REL" in r.out


@pytest.mark.usefixtures("loaded")
def test_expand_shows_the_contextual_subject(rebac: Rebac) -> None:
    r = rebac("expand", "group:eng", "member", "--ascii", "--contextual", CLAIM)
    assert r.code == 0, r.err
    assert "user:zoe" in r.out
    assert "user:zoe" not in rebac("expand", "group:eng", "member", "--ascii").out


@pytest.mark.usefixtures("loaded")
def test_lookup_resources_with_contextual(rebac: Rebac) -> None:
    r = rebac("lookup-resources", "document", "view", "user:zoe", "--contextual", CLAIM)
    assert (r.code, r.lines) == (0, ["public", "readme"])
    caveated = rebac(
        "lookup-resources",
        "document",
        "view",
        "user:zoe",
        "--contextual",
        "document:readme#viewer@user:zoe[on_weekday]",
    )
    assert caveated.lines == ["public", "readme (conditional: missing day)"]


@pytest.mark.usefixtures("loaded")
def test_lookup_subjects_with_contextual(rebac: Rebac) -> None:
    r = rebac("lookup-subjects", "document:readme", "view", "user", "--contextual", CLAIM)
    assert r.code == 0, r.err
    assert "zoe" in r.lines
    assert "zoe" not in rebac("lookup-subjects", "document:readme", "view", "user").lines


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize(
    "argv",
    [
        ("expand", "document:readme", "view"),
        ("lookup-resources", "document", "view", "user:zoe"),
        ("lookup-subjects", "document:readme", "view", "user"),
    ],
)
def test_every_query_refuses_a_bad_one_with_exit_3(rebac: Rebac, argv: tuple[str, ...]) -> None:
    r = rebac(*argv, "--contextual", "group:eng#nope@user:zoe")
    assert r.code == 3 and r.out == ""
    assert "contextual_relationships[0]" in r.err
