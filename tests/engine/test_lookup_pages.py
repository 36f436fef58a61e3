"""Paged lookup-subjects: a big answer is computed once per revision and its pages are slices.

Pages concatenate to the whole answer; a page is exactly the whole answer after the cursor's id,
cut to the limit; a pinned revision keeps its answer across writes at the head; a write at the
head, an expiry, a caveat context and contextual relationships are never answered from what was
kept (rebac.engine.lookup.PagedAnswers).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rebac import Engine
from rebac.engine.lookup import PAGED_MIN_ITEMS, PagedAnswers
from rebac.model import LookupResult, Permissionship
from rebac.revision import Consistency

SCHEMA = """
use expiration

definition user {}

definition group {
    relation member: user | group#member
}

caveat on_weekday(day string) {
    day != "saturday" && day != "sunday"
}

definition document {
    relation viewer: user | user:* | group#member | user with on_weekday | user with expiration
    relation banned: user
    permission view = viewer - banned
}
"""

N = 600  # comfortably above PAGED_MIN_ITEMS
DOC = "document:big"


def at(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _big(engine: Engine, n: int = N) -> None:
    half = n // 2
    engine.touch(
        *[f"{DOC}#viewer@user:u{i:04d}" for i in range(half)],
        *[f"group:eng#member@user:u{i:04d}" for i in range(half, n)],
        f"{DOC}#viewer@group:eng#member",
        f"{DOC}#viewer@user:*",
        f"{DOC}#banned@user:u0003",
        f"{DOC}#banned@user:zz-outsider",
        f"{DOC}#viewer@user:c-weekday[on_weekday]",
    )


def _answers(engine: Engine) -> PagedAnswers:
    return engine._head.learned.lookups


def _walk(
    engine: Engine, limit: int, *, include_wildcards: bool = True, pinned: bool = False
) -> list[LookupResult]:
    """Every page, each from its own snapshot (as the server does), after the last id."""
    first = engine.snapshot()
    token = first.token
    out: list[LookupResult] = []
    after: str | None = None
    snapshot = first
    while True:
        page = snapshot.lookup_subjects(
            DOC, "view", "user", include_wildcards=include_wildcards, limit=limit, after=after
        )
        out.extend(page)
        if len(page) < limit:
            return out
        after = page[-1].id
        snapshot = (
            engine.snapshot(Consistency.at_exact_snapshot(token)) if pinned else engine.snapshot()
        )


def test_the_answer_is_big_enough_to_be_kept() -> None:
    assert N > PAGED_MIN_ITEMS


@pytest.mark.parametrize("limit", [1, 7, 256, 599, 600, 601, 1000])
@pytest.mark.parametrize("include_wildcards", [True, False])
def test_pages_concatenate_to_the_whole_answer(limit: int, include_wildcards: bool) -> None:
    e = Engine(SCHEMA)
    _big(e)
    whole = e.lookup_subjects(DOC, "view", "user", include_wildcards=include_wildcards)
    assert _walk(e, limit, include_wildcards=include_wildcards) == whole
    if limit <= len(whole):  # the first page was full: the others came from the kept answer
        assert _answers(e).hits > 0


def test_the_whole_answer_has_the_wildcard_first_with_its_exclusions_and_conditions() -> None:
    e = Engine(SCHEMA)
    _big(e)
    whole = e.lookup_subjects(DOC, "view", "user")
    wild = whole[0]
    assert wild.id == "*"
    assert [x.id for x in wild.excluded] == ["u0003", "zz-outsider"]
    ids = [x.id for x in whole[1:]]
    assert ids == sorted(ids) and "u0003" not in ids and len(ids) == N
    weekday = next(x for x in whole if x.id == "c-weekday")
    assert weekday.permissionship is Permissionship.CONDITIONAL_PERMISSION
    assert weekday.missing_context == ("day",)


@pytest.mark.parametrize("limit", [None, -1, 0, 1, 5, 1000])
@pytest.mark.parametrize(
    "after", [None, "", "*", "+", "c-weekday", "u0003", "u0300x", "u0599", "~"]
)
def test_a_page_is_the_whole_answer_after_the_cursor_cut_to_the_limit(
    limit: int | None, after: str | None
) -> None:
    e = Engine(SCHEMA)
    _big(e)
    whole = e.lookup_subjects(DOC, "view", "user")
    expected = [x for x in whole if after is None or x.id > after][:limit]
    snapshot = e.snapshot()
    # Twice: computed (and kept, when the page is full), then answered from what was kept.
    assert snapshot.lookup_subjects(DOC, "view", "user", limit=limit, after=after) == expected
    assert snapshot.lookup_subjects(DOC, "view", "user", limit=limit, after=after) == expected
    concrete = [x for x in whole if x.id != "*" and (after is None or x.id > after)][:limit]
    got = snapshot.lookup_subjects(
        DOC, "view", "user", include_wildcards=False, limit=limit, after=after
    )
    assert got == concrete


def test_a_write_between_pages_at_a_pinned_revision_keeps_the_pinned_answer() -> None:
    e = Engine(SCHEMA)
    _big(e)
    whole = e.lookup_subjects(DOC, "view", "user")
    first = e.snapshot()
    page = first.lookup_subjects(DOC, "view", "user", limit=100)
    # Sorts inside the pages still to come, and takes one of them away.
    e.touch(f"{DOC}#viewer@user:u0400x", f"{DOC}#banned@user:u0500")
    pinned = e.snapshot(Consistency.at_exact_snapshot(first.token))
    out = list(page)
    while len(page) == 100:
        page = pinned.lookup_subjects(DOC, "view", "user", limit=100, after=page[-1].id)
        out.extend(page)
    assert out == whole
    assert pinned.revision == first.revision
    # The head moved on: it answers with the write.
    now = [x.id for x in e.lookup_subjects(DOC, "view", "user")]
    assert "u0400x" in now and "u0500" not in now


def test_pinned_pages_after_a_write_are_computed_once_at_the_old_revision() -> None:
    e = Engine(SCHEMA)
    _big(e)
    whole = e.lookup_subjects(DOC, "view", "user")
    token = e.snapshot().token
    e.touch(f"{DOC}#viewer@user:new")
    before = _answers(e).hits
    assert _walk_pinned_from(e, token, 50) == whole
    assert _answers(e).hits == before  # the head's kept answers are not the old revision's
    old = e.old_state(e.store.tokens.decode(token, e.store_id))
    assert len(old.learned.lookups) == 1 and old.learned.lookups.hits >= 10


def _walk_pinned_from(e: Engine, token: str, limit: int) -> list[LookupResult]:
    out: list[LookupResult] = []
    after: str | None = None
    while True:
        snapshot = e.snapshot(Consistency.at_exact_snapshot(token))
        page = snapshot.lookup_subjects(DOC, "view", "user", limit=limit, after=after)
        out.extend(page)
        if len(page) < limit:
            return out
        after = page[-1].id


def test_a_write_at_the_head_drops_kept_answers() -> None:
    e = Engine(SCHEMA)
    _big(e)
    page = e.snapshot().lookup_subjects(DOC, "view", "user", limit=10)
    assert len(_answers(e)) == 1
    e.touch("document:other#viewer@user:x")  # any change: kept answers are about everything
    assert len(_answers(e)) == 0
    e.delete(f"{DOC}#viewer@user:u0001")
    again = e.snapshot().lookup_subjects(DOC, "view", "user", limit=10)
    assert "u0001" in [x.id for x in page] and "u0001" not in [x.id for x in again]
    # Resumed at the head (not pinned), a later page sees the write too.
    e.snapshot().lookup_subjects(DOC, "view", "user", limit=10, after="u0100")
    e.touch(f"{DOC}#viewer@user:u0100a")
    later = e.snapshot().lookup_subjects(DOC, "view", "user", limit=10, after="u0100")
    assert later[0].id == "u0100a"


def test_a_schema_write_drops_kept_answers() -> None:
    e = Engine(SCHEMA)
    _big(e)
    e.snapshot().lookup_subjects(DOC, "view", "user", limit=10)
    assert len(_answers(e)) == 1
    e.write_schema(SCHEMA.replace("permission view = viewer - banned", "permission view = banned"))
    assert len(_answers(e)) == 0
    got = e.snapshot().lookup_subjects(DOC, "view", "user", limit=10)
    assert [x.id for x in got] == ["u0003", "zz-outsider"]


def test_a_caveat_context_bypasses_kept_answers() -> None:
    e = Engine(SCHEMA)
    _big(e)
    s = e.snapshot()
    plain = s.lookup_subjects(DOC, "view", "user", limit=N, after="c")
    assert plain[0].id == "c-weekday" and plain[0].missing_context == ("day",)
    kept, hits = len(_answers(e)), _answers(e).hits
    assert kept == 1
    sunday = s.lookup_subjects(DOC, "view", "user", None, {"day": "sunday"}, limit=N, after="c")
    monday = s.lookup_subjects(DOC, "view", "user", None, {"day": "monday"}, limit=N, after="c")
    assert sunday[0].id == "u0000"
    assert monday[0].id == "c-weekday" and monday[0].permissionship is Permissionship.HAS_PERMISSION
    assert (len(_answers(e)), _answers(e).hits) == (kept, hits)  # neither read nor kept


def test_contextual_relationships_bypass_kept_answers() -> None:
    e = Engine(SCHEMA)
    _big(e)
    s = e.snapshot()
    s.lookup_subjects(DOC, "view", "user", limit=10)
    kept, hits = len(_answers(e)), _answers(e).hits
    claim = [f"{DOC}#viewer@user:a-claimed"]
    got = s.lookup_subjects(DOC, "view", "user", limit=10, after="*", contextual=claim)
    assert got[0].id == "a-claimed"
    assert (len(_answers(e)), _answers(e).hits) == (kept, hits)
    plain = s.lookup_subjects(DOC, "view", "user", limit=10, after="*")
    assert plain[0].id == "c-weekday"  # the claim was this request's only


def test_an_expiring_relationship_ends_a_kept_answer() -> None:
    now = [1_000_000.0]
    e = Engine(SCHEMA, clock=lambda: now[0])
    _big(e)
    e.touch(f"{DOC}#viewer@user:b-brief[expiration:{at(now[0] + 10)}]")
    s = e.snapshot()
    first = s.lookup_subjects(DOC, "view", "user", limit=5)
    assert [x.id for x in first][:2] == ["*", "b-brief"]
    now[0] += 11
    again = s.lookup_subjects(DOC, "view", "user", limit=5)
    assert [x.id for x in again][:2] == ["*", "c-weekday"]


def test_small_and_unpaged_answers_are_not_kept() -> None:
    e = Engine(SCHEMA)
    e.touch(*[f"{DOC}#viewer@user:u{i}" for i in range(PAGED_MIN_ITEMS - 1)])
    s = e.snapshot()
    assert len(s.lookup_subjects(DOC, "view", "user", limit=10)) == 10
    assert len(_answers(e)) == 0  # small: computing it again is cheap
    e.touch(f"{DOC}#viewer@user:one-more")
    assert len(e.snapshot().lookup_subjects(DOC, "view", "user")) == PAGED_MIN_ITEMS
    assert len(_answers(e)) == 0  # the whole answer in one call: no page follows
    e.snapshot().lookup_subjects(DOC, "view", "user", limit=PAGED_MIN_ITEMS + 1)
    assert len(_answers(e)) == 0  # the page was not full: nothing follows
    e.snapshot().lookup_subjects(DOC, "view", "user", limit=PAGED_MIN_ITEMS)
    assert len(_answers(e)) == 1
