"""The lookup-subjects set algebra, pinned on the cases SpiceDB documents for its own."""

from __future__ import annotations

from rebac.engine.subjectset import SubjectSet
from rebac.engine.values import Conditional, Value

C1 = Conditional(frozenset({"c1"}))
C2 = Conditional(frozenset({"c2"}))


def make(
    concrete: dict[str, Value] | None = None,
    wildcard: Value = False,
    excluded: dict[str, Value] | None = None,
) -> SubjectSet:
    s = SubjectSet()
    for sid, c in (concrete or {}).items():
        s.add_concrete(sid, c)
    if wildcard is not False:
        s.add_wildcard(wildcard, excluded or {})
    return s


def shape(s: SubjectSet) -> tuple[set[str], bool, set[str]]:
    return set(s.concrete), s.wildcard is not False, set(s.excluded)


def test_union_keeps_both_the_concrete_subject_and_the_wildcard() -> None:
    u = make({"tom": True}).union(make(wildcard=True))
    assert shape(u) == ({"tom"}, True, set())


def test_union_with_a_concrete_subject_lifts_its_exclusion() -> None:
    u = make(wildcard=True, excluded={"tom": True}).union(make({"tom": True}))
    assert shape(u) == ({"tom"}, True, set())


def test_union_of_wildcards_intersects_their_exclusions() -> None:
    a = make(wildcard=True, excluded={"tom": True, "sarah": True})
    b = make(wildcard=True, excluded={"sarah": True})
    assert shape(a.union(b)) == (set(), True, {"sarah"})


def test_subtracting_a_concrete_subject_from_a_wildcard_excludes_it() -> None:
    d = make(wildcard=True).difference(make({"tom": True}))
    assert shape(d) == (set(), True, {"tom"})


def test_wildcard_on_the_right_of_an_exclusion_removes_listed_subjects_too() -> None:
    d = make({"somegal": True}).difference(make(wildcard=True))
    assert shape(d) == (set(), False, set())


def test_wildcard_minus_wildcard_with_exclusions_leaves_the_exclusions() -> None:
    inner = make(wildcard=True).difference(make({"sarah": True}))
    outer = make(wildcard=True).difference(inner)
    assert shape(outer) == ({"sarah"}, False, set())


def test_intersection_of_wildcard_and_concrete_is_the_concrete() -> None:
    i = make(wildcard=True).intersection(make({"somegal": True}))
    assert shape(i) == ({"somegal"}, False, set())


def test_intersection_does_not_readmit_an_excluded_subject() -> None:
    banned = make(wildcard=True, excluded={"tom": True})
    i = banned.intersection(make({"tom": True, "sarah": True}))
    assert shape(i) == ({"sarah"}, False, set())


def test_conditional_exclusion_makes_the_subject_conditional() -> None:
    d = make({"tom": True}).difference(make({"tom": C2}))
    assert isinstance(d.concrete["tom"], Conditional)
    assert d.concrete["tom"].missing == {"c2"}


def test_caveat_on_the_edge_applies_to_every_member() -> None:
    s = make({"tom": True}, wildcard=True).with_condition(C1)
    assert isinstance(s.concrete["tom"], Conditional)
    assert isinstance(s.wildcard, Conditional)
