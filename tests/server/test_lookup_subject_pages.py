"""LookupSubjects pages of a big answer over gRPC: kept per revision and sliced, with cursors and
limits exactly as before (see tests/engine/test_lookup_pages.py for the engine's side)."""

from __future__ import annotations

import pytest

from rebac.client import Client, LookupPage
from rebac.engine.lookup import PAGED_MIN_ITEMS
from rebac.errors import InvalidCursor
from tests.server.conftest import SCHEMA

N = PAGED_MIN_ITEMS * 2


def _load(client: Client) -> None:
    client.write_schema(SCHEMA)
    client.import_relationships(
        [
            [f"document:big#viewer@user:u{i:04d}" for i in range(N)],
            ["document:big#viewer@user:*", "document:big#banned@user:u0007"],
        ]
    )


def _pages(client: Client, limit: int, **kw: object) -> list[LookupPage]:
    pages: list[LookupPage] = []
    cursor: str | None = None
    while True:
        page = client.lookup_subjects(
            "document:big",
            "view",
            "user",
            limit=limit,
            cursor=cursor,
            **kw,  # type: ignore[arg-type]
        )
        pages.append(page)
        if page.complete:
            return pages
        cursor = page.cursor
        assert cursor is not None


@pytest.mark.parametrize("limit", [1, 100, N - 1, N, N + 1])
def test_pages_concatenate_to_the_whole_answer(client: Client, limit: int) -> None:
    _load(client)
    whole = client.lookup_subjects("document:big", "view", "user")
    assert whole.complete and whole.ids[0] == "*" and len(whole.ids) == N
    pages = _pages(client, limit)
    assert [i for p in pages for i in p.ids] == whole.ids
    assert [r for p in pages for r in p.results] == whole.results
    assert all(len(p.ids) == limit for p in pages[:-1])
    assert all(not p.complete for p in pages[:-1]) and pages[-1].complete
    assert {p.token for p in pages} == {pages[0].token}


def test_a_write_between_pages_keeps_the_cursors_revision(client: Client) -> None:
    _load(client)
    whole = client.lookup_subjects("document:big", "view", "user")
    first = client.lookup_subjects("document:big", "view", "user", limit=50)
    client.touch("document:big#viewer@user:u0100x", "document:big#banned@user:u0200")
    rest: list[str] = []
    cursor = first.cursor
    while cursor is not None:
        page = client.lookup_subjects("document:big", "view", "user", limit=50, cursor=cursor)
        assert page.token == first.token
        rest.extend(page.ids)
        cursor = None if page.complete else page.cursor
    assert first.ids + rest == whole.ids
    now = client.lookup_subjects("document:big", "view", "user", limit=N + 10)
    assert "u0100x" in now.ids and "u0200" not in now.ids


def test_a_cursor_is_refused_for_another_query(client: Client) -> None:
    _load(client)
    first = client.lookup_subjects("document:big", "view", "user", limit=10)
    with pytest.raises(InvalidCursor):
        client.lookup_subjects(
            "document:big", "view", "user", limit=10, cursor=first.cursor, include_wildcards=False
        )
    with pytest.raises(InvalidCursor):
        client.lookup_subjects(
            "document:big", "view", "user", context={"day": "monday"}, limit=10, cursor=first.cursor
        )
