"""check (exit codes), expand (tree output) and the two lookups, against a live server."""

from __future__ import annotations

import pytest

from rebac.client import Client
from tests.cli.conftest import Rebac


@pytest.mark.usefixtures("loaded")
class TestCheck:
    def test_allowed_exits_0(self, rebac: Rebac) -> None:
        r = rebac("check", "document:readme", "view", "user:alice")
        assert (r.code, r.out, r.err) == (0, "allowed\n", "")

    def test_denied_exits_1(self, rebac: Rebac) -> None:
        # bob is a member of eng (a viewer) but banned: the exclusion wins.
        r = rebac("check", "document:readme", "view", "user:bob")
        assert (r.code, r.out) == (1, "denied\n")

    def test_conditional_exits_2_and_names_the_missing_context(self, rebac: Rebac) -> None:
        r = rebac("check", "document:weekday", "view", "user:dave")
        assert (r.code, r.out) == (2, "conditional: missing context day\n")

    def test_context_makes_it_definite(self, rebac: Rebac) -> None:
        monday = rebac(
            "check", "document:weekday", "view", "user:dave", "--context", '{"day": "monday"}'
        )
        sunday = rebac(
            "check", "document:weekday", "view", "user:dave", "--context", '{"day": "sunday"}'
        )
        assert (monday.code, sunday.code) == (0, 1)

    def test_subject_set(self, rebac: Rebac) -> None:
        r = rebac("check", "document:readme", "view", "group:eng#member")
        assert r.code == 0

    @pytest.mark.parametrize(
        "argv",
        [
            ("document:readme", "viewz", "user:alice"),  # unknown permission (server)
            ("document:nope-type:x", "view", "user:alice"),  # malformed reference
            ("unknown:x", "view", "user:alice"),  # unknown definition
        ],
    )
    def test_request_errors_exit_3_with_one_line(self, rebac: Rebac, argv: tuple[str, ...]) -> None:
        r = rebac("check", *argv)
        assert r.code == 3
        assert r.out == ""
        assert len(r.err.strip().splitlines()) == 1
        assert r.err.startswith("rebac check: ")
        assert "Traceback" not in r.err

    def test_unknown_permission_message_comes_from_the_server(self, rebac: Rebac) -> None:
        r = rebac("check", "document:readme", "viewz", "user:alice")
        assert "viewz" in r.err and "document" in r.err

    @pytest.mark.parametrize(
        "extra",
        [
            ("--context", "not json"),
            ("--context", "[1, 2]"),
            ("--consistency", "exact:"),
        ],
    )
    def test_bad_flag_values_exit_3(self, rebac: Rebac, extra: tuple[str, ...]) -> None:
        r = rebac("check", "document:readme", "view", "user:alice", *extra)
        assert r.code == 3
        assert "Traceback" not in r.err

    @pytest.mark.parametrize(
        "argv",
        [
            ("document:readme", "view"),  # missing SUBJECT
            ("document:readme", "view", "user:alice", "--bogus"),  # unknown flag
            ("document:readme", "view", "user:alice", "extra"),  # extra positional
        ],
    )
    def test_usage_errors_exit_3_not_2(self, rebac: Rebac, argv: tuple[str, ...]) -> None:
        # 2 means "conditional" for check; a typo must never look like an answer.
        r = rebac("check", *argv)
        assert r.code == 3
        assert "usage: rebac check" in r.err

    def test_show_token_goes_to_stderr_and_is_usable(self, rebac: Rebac) -> None:
        r = rebac("check", "document:readme", "view", "user:alice", "--show-token")
        assert r.out == "allowed\n"
        assert r.err.startswith("token: ")
        token = r.err.removeprefix("token: ").strip()
        again = rebac("check", "document:readme", "view", "user:alice", "--consistency", token)
        exact = rebac(
            "check", "document:readme", "view", "user:alice", "--consistency", f"exact:{token}"
        )
        assert (again.code, exact.code) == (0, 0)

    @pytest.mark.parametrize("mode", ["full", "min"])
    def test_consistency_modes(self, rebac: Rebac, mode: str) -> None:
        r = rebac("check", "document:readme", "edit", "user:carol", "--consistency", mode)
        assert r.code == 0

    def test_reads_its_own_writes_by_default(self, rebac: Rebac) -> None:
        # The CLI's default is full consistency: a check right after a write sees it.
        assert rebac("rel", "write", "document:new#owner@user:zoe").code == 0
        assert rebac("check", "document:new", "edit", "user:zoe").code == 0

    def test_other_store(self, rebac: Rebac, client: Client) -> None:
        client.create_store("other")
        r = rebac("check", "document:readme", "view", "user:alice", "--store", "other")
        assert r.code == 3  # no schema in the other store
        missing = rebac("check", "document:readme", "view", "user:alice", "--store", "missing")
        assert missing.code == 3
        assert "missing" in missing.err


