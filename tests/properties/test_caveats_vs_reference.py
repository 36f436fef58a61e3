"""Caveat combination rules: the engine against the three-valued reference (tests/reference.py).

Schemas are the random ones of tests/properties/strategies.py (unions, intersections,
exclusions, ``any``/``all`` arrows, subject sets, wildcards, self-references, cycles) with
caveats mixed into their relations' allowed types: an allowed type keeps its plain form, gains a
caveated twin (``user | user with cav_a``) or is replaced by a caveated one -- so caveats sit on
direct subjects, wildcards, subject sets and the tuplesets of arrows. Half of the examples use a
*dense* shape instead (see ``dense_schemas``): few ids, many relationships, so that a subject
meets itself caveated on one side of an intersection or exclusion and plainly on the other,
which sparse random data rarely arranges. The caveats have one
``int`` parameter each, so the reference can evaluate them exactly in Python::

    caveat cav_a(a int) { a == 1 }      caveat cav_c(c int) { c >= 1 }
    caveat cav_b(b int) { b == 1 }      caveat cav_d(a int) { a != 1 }   (shares ``a``)

Relationships on caveated types carry the caveat, some with a stored context; each example asks
its questions under one random request context in which any parameter may be missing. The
stored context wins over the request's for the same parameter.

Asserted, for every question the reference answers (a definite or unknown verdict):

(a) ``check`` over the whole grounded universe (every atom, every subject):
    reference True -> HAS_PERMISSION; False -> NO_PERMISSION; unknown -> CONDITIONAL_PERMISSION
    with ``missing_context`` a **non-empty subset** of the reference's missing set (the
    parameters of the unknown caveats reachable from the question through unknown operands;
    the engine may stop exploring once the verdict is known to be unknown, so it can name
    fewer, never a parameter that is not missing or does not matter).
(b) ``lookup_resources`` for every (type, permission or relation) and subject returns exactly
    the ids the reference does not say False for, HAS exactly for True and CONDITIONAL exactly
    for unknown (with the same subset rule for the missing parameters).

Where the reference is undefined (a cycle through an exclusion) the engine must refuse with
``CycleDetected``; it may refuse so only for atoms that reach such a cycle (as in
test_evaluator_vs_reference.py).

Runtime: about 12 s for both properties in the ``ci`` profile (200 examples each). Each of
these engine mutations is caught in that profile: caveats ignored on subject sets, on ``any`` or
``all`` arrows or on wildcards; a caveated exclusion answered as its base or as a definite "no";
an unknown operand of an intersection taken as False; the request context winning over the
stored one; an extra missing parameter; lookups reporting everything as HAS.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rebac.engine.engine import Engine
from rebac.errors import CycleDetected, MaximumDepthExceeded
from rebac.model import ObjectRef, Permissionship, Relationship, SubjectRef
from rebac.schema import ast, print_schema
from tests.properties.strategies import IDS, schemas
from tests.reference import Atom, CaveatedReference, RefCaveat, Subject, Verdict, subject_ref

MAX_DEPTH = 50

#: name -> (parameter, CEL body, the same test in Python)
CAVEATS: dict[str, tuple[str, str, RefCaveat]] = {
    "cav_a": ("a", "a == 1", RefCaveat("a", lambda v: v == 1)),
    "cav_b": ("b", "b == 1", RefCaveat("b", lambda v: v == 1)),
    "cav_c": ("c", "c >= 1", RefCaveat("c", lambda v: v >= 1)),
    "cav_d": ("a", "a != 1", RefCaveat("a", lambda v: v != 1)),
}
REF_CAVEATS = {name: ref for name, (_p, _b, ref) in CAVEATS.items()}
PARAMS = ("a", "b", "c")
VALUES = (0, 1, 2)

_BUDGET = settings().max_examples  # the loaded profile's
HEAVY = settings(
    max_examples=_BUDGET,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class CaveatCase:
    schema: ast.Schema
    relationships: tuple[Relationship, ...]
    context: dict[str, int]


def _caveat_defs() -> tuple[ast.Caveat, ...]:
    return tuple(
        ast.Caveat(name, (ast.CaveatParameter(param, ast.CaveatType("int")),), body)
        for name, (param, body, _ref) in CAVEATS.items()
    )


@st.composite
def caveated_schemas(draw: st.DrawFn) -> ast.Schema:
    """A random schema of strategies.py with caveats mixed into its allowed types."""
    base = draw(schemas())
    cav = st.sampled_from(sorted(CAVEATS))
    definitions: list[ast.Definition] = []
    for d in base.definitions:
        members: list[ast.Relation | ast.Permission] = []
        for m in d.members:
            if not isinstance(m, ast.Relation):
                members.append(m)
                continue
            allowed: list[ast.AllowedType] = []
            for a in m.allowed:
                action = draw(st.sampled_from(("keep", "twin", "twin", "replace", "replace")))
                if action != "replace":
                    allowed.append(a)
                if action != "keep":
                    allowed.append(ast.AllowedType(a.type, a.relation, a.wildcard, draw(cav)))
            members.append(ast.Relation(m.name, tuple(allowed)))
        definitions.append(ast.Definition(d.name, tuple(members)))
    return ast.Schema(tuple(definitions), _caveat_defs(), base.use_flags)


@st.composite
def caveated_relationships(
    draw: st.DrawFn, schema: ast.Schema, max_size: int = 20
) -> tuple[Relationship, ...]:
    """Relationships for every kind of allowed type; a caveated one sometimes stores a value
    for its parameter. Rings of same-type relations make cycles common, as in strategies.py.

    Caveats only matter where branches meet (``a & b``, ``a - b``, several paths), so half of
    the relationships get a *sibling*: the same resource and subject on another relation of
    the resource's type that allows that kind of subject (caveated or not, as it allows).
    """
    slots = [
        (d.name, m.name, a)
        for d in schema.definitions
        for m in d.members
        if isinstance(m, ast.Relation)
        for a in m.allowed
    ]
    if not slots:
        return ()
    out: dict[tuple[object, ...], Relationship] = {}

    def put(t: str, rel: str, rid: str, a: ast.AllowedType, sid: str) -> None:
        stored: dict[str, Any] | None = None
        if a.caveat is not None and draw(st.integers(0, 2)) == 0:
            stored = {CAVEATS[a.caveat][0]: draw(st.sampled_from(VALUES))}
        r = Relationship(
            ObjectRef(t, rid), rel, SubjectRef(a.type, sid, a.relation), a.caveat, stored
        )
        out.setdefault(r.key, r)

    for _ in range(draw(st.integers(3, max_size))):
        t, rel, a = draw(st.sampled_from(slots))
        rid = draw(st.sampled_from(IDS))
        sid = "*" if a.wildcard else draw(st.sampled_from(IDS))
        put(t, rel, rid, a, sid)
        siblings = [
            (rel2, a2)
            for t2, rel2, a2 in slots
            if t2 == t
            and rel2 != rel
            and (a2.type, a2.relation, a2.wildcard) == (a.type, a.relation, a.wildcard)
        ]
        if siblings and draw(st.booleans()):
            rel2, a2 = draw(st.sampled_from(siblings))
            put(t, rel2, rid, a2, sid)
    rings = [(t, rel, a) for t, rel, a in slots if a.type == t and not a.wildcard]
    if rings and draw(st.booleans()):
        t, rel, a = draw(st.sampled_from(rings))
        ring = draw(st.permutations(IDS))[: draw(st.integers(1, len(IDS)))]
        for i, rid in enumerate(ring):
            put(t, rel, rid, a, ring[(i + 1) % len(ring)])
    return tuple(out.values())


@st.composite
def request_contexts(draw: st.DrawFn) -> dict[str, int]:
    """Each parameter missing (half of the time) or 0, 1 or 2."""
    out: dict[str, int] = {}
    for p in PARAMS:
        if draw(st.booleans()):
            out[p] = draw(st.sampled_from(VALUES))
    return out


@st.composite
def random_cases(draw: st.DrawFn) -> CaveatCase:
    schema = draw(caveated_schemas())
    return CaveatCase(schema, draw(caveated_relationships(schema)), draw(request_contexts()))


# The dense shape: one document type whose permissions combine three relations (direct users,
# wildcards and group subject sets, each plain or caveated) and arrows to caveated folder
# parents; nested groups and folder chains with caveats of their own. Two ids per type and many
# relationships among them, so that the same subject meets itself in both operands of an
# intersection or exclusion, caveated on one side and not on the other -- which random schemas
# with sparse data rarely produce.

DENSE_IDS = ("a", "b")
DOC_RELATIONS = ("alpha", "beta", "gamma")


def _kinds(draw: st.DrawFn, options: list[ast.AllowedType]) -> tuple[ast.AllowedType, ...]:
    return tuple(draw(st.lists(st.sampled_from(options), min_size=1, max_size=4, unique_by=str)))


@st.composite
def _doc_expression(draw: st.DrawFn, names: tuple[str, ...], depth: int) -> ast.Expr:
    if depth > 0 and draw(st.integers(0, 3)) > 0:
        kind = draw(st.sampled_from(("union", "intersection", "exclusion", "exclusion")))
        sub = _doc_expression(names, depth - 1)
        if kind == "exclusion":
            return ast.Exclusion(draw(sub), draw(sub))
        children = tuple(draw(st.lists(sub, min_size=2, max_size=3)))
        return ast.Union(children) if kind == "union" else ast.Intersection(children)
    leaf = draw(st.sampled_from((*names, "->", "all")))
    if leaf == "->":
        return ast.Arrow("parent", "view")
    if leaf == "all":
        return ast.Arrow("parent", "view", "all")
    return ast.RelationRef(leaf)


@st.composite
def dense_schemas(draw: st.DrawFn) -> ast.Schema:
    cav = st.sampled_from(sorted(CAVEATS))

    def both(t: str, relation: str | None = None, wildcard: bool = False) -> list[ast.AllowedType]:
        return [
            ast.AllowedType(t, relation, wildcard),
            ast.AllowedType(t, relation, wildcard, draw(cav)),
        ]

    user_kinds = both("user") + both("user", wildcard=True) + both("group", "member")
    group = ast.Definition(
        "group", (ast.Relation("member", _kinds(draw, both("user") + both("group", "member"))),)
    )
    folder = ast.Definition(
        "folder",
        (
            ast.Relation("parent", _kinds(draw, both("folder"))),
            ast.Relation("viewer", _kinds(draw, both("user") + both("group", "member"))),
            ast.Permission(
                "view", ast.Union((ast.RelationRef("viewer"), ast.Arrow("parent", "view")))
            ),
        ),
    )
    members: list[ast.Relation | ast.Permission] = [
        ast.Relation("parent", _kinds(draw, both("folder")))
    ]
    members += [ast.Relation(name, _kinds(draw, user_kinds)) for name in DOC_RELATIONS]
    first = draw(_doc_expression(DOC_RELATIONS, 3))
    second = draw(_doc_expression((*DOC_RELATIONS, "first"), 2))
    members += [ast.Permission("first", first), ast.Permission("second", second)]
    document = ast.Definition("document", tuple(members))
    user = ast.Definition("user", ())
    return ast.Schema((user, group, folder, document), _caveat_defs())


@st.composite
def dense_cases(draw: st.DrawFn) -> CaveatCase:
    schema = draw(dense_schemas())
    # Each possible relationship is in with a probability of its own (one draw per
    # candidate: a list strategy would stay short and collapse on duplicate keys).
    share = draw(st.sampled_from((3, 4, 6)))
    out: dict[tuple[object, ...], Relationship] = {}
    for d in schema.definitions:
        for m in d.members:
            if not isinstance(m, ast.Relation):
                continue
            for a in m.allowed:
                for rid in DENSE_IDS:
                    for sid in ("*",) if a.wildcard else DENSE_IDS:
                        if draw(st.integers(0, share - 1)) != 0:
                            continue
                        stored = None
                        if a.caveat is not None and draw(st.integers(0, 2)) == 0:
                            stored = {CAVEATS[a.caveat][0]: draw(st.sampled_from(VALUES))}
                        r = Relationship(
                            ObjectRef(d.name, rid),
                            m.name,
                            SubjectRef(a.type, sid, a.relation),
                            a.caveat,
                            stored,
                        )
                        out.setdefault(r.key, r)
    return CaveatCase(schema, tuple(out.values()), draw(request_contexts()))


def caveat_cases() -> st.SearchStrategy[CaveatCase]:
    return st.one_of(random_cases(), dense_cases())


# -- helpers --------------------------------------------------------------------------------------


def describe(case: CaveatCase) -> str:
    rels = "\n".join(f"    {r}" for r in case.relationships) or "    (none)"
    return (
        f"schema:\n{print_schema(case.schema)}relationships:\n{rels}\n"
        f"request context: {case.context}"
    )


def setup(case: CaveatCase) -> tuple[Engine, CaveatedReference]:
    engine = Engine(print_schema(case.schema), max_depth=MAX_DEPTH)
    if case.relationships:
        engine.touch(*case.relationships)
    ref = CaveatedReference(engine.schema, case.relationships, REF_CAVEATS, case.context)
    return engine, ref


def _a(a: Atom) -> str:
    return f"{a[0]}:{a[1]}#{a[2]}"


def _s(s: Subject) -> str:
    return str(subject_ref(s))


def _shown(v: Verdict) -> str:
    if v is None:
        return "undefined (cycle through exclusion)"
    if v is True or v is False:
        return "HAS" if v else "NO"
    return f"CONDITIONAL missing {sorted(v)}"


class Failures:
    """Collects disagreements so that one example reports all of them (the first few)."""

    def __init__(self, case: CaveatCase, ref: CaveatedReference) -> None:
        self.case = case
        self.ref = ref
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def check(self) -> None:
        if self.items:
            shown = "\n  ".join(self.items[:12])
            more = f"\n  ... and {len(self.items) - 12} more" if len(self.items) > 12 else ""
            raise AssertionError(f"{describe(self.case)}\ndisagreements:\n  {shown}{more}")

    @contextmanager
    def guarded(self, what: str, atoms: tuple[Atom, ...]) -> Iterator[list[bool]]:
        """Runs an engine call; a refusal is recorded unless the reference allows it. Yields a
        one-element list that is False if the call raised (allowed or not)."""
        ok = [True]
        try:
            yield ok
        except CycleDetected as exc:
            ok[0] = False
            event("engine raised CycleDetected")
            if not any(a in self.ref.cycle_allowed for a in atoms):
                self.add(f"{what}: CycleDetected ({exc}) but no cycle through an exclusion")
        except MaximumDepthExceeded as exc:
            ok[0] = False
            if len(self.ref.atoms) <= MAX_DEPTH:
                self.add(f"{what}: MaximumDepthExceeded ({exc}) with {len(self.ref.atoms)} atoms")

    def compare(
        self, what: str, want: Verdict, got: Permissionship, missing: tuple[str, ...]
    ) -> None:
        """One answer against the reference's verdict (see the module docstring)."""
        if want is None:
            self.add(f"{what}: engine {got.name}, reference undefined")
        elif want is True or want is False:
            expected = Permissionship.HAS_PERMISSION if want else Permissionship.NO_PERMISSION
            if got is not expected:
                self.add(f"{what}: engine {got.name} {list(missing)}, reference {_shown(want)}")
        elif got is not Permissionship.CONDITIONAL_PERMISSION:
            self.add(f"{what}: engine {got.name}, reference {_shown(want)}")
        elif not missing or not set(missing) <= want:
            self.add(f"{what}: engine missing {list(missing)}, reference {_shown(want)}")


