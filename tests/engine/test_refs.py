"""The check path's reference parser (rebac.engine.refs) agrees exactly with the model's.

refs.py splits ``type:id[#relation]`` texts with ``partition`` and string predicates and only
falls back to ObjectRef.parse / SubjectRef.parse for unusual input; any text on which the two
disagree would make a check accept (or answer about) a reference the API rejects.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebac.engine import refs
from rebac.errors import InvalidRequest
from rebac.model import RELATION_NAME, TYPE_NAME, ObjectRef, Relationship, SubjectRef

ID_CHARS = "abcXYZ019/_|-=+"
TYPES = st.one_of(
    st.sampled_from(["document", "user", "acme/doc_type", "ns/doc_type", "Document", "do"]),
    st.sampled_from(["", " document", "document ", "documént", "doc-type", "document_", "a/b"]),
    st.from_regex(TYPE_NAME, fullmatch=True),
)
IDS = st.one_of(
    st.text(ID_CHARS, min_size=1, max_size=12),
    st.sampled_from(["d1", "*", "", " d1", "d1 ", "é", "d:1", "a" * 1024, "a" * 1025]),
    st.sampled_from(["a" * 1023 + "-", "a" * 1024 + "-", "x\n"]),
)
RELATIONS = st.one_of(
    st.just("..."),
    st.sampled_from(["view", "member", "", "View", "vié", "vi", "..", " view", "view#x"]),
    st.from_regex(RELATION_NAME, fullmatch=True),
)
SEPARATORS = st.sampled_from([":"] * 6 + ["", "::", "#"])
PADDING = st.sampled_from(["", "", "", " ", "\n", "\t"])


@st.composite
def reference_texts(draw: st.DrawFn) -> str:
    """Well-formed references and near-misses, plus free text over the grammar's alphabet."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text("ab:#*./_|-=+ éA1\n", max_size=20))
    text = draw(TYPES) + draw(SEPARATORS) + draw(IDS)
    if draw(st.booleans()):
        text += "#" + draw(RELATIONS)
    return draw(PADDING) + text + draw(PADDING)


def outcome(parse: Callable[[str], object], text: str) -> object:
    """What ``parse(text)`` returns, or the type of the exception it raises."""
    try:
        return parse(text)
    except Exception as exc:
        return type(exc)


def model_object(text: str) -> tuple[str, str]:
    ref = ObjectRef.parse(text)
    return ref.type, ref.id


def model_subject(text: str) -> tuple[str, str, str | None]:
    ref = SubjectRef.parse(text)
    return ref.type, ref.id, ref.relation


@pytest.mark.parametrize(
    ("fast", "model"),
    [(refs.object_parts, model_object), (refs.subject_parts, model_subject)],
    ids=["object", "subject"],
)
@settings(max_examples=300)
@given(text=reference_texts())
def test_the_fast_parsers_agree_with_the_model_parsers(
    fast: Callable[[str], object], model: Callable[[str], object], text: str
) -> None:
    """The fast path must accept exactly what the API accepts, with the same parts (for
    subjects: wildcards, subject sets, and ``...`` read as no relation, None)."""
    expected = outcome(model, text)
    assert expected is InvalidRequest or isinstance(expected, tuple)
    assert outcome(fast, text) == expected


@pytest.mark.parametrize(
    ("fast", "model"),
    [(refs.object_parts, model_object), (refs.subject_parts, model_subject)],
    ids=["object", "subject"],
)
@settings(max_examples=200)
@given(texts=st.lists(reference_texts(), min_size=2, max_size=8))
def test_the_remembered_type_prefix_never_changes_an_answer(
    fast: Callable[[str], object], model: Callable[[str], object], texts: list[str]
) -> None:
    """The parsers remember the last ``type:`` prefix they accepted and split the next text
    that starts with it without a partition: every text of a sequence must still be parsed
    as the model parses it, whatever came before it."""
    for text in texts:
        assert outcome(fast, text) == outcome(model, text)


@pytest.mark.parametrize(
    "texts",
    [
        ["document:d1", "document:d/2", "document:", "document:d:3", "document:d1"],
        ["user:u1", "user:*", "user:u1#...", "user:u#member", "user:u 1", "user:u2"],
        ["group:g1", "group:g1#member", "user:u1", "group:g2", "users:u1", "use:u1"],
    ],
)
def test_texts_that_start_with_the_remembered_prefix_but_are_not_plain(texts: list[str]) -> None:
    for text in texts:
        assert outcome(refs.object_parts, text) == outcome(model_object, text)
        assert outcome(refs.subject_parts, text) == outcome(model_subject, text)


