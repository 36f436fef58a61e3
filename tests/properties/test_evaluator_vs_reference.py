"""The evaluator against the reference (tests/reference.py) on random schemas and data.

For every generated case, over the whole grounded universe (every object in the data plus one
id that occurs nowhere, per type; every subject set on them):

(a) ``check`` agrees with the reference. Where the data has a cycle through the subtracted side
    of an exclusion, the engine may refuse with ``CycleDetected`` instead (only for atoms that
    reach such a cycle), and it must refuse where the reference is undefined; it must never give
    the opposite answer. ``MaximumDepthExceeded`` is only acceptable if a path could really be
    that long.
(b) ``lookup_resources`` returns exactly the ids whose check is HAS, also when paged one result
    at a time (each page decides its candidates with a fresh checker, in a different order).
(c) ``lookup_subjects`` (with and without a subject relation) covers exactly the subjects whose
    check is HAS -- concrete ids, or the wildcard minus its exclusions for ids it does not list,
    including an id that occurs nowhere.
(d) ``parse_schema(print_schema(s)) == s`` and the printed text compiles.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import HealthCheck, event, given, settings

from rebac.engine.engine import Engine
from rebac.errors import CycleDetected, MaximumDepthExceeded
from rebac.model import LookupResult, Permissionship
from rebac.schema import compile_schema, parse_schema, print_schema
from tests.properties.strategies import Case, cases, schemas
from tests.reference import Atom, Reference, Subject, subject_ref

MAX_DEPTH = 50

# Each property takes the loaded profile's example budget (ci: 200); the module runs in about
# 25 s in the ``ci`` profile (the examples are small: a few dozen atoms each).
_BUDGET = settings().max_examples  # the loaded profile's
HEAVY = settings(
    max_examples=_BUDGET,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LIGHT = settings(max_examples=_BUDGET, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def describe(case: Case) -> str:
    rels = "\n".join(f"    {r}" for r in case.relationships) or "    (none)"
    return f"schema:\n{print_schema(case.schema)}relationships:\n{rels}"


def _s(s: Subject) -> str:
    return str(subject_ref(s))


def _a(a: Atom) -> str:
    return f"{a[0]}:{a[1]}#{a[2]}"


def setup(case: Case) -> tuple[Engine, Reference]:
    engine = Engine(print_schema(case.schema), max_depth=MAX_DEPTH)
    if case.relationships:
        engine.touch(*case.relationships)
    return engine, Reference(engine.schema, case.relationships)


class Failures:
    """Collects disagreements so that one example reports all of them (the first few)."""

    def __init__(self, case: Case, ref: Reference) -> None:
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
        """Runs an engine call; an error is recorded unless the reference allows it.

        Yields a one-element list that is False if the call raised (allowed or not)."""
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
                self.add(
                    f"{what}: MaximumDepthExceeded ({exc}) with only {len(self.ref.atoms)} atoms"
                )


def _verdict(v: bool | None) -> str:
    return {True: "HAS", False: "NO", None: "undefined (cycle through exclusion)"}[v]


# -- (a) check ------------------------------------------------------------------------------------


def _events(ref: Reference) -> None:
    import networkx as nx

    event(f"atoms: {len(ref.atoms) // 10 * 10}+")
    event(f"relationships: {ref.data.number_of_edges() // 5 * 5}+")
    if any(len(c) > 1 for c in nx.strongly_connected_components(ref.deps)):
        event("data has a cycle")
    if ref.cycle_allowed:
        event("data has a cycle through an exclusion")
    if ref.undefined():
        event("reference has undefined answers")


def check_all(case: Case) -> None:
    engine, ref = setup(case)
    _events(ref)
    fails = Failures(case, ref)
    for atom in ref.atoms:
        for subj in ref.subjects:
            want = ref.member(atom, subj)
            what = f"check {_a(atom)} @ {_s(subj)}"
            with fails.guarded(what, (atom,)) as ok:
                got = engine.check(f"{atom[0]}:{atom[1]}", atom[2], subject_ref(subj))
            if not ok[0]:
                continue
            if got.permissionship is Permissionship.CONDITIONAL_PERMISSION:
                fails.add(f"{what}: CONDITIONAL without caveats")
            elif want is None:
                fails.add(f"{what}: engine says {got.permissionship.name}, reference undefined")
            elif got.allowed != want:
                fails.add(f"{what}: engine {got.permissionship.name}, reference {_verdict(want)}")
    fails.check()


@HEAVY
@given(cases())
def test_check_matches_reference(case: Case) -> None:
    check_all(case)


# -- (b) lookup_resources -------------------------------------------------------------------------


def lookup_resources_all(case: Case) -> None:
    engine, ref = setup(case)
    fails = Failures(case, ref)
    for t, name in ref.members:
        atoms = tuple(a for a in ref.atoms if a[0] == t and a[2] == name)
        for subj in ref.subjects:
            what = f"lookup_resources {t}#{name} @ {_s(subj)}"
            with fails.guarded(what, atoms) as ok:
                got = engine.lookup_resources(t, name, subject_ref(subj))
            if not ok[0]:
                continue
            ids = [r.id for r in got]
            if len(ids) != len(set(ids)):
                fails.add(f"{what}: duplicates in {ids}")
            if any(r.permissionship is not Permissionship.HAS_PERMISSION for r in got):
                fails.add(f"{what}: non-HAS result without caveats: {got}")
            unknown = set(ids) - ref.ids[t]
            if unknown:
                fails.add(f"{what}: ids from nowhere {sorted(unknown)}")
            for a in atoms:
                want = ref.member(a, subj)
                if want is None:
                    fails.add(f"{what}: answered although {a[1]} is undefined: {ids}")
                elif (a[1] in ids) != want:
                    fails.add(f"{what}: {a[1]} {'missing' if want else 'wrongly returned'}")
            # Paging one result at a time decides the candidates in a different order, each page
            # with a fresh checker: the pages must add up to the same answer.
            pages: list[str] = []
            with fails.guarded(f"{what} (paged)", atoms) as ok:
                while True:
                    after = pages[-1] if pages else None
                    page = engine.snapshot().lookup_resources(
                        t, name, subject_ref(subj), limit=1, after=after
                    )
                    if not page:
                        break
                    pages.append(page[0].id)
                    if len(pages) > len(ref.ids[t]):
                        break
            if ok[0] and pages != ids:
                fails.add(f"{what}: paged with limit=1 {pages}, in one call {ids}")
    fails.check()


@HEAVY
@given(cases())
def test_lookup_resources_matches_reference(case: Case) -> None:
    lookup_resources_all(case)


# -- (c) lookup_subjects --------------------------------------------------------------------------


def _covers(results: list[LookupResult], sid: str) -> bool:
    for r in results:
        if r.id == sid:
            return True
    for r in results:
        if r.id == "*":
            return sid not in {x.id for x in r.excluded}
    return False


def lookup_subjects_all(case: Case) -> None:
    engine, ref = setup(case)
    fails = Failures(case, ref)
    kinds: list[tuple[str, str | None]] = [(t, None) for t in ref.type_names]
    kinds += [(t, name) for t, name in ref.members]
    for atom in ref.atoms:
        for st, srel in kinds:
            what = f"lookup_subjects {_a(atom)} {st}{'#' + srel if srel else ''}"
            with fails.guarded(what, (atom,)) as ok:
                got = engine.lookup_subjects(f"{atom[0]}:{atom[1]}", atom[2], st, srel)
            if not ok[0]:
                continue
            ids = [r.id for r in got]
            if len(ids) != len(set(ids)):
                fails.add(f"{what}: duplicates in {ids}")
            if srel is not None and "*" in ids:
                fails.add(f"{what}: a wildcard for a subject relation: {got}")
            unknown = set(ids) - ref.ids[st] - {"*"}
            if unknown:
                fails.add(f"{what}: ids from nowhere {sorted(unknown)}")
            for sid in sorted(ref.ids[st]):
                want = ref.member(atom, (st, sid, srel))
                if want is None:
                    fails.add(f"{what}: answered although {sid} is undefined: {got}")
                elif _covers(got, sid) != want:
                    fails.add(
                        f"{what}: {sid} {'missing' if want else 'wrongly covered'}; got {got}"
                    )
    fails.check()


@HEAVY
@given(cases())
def test_lookup_subjects_matches_reference(case: Case) -> None:
    lookup_subjects_all(case)


# -- (d) print / parse round trip -----------------------------------------------------------------


@LIGHT
@given(schemas())
def test_print_parse_round_trip(schema: object) -> None:
    from rebac.schema import ast

    assert isinstance(schema, ast.Schema)
    text = print_schema(schema)
    assert parse_schema(text) == schema, text
    compiled = compile_schema(text)
    assert compiled.schema == schema, text
    assert compile_schema(schema).schema == schema
    assert print_schema(parse_schema(text)) == text