# -- (a) check ------------------------------------------------------------------------------------


@HEAVY
@given(caveat_cases())
def test_check_matches_three_valued_reference(case: CaveatCase) -> None:
    engine, ref = setup(case)
    fails = Failures(case, ref)
    verdicts: list[Verdict] = []
    for atom in ref.atoms:
        for subj in ref.subjects:
            want = ref.verdict(atom, subj)
            verdicts.append(want)
            what = f"check {_a(atom)} @ {_s(subj)}"
            with fails.guarded(what, (atom,)) as ok:
                got = engine.check(f"{atom[0]}:{atom[1]}", atom[2], subject_ref(subj), case.context)
            if ok[0]:
                fails.compare(what, want, got.permissionship, got.missing_context)
    conditional = sum(1 for v in verdicts if isinstance(v, frozenset))
    event(f"conditional answers: {'none' if not conditional else 'some'}")
    if any(isinstance(v, frozenset) and len(v) > 1 for v in verdicts):
        event("an answer misses more than one parameter")
    if any(r.caveat_context for r in case.relationships):
        event("stored contexts")
    if ref.cycle_allowed:
        event("data has a cycle through an exclusion")
    fails.check()


# -- (b) lookup_resources -------------------------------------------------------------------------


@HEAVY
@given(caveat_cases())
def test_lookup_resources_marks_exactly_the_conditional_ones(case: CaveatCase) -> None:
    engine, ref = setup(case)
    fails = Failures(case, ref)
    for t, name in ref.members:
        atoms = tuple(a for a in ref.atoms if a[0] == t and a[2] == name)
        for subj in ref.subjects:
            what = f"lookup_resources {t}#{name} @ {_s(subj)}"
            with fails.guarded(what, atoms) as ok:
                got = engine.lookup_resources(t, name, subject_ref(subj), case.context)
            if not ok[0]:
                continue
            by_id = {r.id: r for r in got}
            if len(by_id) != len(got):
                fails.add(f"{what}: duplicates in {[r.id for r in got]}")
            unknown = set(by_id) - ref.ids[t]
            if unknown:
                fails.add(f"{what}: ids from nowhere {sorted(unknown)}")
            for a in atoms:
                want = ref.verdict(a, subj)
                r = by_id.get(a[1])
                if r is None:
                    if want is not False:
                        fails.add(f"{what}: {a[1]} missing, reference {_shown(want)}")
                    continue
                if r.permissionship is Permissionship.NO_PERMISSION:
                    fails.add(f"{what}: {a[1]} returned as NO_PERMISSION")
                fails.compare(f"{what}: {a[1]}", want, r.permissionship, r.missing_context)
                if r.permissionship is Permissionship.CONDITIONAL_PERMISSION:
                    event("lookup returned a CONDITIONAL result")
    fails.check()