def test_model_refs_pass_through_unchanged() -> None:
    """Callers holding model objects get their parts back (and as_* the very object)."""
    obj = ObjectRef("document", "d-1/x")
    assert refs.object_parts(obj) == ("document", "d-1/x")
    assert refs.as_object(obj) is obj
    for subj in (SubjectRef("user", "alice"), SubjectRef("group", "eng", "member")):
        assert refs.subject_parts(subj) == (subj.type, subj.id, subj.relation)
        assert refs.as_subject(subj) is subj
    assert refs.as_subject(SubjectRef("user", "*")).is_wildcard
    assert refs.as_object("document:d1") == ObjectRef("document", "d1")
    assert refs.as_subject("group:eng#...") == SubjectRef("group", "eng")


def test_returned_names_are_interned() -> None:
    """Tuple keys built from these names must compare with the schema's by identity."""
    rtype = refs.object_parts("".join(["docu", "ment:d1"]))[0]
    assert rtype is sys.intern("document")
    stype, _, srel = refs.subject_parts("".join(["gro", "up:eng#mem", "ber"]))
    assert stype is sys.intern("group")
    assert srel is sys.intern("member")
    assert refs.relation_name("".join(["vi", "ew"])) is sys.intern("view")


def test_relation_name_returns_malformed_name_unchanged() -> None:
    """A bad name is not interned or cached; validation later reports it as given."""
    bad = "".join(["Vi", "ew!"])
    assert refs.relation_name(bad) is bad
    assert bad not in refs._relations


def test_name_caches_are_bounded() -> None:
    """A flood of distinct names must not grow the caches without limit."""
    saved_types, saved_relations = dict(refs._types), dict(refs._relations)
    try:
        for i in range(refs._NAMES_LIMIT + 10):
            assert refs.object_parts(f"t{i:05d}x:d1") == (f"t{i:05d}x", "d1")
            assert refs.relation_name(f"r{i:05d}x") == f"r{i:05d}x"
            assert len(refs._types) <= refs._NAMES_LIMIT
            assert len(refs._relations) <= refs._NAMES_LIMIT
        rtype, rid = refs.object_parts("".join(["docu", "ment:d1"]))
        assert (rtype, rid) == ("document", "d1")
        assert rtype is sys.intern("document")
        assert refs.subject_parts("group:eng#member") == ("group", "eng", "member")
    finally:
        refs._types.clear()
        refs._types.update(saved_types)
        refs._relations.clear()
        refs._relations.update(saved_relations)


def test_id_length_limit_is_1024_like_the_model() -> None:
    """Both the fast path (alphanumeric ids) and the fallback (punctuated ids) stop at 1024."""
    for last in ("a", "-"):
        ok, too_long = "a" * 1023 + last, "a" * 1024 + last
        assert ObjectRef.parse(f"document:{ok}").id == ok
        assert refs.object_parts(f"document:{ok}") == ("document", ok)
        assert refs.subject_parts(f"user:{ok}") == ("user", ok, None)
        for parse in (ObjectRef.parse, refs.object_parts, refs.subject_parts):
            with pytest.raises(InvalidRequest):
                parse(f"document:{too_long}")


@st.composite
def relationship_texts(draw: st.DrawFn) -> str:
    """Relationships built from the reference texts above, some with a caveat or expiry."""
    resource = draw(reference_texts())
    subject = draw(reference_texts())
    text = f"{resource}@{subject}" if "#" in resource else f"{resource}#view@{subject}"
    if draw(st.integers(0, 5)) == 0:
        text += draw(st.sampled_from(["[c]", '[c:{"a":1}]', "[expiration:2030-01-01T00:00:00Z]"]))
    return text


@settings(max_examples=400)
@given(relationship_texts())
def test_relationship_agrees_with_relationship_parse(text: str) -> None:
    """Bulk imports parse through refs.relationship: it must accept exactly what
    Relationship.parse accepts, with the same relationship."""
    assert outcome(refs.relationship, text) == outcome(Relationship.parse, text)


def test_relationship_parses_the_plain_form_with_interned_names() -> None:
    rel = refs.relationship("".join(["document", ":d1#", "viewer", "@group:g#", "member"]))
    assert rel == Relationship.parse("document:d1#viewer@group:g#member")
    assert rel.resource.type is sys.intern("document") and rel.relation is sys.intern("viewer")
    assert refs.relationship("document:d1#viewer@user:u#...").subject.relation is None
