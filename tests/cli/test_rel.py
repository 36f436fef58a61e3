"""rel write / delete / read against a live server, and the filter syntax they share."""

from __future__ import annotations

import io

import pytest

from rebac.cli._connect import CliError, format_filter, parse_filter, parse_precondition
from rebac.client import Client
from rebac.model import RelationshipFilter, SubjectFilter
from tests.cli.conftest import SCHEMA, Rebac


def stored(client: Client, filter_text: str) -> list[str]:
    return [str(r) for r in client.read_relationships(parse_filter(filter_text)).relationships]


@pytest.fixture
def schema(client: Client) -> Client:
    client.write_schema(SCHEMA)
    return client


class TestWrite:
    def test_touch_is_the_default_and_idempotent(self, rebac: Rebac, schema: Client) -> None:
        rels = ("document:d1#viewer@user:alice", "document:d1#viewer@group:eng#member")
        first = rebac("rel", "write", *rels)
        again = rebac("rel", "write", *rels)
        assert (first.code, again.code) == (0, 0)
        assert first.err == "touched 2 relationships\n"
        assert first.out == ""
        assert stored(schema, "document:d1") == [
            "document:d1#viewer@group:eng#member",
            "document:d1#viewer@user:alice",
        ]

    def test_create_fails_if_it_exists(self, rebac: Rebac, schema: Client) -> None:
        assert rebac("rel", "write", "--create", "document:d1#viewer@user:alice").code == 0
        r = rebac("rel", "write", "--create", "document:d1#viewer@user:alice")
        assert r.code == 3
        assert "already exists" in r.err

    def test_touch_and_create_are_exclusive(self, rebac: Rebac, schema: Client) -> None:
        r = rebac("rel", "write", "--touch", "--create", "document:d1#viewer@user:alice")
        assert r.code == 2  # an ordinary argparse usage error (only check reserves 2)

    def test_atomic(self, rebac: Rebac, schema: Client) -> None:
        r = rebac("rel", "write", "document:d1#viewer@user:alice", "document:d1#nope@user:bob")
        assert r.code == 3
        assert "nope" in r.err
        assert stored(schema, "document:d1") == []

    def test_caveat_and_expiration(self, rebac: Rebac, schema: Client) -> None:
        rels = (
            'document:d1#viewer@user:dave[on_weekday:{"day":"monday"}]',
            "document:d1#owner@user:ann[expiration:2999-01-01T00:00:00Z]",
        )
        assert rebac("rel", "write", *rels).code == 0
        assert sorted(stored(schema, "document:d1")) == sorted(rels)

    def test_show_token_prints_the_token_alone_on_stdout(
        self, rebac: Rebac, schema: Client
    ) -> None:
        r = rebac("rel", "write", "document:d1#viewer@user:alice", "--show-token")
        token = r.out.strip()
        assert r.out == token + "\n" and token
        assert rebac("check", "document:d1", "view", "user:alice", "--consistency", token).code == 0

    def test_preconditions(self, rebac: Rebac, schema: Client) -> None:
        # Claim ownership only if nobody owns d1 yet.
        first = rebac(
            "rel", "write", "document:d1#owner@user:bob", "--precondition", "!document:d1#owner"
        )
        second = rebac(
            "rel", "write", "document:d1#owner@user:eve", "--precondition", "!document:d1#owner"
        )
        assert (first.code, second.code) == (0, 3)
        assert "precondition" in second.err.lower()
        # Grant a viewer only if bob owns it.
        ok = rebac(
            "rel",
            "write",
            "document:d1#viewer@user:amy",
            "--precondition",
            "document:d1#owner@user:bob",
        )
        no = rebac(
            "rel",
            "write",
            "document:d1#viewer@user:ian",
            "--precondition",
            "document:d1#owner@user:eve",
        )
        assert (ok.code, no.code) == (0, 3)
        assert stored(schema, "document:d1") == [
            "document:d1#owner@user:bob",
            "document:d1#viewer@user:amy",
        ]

    def test_metadata(self, rebac: Rebac, schema: Client) -> None:
        r = rebac("rel", "write", "document:d1#viewer@user:a", "--metadata", '{"by": "test"}')
        assert r.code == 0
        bad = rebac("rel", "write", "document:d1#viewer@user:a", "--metadata", "[]")
        assert bad.code == 3

    def test_bad_text_exits_3_before_sending(self, rebac: Rebac, schema: Client) -> None:
        r = rebac("rel", "write", "document:d1#viewer@user:alice", "garbage")
        assert r.code == 3
        assert "garbage" in r.err
        assert stored(schema, "document:d1") == []

    def test_stdin(self, rebac: Rebac, schema: Client, monkeypatch: pytest.MonkeyPatch) -> None:
        text = "# a comment\ndocument:d1#viewer@user:a\n\ndocument:d2#viewer@user:b\n"
        monkeypatch.setattr("sys.stdin", io.StringIO(text))
        assert rebac("rel", "write", "-").code == 0
        assert stored(schema, "document") == [
            "document:d1#viewer@user:a",
            "document:d2#viewer@user:b",
        ]

    def test_stdin_error_names_the_line(
        self, rebac: Rebac, schema: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("sys.stdin", io.StringIO("document:d1#viewer@user:a\noops\n"))
        r = rebac("rel", "write", "-")
        assert r.code == 3 and "stdin:2" in r.err


class TestDelete:
    @pytest.fixture
    def data(self, schema: Client) -> Client:
        schema.touch(
            "document:d1#viewer@user:a",
            "document:d1#viewer@user:b",
            "document:d1#owner@user:a",
            "document:d2#viewer@user:a",
        )
        return schema

    def test_delete_exact(self, rebac: Rebac, data: Client) -> None:
        r = rebac("rel", "delete", "document:d1#viewer@user:a", "document:d9#viewer@user:z")
        assert r.code == 0
        assert stored(data, "document:d1#viewer") == ["document:d1#viewer@user:b"]

    def test_delete_by_filter(self, rebac: Rebac, data: Client) -> None:
        r = rebac("rel", "delete", "--filter", "document:d1#viewer")
        assert (r.code, r.err) == (0, "deleted 2 relationships\n")
        assert stored(data, "document") == [
            "document:d1#owner@user:a",
            "document:d2#viewer@user:a",
        ]

    def test_delete_by_subject_filter(self, rebac: Rebac, data: Client) -> None:
        assert rebac("rel", "delete", "--filter", "document@user:a").code == 0
        assert stored(data, "document") == ["document:d1#viewer@user:b"]

    def test_delete_with_limit(self, rebac: Rebac, data: Client) -> None:
        refused = rebac("rel", "delete", "--filter", "document", "--limit", "1")
        assert refused.code == 3
        partial = rebac("rel", "delete", "--filter", "document", "--limit", "1", "--allow-partial")
        assert partial.code == 0 and "more match" in partial.err
        assert len(stored(data, "document")) == 3

    def test_delete_with_precondition(self, rebac: Rebac, data: Client) -> None:
        r = rebac("rel", "delete", "--filter", "document:d2", "--precondition", "document:d2#owner")
        assert r.code == 3
        assert stored(data, "document:d2") == ["document:d2#viewer@user:a"]

    @pytest.mark.parametrize(
        "argv",
        [
            (),
            ("document:d1#viewer@user:a", "--filter", "document"),
            ("document:d1#viewer@user:a", "--limit", "1"),
            ("--filter", ""),
        ],
    )
    def test_usage(self, rebac: Rebac, data: Client, argv: tuple[str, ...]) -> None:
        r = rebac("rel", "delete", *argv)
        assert r.code == 3
        assert len(stored(data, "document")) == 4


class TestRead:
    @pytest.fixture
    def data(self, schema: Client) -> Client:
        schema.touch(
            "document:team-a#viewer@user:a",
            "document:team-b#viewer@group:eng#member",
            "document:other#owner@user:a",
            "group:eng#member@user:a",
        )
        return schema

    @pytest.mark.parametrize(
        ("filter_text", "expected"),
        [
            (
                "document",
                [
                    "document:other#owner@user:a",
                    "document:team-a#viewer@user:a",
                    "document:team-b#viewer@group:eng#member",
                ],
            ),
            (
                "document:team-*",
                ["document:team-a#viewer@user:a", "document:team-b#viewer@group:eng#member"],
            ),
            ("document#owner", ["document:other#owner@user:a"]),
            ("document@group:eng#member", ["document:team-b#viewer@group:eng#member"]),
            ("document@user", ["document:other#owner@user:a", "document:team-a#viewer@user:a"]),
            ("group:eng", ["group:eng#member@user:a"]),
        ],
    )
    def test_filters(
        self, rebac: Rebac, data: Client, filter_text: str, expected: list[str]
    ) -> None:
        r = rebac("rel", "read", filter_text)
        assert (r.code, r.lines) == (0, expected)

    def test_limit(self, rebac: Rebac, data: Client) -> None:
        assert len(rebac("rel", "read", "document", "--limit", "2").lines) == 2

    def test_read_output_feeds_delete(
        self, rebac: Rebac, data: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        listed = rebac("rel", "read", "document:team-*")
        monkeypatch.setattr("sys.stdin", io.StringIO(listed.out))
        assert rebac("rel", "delete", "-").code == 0
        assert stored(data, "document") == ["document:other#owner@user:a"]

    def test_bad_filter_names_are_reported(self, rebac: Rebac, data: Client) -> None:
        r = rebac("rel", "read", "Document")
        assert r.code == 3 and "Document" in r.err


class TestFilterSyntax:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("document", RelationshipFilter("document")),
            ("document:d1", RelationshipFilter("document", "d1")),
            ("document:d*", RelationshipFilter("document", resource_id_prefix="d")),
            ("document:d1#viewer", RelationshipFilter("document", "d1", relation="viewer")),
            ("#viewer", RelationshipFilter(relation="viewer")),
            ("@user:alice", RelationshipFilter(subject=SubjectFilter("user", "alice"))),
            (
                "document@group:eng#member",
                RelationshipFilter("document", subject=SubjectFilter("group", "eng", "member")),
            ),
            ("document@user:*", RelationshipFilter("document", subject=SubjectFilter("user", "*"))),
            (
                "document@user#...",
                RelationshipFilter("document", subject=SubjectFilter("user", None, "...")),
            ),
        ],
    )
    def test_parse_and_format(self, text: str, expected: RelationshipFilter) -> None:
        assert parse_filter(text) == expected
        assert parse_filter(format_filter(expected)) == expected

    @pytest.mark.parametrize(
        "text", ["", "document:", "document#", "document@", "@:x", "document@user:"]
    )
    def test_malformed(self, text: str) -> None:
        with pytest.raises(CliError):
            parse_filter(text)

    def test_preconditions(self) -> None:
        assert parse_precondition("document:d1").must_match
        negated = parse_precondition("!document:d1#owner")
        assert not negated.must_match
        assert negated.filter == RelationshipFilter("document", "d1", relation="owner")
