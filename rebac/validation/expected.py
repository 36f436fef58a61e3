"""Expected relations: the ``validation`` section of a validation file.

Each key ``type:id#relation`` lists, one per line, every subject that a *fully recursive*
expansion of that key reaches, with the relations that directly hold it::

    [user:tom] is <document:d#writer>
    [user:fred] is <document:d#reader>/<document:d#writer>
    [user:someuser[...]] is <document:d#viewer>                 # reached only under a caveat
    [user:* - {user:banned1, user:banned2[...]}] is <document:d#viewer>

Checking follows ``zed validate``: expand recursively, fold the tree into "found subjects"
(union / intersection / exclusion over subjects, with wildcard exclusions and a caveated
marker), then require the same subjects, each with the same parent relations, caveat marker and
wildcard exclusions. Caveats are tracked as a marker only ("may depend on a caveat"), which is
all the notation can express.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rebac.errors import InvalidRequest
from rebac.model import ObjectRef, SubjectRef

if TYPE_CHECKING:
    from rebac.engine.expand import ExpandNode

_SUBJECT_RE = re.compile(
    r"^(?P<subject>[^]\s]+)(?P<caveat>\[\.\.\.\])?(\s+-\s+\{(?P<exceptions>[^}]+)\})?$"
)
_RESOURCE_RE = re.compile(r"<(?P<onr>[^>]+)>")
_EXCEPTION_RE = re.compile(r"^(?P<subject>[^]\s\[]+)(?P<caveat>\[\.\.\.\])?$")


@dataclass(frozen=True, slots=True)
class ExpectedSubject:
    """A subject with its caveated marker; for a wildcard, the subjects it leaves out."""

    subject: SubjectRef
    caveated: bool = False
    excluded: frozenset[tuple[SubjectRef, bool]] = frozenset()

    def __str__(self) -> str:
        text = str(self.subject) + ("[...]" if self.caveated else "")
        if self.excluded:
            shown = sorted(str(s) + ("[...]" if c else "") for s, c in self.excluded)
            text += " - {" + ", ".join(shown) + "}"
        return text


@dataclass(frozen=True, slots=True)
class ExpectedRelation:
    """One line: ``[subject] is <resource#relation>/<...>``."""

    subject: ExpectedSubject
    resources: frozenset[str]
    text: str = field(default="", compare=False)
    line: int | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"[{self.subject}] is " + "/".join(f"<{r}>" for r in sorted(self.resources))


def parse_relation_key(text: str) -> tuple[ObjectRef, str]:
    """``type:id#relation`` (the relation is required)."""
    obj_text, sep, relation = text.strip().partition("#")
    if not sep or not relation:
        raise InvalidRequest(
            f"invalid expected-relations key {text!r}: expected 'type:id#relation'"
        )
    return ObjectRef.parse(obj_text), relation


def _parse_subject(text: str) -> SubjectRef:
    subject = SubjectRef.parse(text)
    if subject.is_wildcard and subject.relation is not None:
        raise InvalidRequest(f"a wildcard subject cannot have a relation: {text!r}")
    return subject


def parse_expected_relation(text: str, line: int | None = None) -> ExpectedRelation:
    """Parse one expected-relation line; raises :class:`InvalidRequest`."""
    stripped = text.strip()
    start, end = stripped.find("["), stripped.rfind("]")
    if start < 0 or end <= start:
        raise InvalidRequest(f"expected relation {stripped!r} is missing a [subject]")
    m = _SUBJECT_RE.match(stripped[start + 1 : end].strip())
    if m is None:
        raise InvalidRequest(f"invalid subject in expected relation {stripped!r}")
    subject = _parse_subject(m["subject"])
    excluded: set[tuple[SubjectRef, bool]] = set()
    if m["exceptions"]:
        if not subject.is_wildcard:
            raise InvalidRequest(f"only a wildcard can have exclusions: {stripped!r}")
        for part in m["exceptions"].split(","):
            em = _EXCEPTION_RE.match(part.strip())
            if em is None:
                raise InvalidRequest(f"invalid excluded subject {part.strip()!r} in {stripped!r}")
            excluded.add((_parse_subject(em["subject"]), em["caveat"] is not None))
    resources: set[str] = set()
    for rm in _RESOURCE_RE.finditer(stripped[end + 1 :]):
        obj, relation = parse_relation_key(rm["onr"])
        resources.add(f"{obj}#{relation}")
    return ExpectedRelation(
        ExpectedSubject(subject, m["caveat"] is not None, frozenset(excluded)),
        frozenset(resources),
        stripped,
        line,
    )


# -- found subjects of an expansion tree ------------------------------------------------------


@dataclass(slots=True)
class FoundSubject:
    """A subject reached by an expansion: caveated marker, parent relations (``type:id#rel``)
    and, for a wildcard, the subjects it leaves out (each with its own caveated marker)."""

    caveated: bool
    resources: set[str]
    excluded: dict[SubjectRef, bool] = field(default_factory=dict)  # wildcards only


FoundSubjects = dict[SubjectRef, FoundSubject]


def _wild(subject: SubjectRef) -> SubjectRef:
    return SubjectRef(subject.type, "*")


def _covers(wildcard: FoundSubject, subject: SubjectRef) -> tuple[bool, bool]:
    """(covered, caveated) of ``subject`` under ``wildcard``."""
    if subject in wildcard.excluded:
        exclusion_caveated = wildcard.excluded[subject]
        return exclusion_caveated, wildcard.caveated or exclusion_caveated
    return True, wildcard.caveated