@pytest.mark.usefixtures("loaded")
class TestExpand:
    def test_tree(self, rebac: Rebac) -> None:
        r = rebac("expand", "document:readme", "view")
        assert r.code == 0
        assert r.out == (
            "exclusion document:readme#view\n"
            "├── union\n"
            "│   ├── document:readme#viewer\n"
            "│   │   └── group:eng#member\n"
            "│   └── document:readme#owner\n"
            "│       └── user:carol\n"
            "└── document:readme#banned\n"
            "    └── user:bob\n"
        )

    def test_recursive_expands_subject_sets(self, rebac: Rebac) -> None:
        r = rebac("expand", "document:readme", "view", "--recursive", "--ascii")
        assert r.code == 0
        assert r.out == (
            "exclusion document:readme#view\n"
            "|-- union\n"
            "|   |-- union document:readme#viewer\n"
            "|   |   |-- document:readme#viewer\n"
            "|   |   |   `-- group:eng#member\n"
            "|   |   `-- group:eng#member\n"
            "|   |       |-- user:alice\n"
            "|   |       `-- user:bob\n"
            "|   `-- document:readme#owner\n"
            "|       `-- user:carol\n"
            "`-- document:readme#banned\n"
            "    `-- user:bob\n"
        )

    def test_caveats_wildcards_and_empty_leaves(self, rebac: Rebac) -> None:
        weekday = rebac("expand", "document:weekday", "viewer")
        assert weekday.out == "document:weekday#viewer\n└── user:dave[on_weekday]\n"
        public = rebac("expand", "document:public", "edit")
        assert public.out == "document:public#owner (empty)\n"
        wildcard = rebac("expand", "document:public", "viewer")
        assert wildcard.out == "document:public#viewer\n└── user:*\n"

    def test_expiring_subject(self, rebac: Rebac) -> None:
        rebac("rel", "write", "document:tmp#owner@user:ann[expiration:2999-01-02T03:04:05Z]")
        r = rebac("expand", "document:tmp", "owner")
        assert r.out == "document:tmp#owner\n└── user:ann[expiration:2999-01-02T03:04:05Z]\n"

    def test_unknown_permission_exits_3(self, rebac: Rebac) -> None:
        r = rebac("expand", "document:readme", "nope")
        assert r.code == 3 and "nope" in r.err


@pytest.mark.usefixtures("loaded")
class TestLookups:
    def test_lookup_resources(self, rebac: Rebac) -> None:
        r = rebac("lookup-resources", "document", "view", "user:alice")
        assert (r.code, r.lines) == (0, ["public", "readme"])

    def test_lookup_resources_conditional(self, rebac: Rebac) -> None:
        r = rebac("lookup-resources", "document", "view", "user:dave")
        assert r.lines == ["public", "weekday (conditional: missing day)"]
        monday = rebac(
            "lookup-resources", "document", "view", "user:dave", "--context", '{"day":"monday"}'
        )
        assert monday.lines == ["public", "weekday"]

    def test_lookup_resources_limit(self, rebac: Rebac) -> None:
        r = rebac("lookup-resources", "document", "view", "user:alice", "--limit", "1")
        assert r.lines == ["public"]

    def test_lookup_subjects(self, rebac: Rebac) -> None:
        r = rebac("lookup-subjects", "document:readme", "view", "user")
        assert (r.code, r.lines) == (0, ["alice", "carol"])

    def test_wildcard_with_exclusions(self, rebac: Rebac) -> None:
        rebac("rel", "write", "document:public#banned@user:frank")
        r = rebac("lookup-subjects", "document:public", "view", "user")
        assert r.lines == ["* - [erin, frank]"]
        none = rebac("lookup-subjects", "document:public", "view", "user", "--no-wildcards")
        assert none.lines == []

    def test_subject_relation(self, rebac: Rebac) -> None:
        r = rebac("lookup-subjects", "document:readme", "view", "group#member")
        assert r.lines == ["eng"]

    def test_show_token(self, rebac: Rebac) -> None:
        r = rebac("lookup-subjects", "document:readme", "view", "user", "--show-token")
        assert r.err.startswith("token: ")

    def test_negative_limit(self, rebac: Rebac) -> None:
        r = rebac("lookup-resources", "document", "view", "user:alice", "--limit", "-1")
        assert r.code == 3
