"""Paged lookup-resources: the sorted candidates of a big lookup are walked once per revision and
every later page bisects them (rebac.engine.lookup.PagedAnswers).

Pages concatenate to the whole answer whatever the page size; a write at the head drops what
was kept; a caveat context shares the candidates but never the decisions; contextual
relationships neither read nor keep them; a relationship that expires after the candidates
were kept is not answered from them.
"""

from __future__ import annotations

import pytest

from rebac import Engine
from rebac.engine.lookup import PAGED_MIN_ITEMS, PagedAnswers
from rebac.model import LookupResult, Permissionship
from tests.engine.test_lookup_pages import SCHEMA, at  # the same caveat and expiration

N = 600  # comfortably above PAGED_MIN_ITEMS
ALICE = "user:alice"


def _big(engine: Engine, n: int = N) -> None:
    half = n // 2
    engine.touch(
        *[f"document:d{i:04d}#viewer@{ALICE}" for i in range(half)],
        *[f"document:d{i:04d}#viewer@group:eng#member" for i in range(half, n)],
        f"group:eng#member@{ALICE}",
        "document:d0003#banned@user:alice",
        "document:c-weekday#viewer@user:alice[on_weekday]",
    )


def _kept(engine: Engine) -> PagedAnswers:  # type: ignore[type-arg]
    return engine._head.learned.candidates


def _pages(engine: Engine, limit: int, **query: object) -> list[LookupResult]:
    """Every page, each from its own snapshot (as the server does), after the last id."""
    out: list[LookupResult] = []
    after: str | None = None
    while True:
        page = engine.snapshot().lookup_resources(
            "document",
            "view",
            ALICE,
            limit=limit,
            after=after,
            **query,  # type: ignore[arg-type]
        )
        out.extend(page)
        if len(page) < limit:
            return out
        after = page[-1].id


def test_the_candidates_are_many_enough_to_be_kept() -> None:
    assert N > PAGED_MIN_ITEMS


@pytest.mark.parametrize("limit", [1, 7, 256, 599, 600, 601, 1000])
def test_pages_concatenate_to_the_whole_answer(limit: int) -> None:
    e = Engine(SCHEMA)
    _big(e)
    whole = e.snapshot().lookup_resources("document", "view", ALICE)
    assert len(whole) == N - 1 + 1  # d0003 banned; c-weekday conditional
    assert _pages(e, limit) == whole
    if limit < len(whole):
        assert _kept(e).hits > 0  # later pages bisected the kept candidates


def test_a_write_at_the_head_drops_kept_candidates() -> None:
    e = Engine(SCHEMA)
    _big(e)
    first = e.snapshot().lookup_resources("document", "view", ALICE, limit=100)
    assert len(_kept(e)) == 1
    e.touch("document:d0500#banned@user:alice", f"document:zz-new#viewer@{ALICE}")
    assert len(_kept(e)) == 0
    rest = e.snapshot().lookup_resources("document", "view", ALICE, after=first[-1].id)
    ids = [r.id for r in rest]
    assert "d0500" not in ids and ids[-1] == "zz-new"


def test_a_caveat_context_shares_the_candidates_not_the_decisions() -> None:
    e = Engine(SCHEMA)
    _big(e)
    weekday = _pages(e, 50, context={"day": "monday"})
    hits = _kept(e).hits
    weekend = _pages(e, 50, context={"day": "sunday"})
    assert _kept(e).hits > hits
    assert weekday[0] == LookupResult("c-weekday", Permissionship.HAS_PERMISSION)
    assert weekend[0].id != "c-weekday"
    assert weekday[1:] == weekend


def test_contextual_relationships_bypass_kept_candidates() -> None:
    e = Engine(SCHEMA)
    _big(e)
    e.snapshot().lookup_resources("document", "view", ALICE, limit=10)
    kept, hits = len(_kept(e)), _kept(e).hits
    extra = [f"document:a-extra#viewer@{ALICE}"]
    page = e.snapshot().lookup_resources("document", "view", ALICE, limit=10, contextual=extra)
    assert page[0].id == "a-extra"
    assert (len(_kept(e)), _kept(e).hits) == (kept, hits)  # neither read nor kept


def test_a_relationship_that_expires_after_the_candidates_were_kept_is_not_answered() -> None:
    now = [1_000_000.0]
    e = Engine(SCHEMA, clock=lambda: now[0])
    _big(e)
    e.touch(f"document:d9999#viewer@user:alice[expiration:{at(now[0] + 10)}]")
    first = e.snapshot().lookup_resources("document", "view", ALICE, limit=10)
    assert len(_kept(e)) == 1
    now[0] += 11
    rest = e.snapshot().lookup_resources("document", "view", ALICE, after=first[-1].id)
    assert _kept(e).hits == 1 and rest[-1].id == "d0599"


def test_small_or_unpaged_candidate_lists_are_not_kept() -> None:
    e = Engine(SCHEMA)
    e.touch(*[f"document:d{i}#viewer@{ALICE}" for i in range(PAGED_MIN_ITEMS - 1)])
    assert len(e.snapshot().lookup_resources("document", "view", ALICE, limit=10)) == 10
    assert len(_kept(e)) == 0  # small: walking again is cheap
    e.touch(f"document:one-more#viewer@{ALICE}")
    assert len(e.snapshot().lookup_resources("document", "view", ALICE)) == PAGED_MIN_ITEMS
    assert len(_kept(e)) == 0  # the whole answer in one call: no page follows
    e.snapshot().lookup_resources("document", "view", ALICE, limit=PAGED_MIN_ITEMS - 1)
    assert len(_kept(e)) == 1
