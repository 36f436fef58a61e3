"""README section 3's derived checks: every API must agree with Check on ``spicedb/*.yaml``.

For each file, *IDs* are the object ids in its relationships and *subjects* its non-wildcard
relationship subjects (subject sets included), plus, beyond the README, one id per subject type
that occurs nowhere in the data (so wildcard coverage is checked against a subject no
relationship names). For every definition D, id, relation or permission
R and subject S the test computes Check(D:id#R, S) with no context, then requires:

* LookupResources(D#R, S) to be exactly the ids whose check is not NO_PERMISSION, marked
  conditional exactly when the check is conditional; and, with each assertion's own context,
  to contain the asserted resource exactly when the assertion expects access;
* LookupSubjects(D:id#R, type[#relation]) to describe the same set as Check: a subject is a
  member when returned concretely or covered by a returned wildcard and not excluded, with
  three-valued logic for conditional entries; every assertTrue/assertCaveated subject must be
  returned or covered;
* a recursive Expand to succeed, its non-caveated terminal subjects to have access, and every
  subject with access to appear in it (or be covered by a wildcard in it);
* every subject kind that has access to be one the schema declares reachable for D#R.

Runtime: the whole cross product is about 24,000 checks (under a second). A file whose product
exceeded ``MAX_CHECKS`` would be sampled deterministically (evenly spaced ids and subjects, see
:func:`sample`); none of the 73 current files reaches it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from rebac.engine.expand import ExpandNode
from rebac.model import LookupResult, ObjectRef, Permissionship, SubjectRef
from rebac.validation.expected import FoundSubjects, found_subjects
from tests.conformance._corpus import (
    Loaded,
    file_params,
    load,
    members,
    object_ids,
    p_and_not,
    p_or,
    reachable_subject_kinds,
    sample,
    subjects,
)

FILES = file_params("spicedb")
MAX_CHECKS = 20_000
ABSENT_ID = "zz-absent-from-the-data"
NO = Permissionship.NO_PERMISSION
HAS = Permissionship.HAS_PERMISSION
COND = Permissionship.CONDITIONAL_PERMISSION


@dataclass
class Derived:
    loaded: Loaded
    ids: list[str]
    subjects: list[SubjectRef]
    targets: list[tuple[str, str]]  # (definition, relation or permission)
    checks: dict[tuple[str, str, str, SubjectRef], Permissionship]

    def results(self, d: str, r: str) -> Iterator[tuple[str, SubjectRef, Permissionship]]:
        for rid in self.ids:
            for s in self.subjects:
                yield rid, s, self.checks[d, rid, r, s]


@cache
def derived(path: Path) -> Derived:
    loaded = load(path)
    schema = loaded.engine.schema
    targets = [(d, m) for d in sorted(schema.definitions) for m in members(schema, d)]
    ids, subs = object_ids(loaded.vf), subjects(loaded.vf)
    # Plus one id per subject type that occurs nowhere: only wildcards can grant it access.
    subs += sorted({SubjectRef(s.type, ABSENT_ID) for s in subs}, key=str)
    total = len(targets) * len(ids) * len(subs)
    if total > MAX_CHECKS:
        # Shrink ids and subjects by the same factor, deterministically.
        factor = math.sqrt(MAX_CHECKS / total)
        ids = sample(ids, max(1, int(len(ids) * factor)))
        subs = sample(subs, max(1, int(len(subs) * factor)))
    checks = {
        (d, rid, r, s): loaded.engine.check(ObjectRef(d, rid), r, s).permissionship
        for d, r in targets
        for rid in ids
        for s in subs
    }
    return Derived(loaded, ids, subs, targets, checks)


def _lr_map(results: list[LookupResult]) -> dict[str, Permissionship]:
    out: dict[str, Permissionship] = {}
    for r in results:
        assert r.id not in out, f"duplicate lookup result {r.id}"
        out[r.id] = r.permissionship
    return out


@pytest.mark.parametrize("path", FILES)
def test_lookup_resources_returns_exactly_the_ids_that_check(path: Path) -> None:
    dv = derived(path)
    engine = dv.loaded.engine
    problems = []
    for d, r in dv.targets:
        for s in dv.subjects:
            got = _lr_map(engine.lookup_resources(d, r, s))
            want = {rid: p for rid in dv.ids if (p := dv.checks[d, rid, r, s]) is not NO}
            # Ids outside the sample/ID universe (none expected) must still agree with check.
            for rid in got.keys() - set(dv.ids):
                p = engine.check(ObjectRef(d, rid), r, s).permissionship
                if p is not NO:
                    want[rid] = p
            if got != want:
                problems.append(f"LookupResources({d}#{r}, {s}): got {got}, check says {want}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", FILES)
def test_lookup_resources_with_assertion_context_agrees_with_the_assertion(path: Path) -> None:
    loaded = load(path)
    problems = []
    for a in loaded.vf.assertions:
        got = _lr_map(
            loaded.engine.lookup_resources(a.resource.type, a.permission, a.subject, a.context)
        )
        have = got.get(a.resource.id, NO)
        if have is not a.expected:
            problems.append(
                f"{path.name}:{a.line}: {a.text}: expected {a.expected.name}, "
                f"LookupResources gave {have.name}"
            )
    assert not problems, "\n".join(problems)


def _ls_permissionship(results: list[LookupResult], subject_id: str) -> Permissionship:
    """Membership of ``subject_id`` in a LookupSubjects answer: concrete, or wildcard and not
    excluded (three-valued)."""
    concrete, via_wildcard = NO, NO
    for r in results:
        if r.id == subject_id:
            concrete = p_or(concrete, r.permissionship)
        elif r.id == "*":
            excluded = NO
            for x in r.excluded:
                if x.id == subject_id:
                    excluded = p_or(excluded, x.permissionship)
            via_wildcard = p_or(via_wildcard, p_and_not(r.permissionship, excluded))
    return p_or(concrete, via_wildcard)


@pytest.mark.parametrize("path", FILES)
def test_lookup_subjects_describes_the_same_set_as_check(path: Path) -> None:
    dv = derived(path)
    engine = dv.loaded.engine
    kinds = sorted({(s.type, s.relation) for s in dv.subjects}, key=str)
    problems = []
    for d, r in dv.targets:
        for rid in dv.ids:
            for stype, srel in kinds:
                found = engine.lookup_subjects(ObjectRef(d, rid), r, stype, srel)
                ids = [f.id for f in found]
                if len(ids) != len(set(ids)):
                    problems.append(f"LookupSubjects({d}:{rid}#{r}, {stype}): duplicates {ids}")
                named = {s.id for s in dv.subjects if (s.type, s.relation) == (stype, srel)}
                named |= {f.id for f in found if f.id != "*"}
                named |= {x.id for f in found for x in f.excluded}
                for sid in sorted(named):
                    subject = SubjectRef(stype, sid, srel)
                    p = dv.checks.get((d, rid, r, subject))
                    if p is None:
                        p = engine.check(ObjectRef(d, rid), r, subject).permissionship
                    got = _ls_permissionship(found, sid)
                    if got is not p:
                        problems.append(
                            f"LookupSubjects({d}:{rid}#{r}, {stype}"
                            f"{'#' + srel if srel else ''}) says {sid} is {got.name}, "
                            f"check says {p.name}"
                        )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", FILES)
def test_lookup_subjects_returns_every_asserted_subject(path: Path) -> None:
    loaded = load(path)
    problems = []
    for a in loaded.vf.assertions:
        if a.expected is NO:
            continue
        s = a.subject
        found = loaded.engine.lookup_subjects(
            a.resource, a.permission, s.type, s.relation, a.context
        )
        got = _ls_permissionship(found, s.id)
        if got is not a.expected:
            problems.append(f"{path.name}:{a.line}: {a.text}: LookupSubjects gives {got.name}")
    assert not problems, "\n".join(problems)


def _covered(found: FoundSubjects, visited: set[SubjectRef], s: SubjectRef) -> bool:
    if s.relation is not None:
        # A subject set has access by name when the expansion passes through it (SpiceDB
        # aliasing: ``team:t#member`` is a member of anything that expands ``team:t#member``).
        return s in found or s in visited
    return s in found or SubjectRef(s.type, "*") in found


def _visited(node: ExpandNode) -> set[SubjectRef]:
    out = {SubjectRef(node.resource.type, node.resource.id, node.relation)}
    for child in node.children:
        out |= _visited(child)
    return out


@pytest.mark.parametrize("path", FILES)
def test_recursive_expand_agrees_with_check(path: Path) -> None:
    dv = derived(path)
    engine = dv.loaded.engine
    problems = []
    for d, r in dv.targets:
        for rid in dv.ids:
            tree: ExpandNode = engine.expand(ObjectRef(d, rid), r, recursive=True)
            found = found_subjects(tree)
            visited = _visited(tree)
            for s, f in found.items():
                if s.is_wildcard or f.caveated:
                    continue
                p = dv.checks.get((d, rid, r, s))
                if p is None:
                    p = engine.check(ObjectRef(d, rid), r, s).permissionship
                if p is not HAS:
                    problems.append(f"Expand({d}:{rid}#{r}) reaches {s} but check says {p.name}")
            for s in dv.subjects:
                if s == SubjectRef(d, rid, r):
                    continue  # X#r is a member of X#r by identity, not through relationships
                if dv.checks[d, rid, r, s] is not NO and not _covered(found, visited, s):
                    problems.append(f"Expand({d}:{rid}#{r}) misses {s}, which has access")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", FILES)
def test_subjects_with_access_are_of_kinds_the_schema_declares(path: Path) -> None:
    dv = derived(path)
    schema = dv.loaded.engine.schema
    problems = []
    for d, r in dv.targets:
        allowed = reachable_subject_kinds(schema, d, r) | {(d, r)}
        for _rid, s, p in dv.results(d, r):
            if p is not NO and (s.type, s.relation) not in allowed:
                problems.append(f"{s} has {d}#{r} but {s.type}#{s.relation} is not reachable")
    assert not problems, "\n".join(problems)
