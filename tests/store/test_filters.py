"""Filters and positions as each backend evaluates them agree with ``RelationshipFilter.matches``.

The SQL translation (equalities, prefix ranges, the subject index hint, keyset positions over
the columns a filter leaves free) is where a backend could quietly disagree with the model's
definition of a filter; random data with look-alike ids is compared against it here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebac.model import (
    ObjectRef,
    Operation,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
    SubjectFilter,
    SubjectRef,
)
from rebac.store import MemoryStore, SQLiteStore, Store
from rebac.store._rows import row_matches, row_of
from rebac.store._sqlfilter import prefix_upper_bound

IDS = st.text(alphabet="ab/_|-=+zA", min_size=1, max_size=4)
TYPES = st.sampled_from(["document", "doc", "document/sub"])
RELATIONS = st.sampled_from(["viewer", "view", "viewers"])
SREL = st.sampled_from([None, "member", "members"])

rels = st.builds(
    lambda rt, rid, rel, st_, sid, srel: Relationship(
        ObjectRef(rt, rid), rel, SubjectRef(st_, sid, srel)
    ),
    TYPES,
    IDS,
    RELATIONS,
    st.sampled_from(["user", "group"]),
    IDS | st.just("*"),
    SREL,
)


@st.composite
def filters(draw: st.DrawFn) -> RelationshipFilter:
    rid = draw(st.none() | IDS)
    prefix = None if rid is not None else draw(st.none() | st.text(alphabet="ab/_z", max_size=2))
    subject = draw(
        st.none()
        | st.builds(
            SubjectFilter,
            st.sampled_from(["user", "group"]),
            st.none() | IDS | st.just("*"),
            st.none() | st.sampled_from(["...", "member"]),
        )
    )
    f = RelationshipFilter(
        draw(st.none() | TYPES), rid, prefix, draw(st.none() | RELATIONS), subject
    )
    if all(v is None for v in (f.resource_type, rid, prefix, f.relation, subject)):
        return RelationshipFilter(resource_type="document")
    return f


def skey(r: Relationship) -> tuple[str, ...]:
    return (*r.key[:5], r.key[5] or "")


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Store]]:
    path: Path = tmp_path_factory.mktemp("filters") / "f.db"
    made: list[Store] = [MemoryStore(), SQLiteStore(path, durable=False)]
    yield made
    for s in made:
        s.close()


_names = (f"s{n}" for n in itertools.count())


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(rels, max_size=25, unique_by=lambda r: r.key), f=filters(), cut=st.integers(0, 30)
)
def test_backends_filter_and_page_like_the_model(
    stores: list[Store], data: list[Relationship], f: RelationshipFilter, cut: int
) -> None:
    expected = sorted((r for r in data if f.matches(r)), key=skey)
    for r in data:
        assert row_matches(f, row_of(r)) == f.matches(r)
    name = next(_names)
    ordered = sorted(data, key=skey)
    after = ordered[cut].key if cut < len(ordered) else None
    for store in stores:
        store.create_store(name)
        rev = store.write(name, [RelationshipUpdate(Operation.CREATE, r) for r in data])
        assert store.read(name, f, revision=rev) == expected, type(store).__name__
        if after is not None:
            tail = [r for r in expected if skey(r) > skey(ordered[cut])]
            got = store.read(name, f, revision=rev, after=after)
            assert got == tail, type(store).__name__
        deleted = store.delete(name, f).deleted
        assert deleted == len(expected)
        store.delete_store(name)


@given(st.text(max_size=6))
def test_prefix_upper_bound(prefix: str) -> None:
    upper = prefix_upper_bound(prefix)
    if upper is None:
        assert all(c == "\U0010ffff" for c in prefix)
        return
    assert upper > prefix and not upper.startswith(prefix)
    for suffix in ("", "\x00", "zz", "\U0010ffff"):
        assert prefix + suffix < upper
    upper.encode("utf-8")  # storable


def test_prefix_upper_bound_examples() -> None:
    assert prefix_upper_bound("ab") == "ac"
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("\ud7ff") == "\ue000"
    assert prefix_upper_bound("") is None