def _union(a: FoundSubjects, b: FoundSubjects) -> FoundSubjects:
    out = {k: FoundSubject(v.caveated, set(v.resources), dict(v.excluded)) for k, v in a.items()}
    for k, v in b.items():
        mine = out.get(k)
        if mine is None:
            out[k] = FoundSubject(v.caveated, set(v.resources), dict(v.excluded))
            continue
        mine.caveated = mine.caveated and v.caveated
        mine.resources |= v.resources
        if k.is_wildcard:
            # Left out of the union only if left out of both wildcards.
            mine.excluded = {
                s: c or v.excluded[s] for s, c in mine.excluded.items() if s in v.excluded
            }
    for k, v in out.items():
        if k.is_wildcard or k.relation is not None:
            continue
        wild = out.get(_wild(k))
        if wild is not None and k in wild.excluded:
            if v.caveated:
                wild.excluded[k] = True
            else:
                del wild.excluded[k]
    return out


def _intersection(a: FoundSubjects, b: FoundSubjects) -> FoundSubjects:
    out: FoundSubjects = {}
    for x, y in ((a, b), (b, a)):
        for k, v in x.items():
            if k.is_wildcard:
                continue
            other = y.get(k)
            wild = y.get(_wild(k)) if k.relation is None else None
            caveated: bool | None = None
            resources = set(v.resources)
            if other is not None:
                caveated = v.caveated or other.caveated
                resources |= other.resources
            if wild is not None:
                covered, cav = _covers(wild, k)
                if covered:
                    via = v.caveated or cav
                    caveated = via if caveated is None else caveated and via
                    resources |= wild.resources
            if caveated is None:
                continue
            prev = out.get(k)
            if prev is None:
                out[k] = FoundSubject(caveated, resources)
            else:
                prev.caveated = prev.caveated and caveated
                prev.resources |= resources
    for k, v in a.items():
        if k.is_wildcard and k in b:
            w = b[k]
            excluded = dict(v.excluded)
            for s, c in w.excluded.items():
                excluded[s] = excluded[s] and c if s in excluded else c
            out[k] = FoundSubject(v.caveated or w.caveated, v.resources | w.resources, excluded)
    return out


def _difference(a: FoundSubjects, b: FoundSubjects) -> FoundSubjects:
    out: FoundSubjects = {}
    for k, v in a.items():
        if k.is_wildcard:
            continue
        caveated = v.caveated
        other = b.get(k)
        if other is not None:
            if not other.caveated:
                continue
            caveated = True
        wild = b.get(_wild(k)) if k.relation is None else None
        if wild is not None:
            covered, cav = _covers(wild, k)
            if covered:
                if not cav:
                    continue
                caveated = True
        out[k] = FoundSubject(caveated, set(v.resources))
    for k, v in a.items():
        if not k.is_wildcard:
            continue
        excluded = dict(v.excluded)
        for s, found in b.items():
            if s.type == k.type and s.relation is None and not s.is_wildcard:
                excluded[s] = excluded.get(s, True) and found.caveated
        sub = b.get(k)
        if sub is not None:
            # What the subtracted wildcard leaves out is still covered by ours.
            for s, c in sub.excluded.items():
                if s in v.excluded and not v.excluded[s]:
                    continue
                out[s] = FoundSubject(v.caveated or c or s in v.excluded, set(v.resources))
            if not sub.caveated:
                continue
        out[k] = FoundSubject(v.caveated or sub is not None, set(v.resources), excluded)
    return out


def found_subjects(node: ExpandNode, caveated: bool = False) -> FoundSubjects:
    """Fold a recursive expansion into subjects with their parent relations (zed semantics).

    A node reached through a caveated relationship (``node.caveat``) makes everything below it
    caveated.
    """
    caveated = caveated or node.caveat is not None
    if node.kind == "leaf":
        parent = f"{node.resource}#{node.relation}"
        out: FoundSubjects = {}
        for s in node.subjects:
            cav = caveated or s.caveat is not None
            prev = out.get(s.subject)
            if prev is None:
                out[s.subject] = FoundSubject(cav, {parent})
            else:
                prev.caveated = prev.caveated and cav
        return out
    if not node.children:
        return {}
    acc = found_subjects(node.children[0], caveated)
    for child in node.children[1:]:
        other = found_subjects(child, caveated)
        if node.kind == "union":
            acc = _union(acc, other)
        elif node.kind == "intersection":
            acc = _intersection(acc, other)
        else:
            acc = _difference(acc, other)
    return acc


def expected_from_tree(node: ExpandNode) -> list[ExpectedRelation]:
    """The expected-relation lines a recursive expansion produces (what ``--update`` writes)."""
    out = []
    for subject, f in found_subjects(node).items():
        exp = ExpectedSubject(subject, f.caveated, frozenset(f.excluded.items()))
        out.append(ExpectedRelation(exp, frozenset(f.resources)))
    out.sort(key=str)
    return out


def compare_expected(
    expected: Iterable[ExpectedRelation], actual: Iterable[ExpectedRelation]
) -> list[str]:
    """Human-readable differences; empty when the listed relations match exactly."""
    want = {e.subject.subject: e for e in expected}
    have = {a.subject.subject: a for a in actual}
    problems: list[str] = []
    for subject in sorted(want.keys() | have.keys(), key=str):
        w, h = want.get(subject), have.get(subject)
        if h is None:
            assert w is not None
            problems.append(f"expected subject {subject} is not reachable (listed as {w})")
        elif w is None:
            problems.append(f"subject {subject} is reachable but not listed: {h}")
        elif w != h:
            problems.append(f"subject {subject}: expected {w}, found {h}")
    return problems
