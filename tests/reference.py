"""A deliberately simple reference evaluator, for property tests of :mod:`rebac.engine`.

It shares nothing with the engine but the value types (:mod:`rebac.model`) and the schema tree
(:mod:`rebac.schema.ast`), and it is written for obviousness, not speed:

1. **Ground** the schema over the finite set of objects in the data, plus one *fresh* id per
   type (an id that occurs nowhere, standing in for all of them). An *atom* is
   ``(type, id, relation_or_permission)``; a *subject* is ``(type, id, relation | None)`` --
   an object when the relation is ``None``, else a subject set. Every atom is also a subject.
2. Give every atom the **set of subjects** that are its members, for all subjects at once, as
   the well-founded model of the equations below. Without exclusions that is simply their least
   fixpoint; with exclusions it is computed by the alternating fixpoint (Van Gelder): a lower
   bound ``L`` (members for sure) and an upper bound ``U`` (possible members), each the least
   fixpoint with the subtracted sides read from the *other* bound, until both stop moving. On a
   stratified system (no cycle through the subtracted side of an exclusion) ``L == U`` and this is
   exactly evaluation stratum by stratum. Where they still differ, the answer depends on a cycle
   through an exclusion and the reference says *undefined* (``None``).

The equations (conformance README, section 5)::

    member(A)       = {A}                               X#r is always a member of X#r
                    + relation:    each stored subject s of A: {s}; for a subject set s also
                                   member(s); for ``t:*`` every object of type t (fresh too)
                    + permission:  the expression, with
        r           = member(T:i#r)                     a relation or permission of the same name
        a + b       = a | b
        a & b       = a & b
        a - b       = a - b
        nil         = {}
        self        = {T:i}
        ts->p       = union over the stored subjects u of T:i#ts whose *type* has p of
                      member(u.type:u.id#p) (u's subject relation is ignored; types without p
                      contribute nothing)
        ts.all(p)   = intersection of the same, but {} when there are no such subjects or any of
                      them lacks p

Relationships of a relation are kept in a ``networkx.DiGraph`` (atom -> stored subject); the
dependencies between atoms form a second one, whose strongly connected components tell which
atoms sit on (or can reach) a cycle through an exclusion's subtracted side.

:class:`CaveatedReference` extends this to caveats, with three truth values instead of sets:
see its docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

import networkx as nx

from rebac.model import WILDCARD, Relationship, SubjectRef
from rebac.schema import ast

Atom = tuple[str, str, str]
Subject = tuple[str, str, str | None]
Sets = dict[Atom, frozenset[Subject]]

FRESH_ID = "fresh_id"

_EMPTY: frozenset[Subject] = frozenset()


def _definitions(schema: Any) -> tuple[ast.Definition, ...]:
    """Definitions of an ``ast.Schema`` or of a compiled schema (anything with ``.schema``)."""
    if isinstance(schema, ast.Schema):
        return schema.definitions
    inner = getattr(schema, "schema", None)
    if isinstance(inner, ast.Schema):
        return inner.definitions
    raise TypeError(f"expected an ast.Schema or a compiled schema, got {type(schema).__name__}")


@dataclass(frozen=True)
class Answer:
    """The reference's verdict on one question: True / False, or None when undefined."""

    value: bool | None
    cycle_allowed: bool  # the atom can reach a cycle through an exclusion's subtracted side


class Reference:
    """Membership of every subject in every atom of a finite, caveat-free relationship set."""

    #: Whether relationships may carry a caveat (subclasses that evaluate them say so).
    caveats_allowed: ClassVar[bool] = False

    def __init__(
        self,
        schema: Any,
        relationships: Iterable[Relationship],
        *,
        fresh_id: str = FRESH_ID,
    ) -> None:
        self.fresh_id = fresh_id
        self.members: dict[tuple[str, str], ast.Relation | ast.Permission] = {}
        self.type_names: list[str] = []
        for d in _definitions(schema):
            self.type_names.append(d.name)
            for m in d.members:
                self.members[(d.name, m.name)] = m

        # -- the data: a graph from each relation atom to its stored subjects ----------------
        self.data = nx.DiGraph()
        ids: dict[str, set[str]] = {t: {fresh_id} for t in self.type_names}
        for rel in relationships:
            if rel.expires_at is not None or (
                rel.caveat_name is not None and not self.caveats_allowed
            ):
                raise ValueError(f"the reference knows no caveats or expiration: {rel}")
            r, s = rel.resource, rel.subject
            self.data.add_edge(
                (r.type, r.id, rel.relation),
                (s.type, s.id, s.relation),
                caveat=rel.caveat_name,
                context=dict(rel.caveat_context or {}),
            )
            ids[r.type].add(r.id)
            if s.id != WILDCARD:
                ids[s.type].add(s.id)
        self.ids: dict[str, frozenset[str]] = {t: frozenset(v) for t, v in ids.items()}

        # -- the ground universe ------------------------------------------------------------
        self.objects: list[Subject] = [
            (t, i, None) for t in self.type_names for i in sorted(ids[t])
        ]
        self.atoms: list[Atom] = [
            (t, i, name)
            for t in self.type_names
            for i in sorted(ids[t])
            for (mt, name) in self.members
            if mt == t
        ]
        self.subjects: list[Subject] = [*self.objects, *self.atoms]
        self.everyone: frozenset[Subject] = frozenset(self.subjects)
        self._of_type: dict[str, frozenset[Subject]] = {
            t: frozenset(o for o in self.objects if o[0] == t) for t in self.type_names
        }

        self.deps = self._dependency_graph()
        self._evaluate()
        self.cycle_allowed = self._atoms_reaching_negative_cycles()

    def _evaluate(self) -> None:
        """Compute the model (here: the lower and upper bounds of every atom's member set)."""
        self.lower, self.upper = self._well_founded()

    # -- stored relationships ---------------------------------------------------------------------

    def stored(self, atom: Atom) -> list[Subject]:
        """Stored subjects of a relation atom, in a deterministic order."""
        if atom not in self.data:
            return []
        return sorted(self.data.successors(atom), key=lambda s: (s[0], s[1], s[2] or ""))

    def _arrow_targets(self, t: str, i: str, arrow: ast.Arrow) -> list[Atom | None]:
        """Per stored subject of the tupleset: the atom to evaluate, or None if its type lacks
        the target."""
        out: list[Atom | None] = []
        for st, sid, _srel in self.stored((t, i, arrow.tupleset)):
            out.append((st, sid, arrow.target) if (st, arrow.target) in self.members else None)
        return out

    # -- dependency graph (for cycles) ----------------------------------------------------------

    def _dependency_graph(self) -> nx.DiGraph:
        """Atom -> atoms its value reads; ``subtract=True`` on edges under an exclusion's right."""
        g = nx.DiGraph()
        g.add_nodes_from(self.atoms)

        def add(a: Atom, b: Atom, subtract: bool) -> None:
            if g.has_edge(a, b):
                g.edges[a, b]["subtract"] = g.edges[a, b]["subtract"] or subtract
            else:
                g.add_edge(a, b, subtract=subtract)

        def walk(a: Atom, e: ast.Expr, subtract: bool) -> None:
            t, i, _ = a
            if isinstance(e, ast.RelationRef):
                add(a, (t, i, e.name), subtract)
            elif isinstance(e, ast.Union | ast.Intersection):
                for c in e.children:
                    walk(a, c, subtract)
            elif isinstance(e, ast.Exclusion):
                walk(a, e.base, subtract)
                walk(a, e.subtract, True)
            elif isinstance(e, ast.Arrow):
                for target in self._arrow_targets(t, i, e):
                    if target is not None:
                        add(a, target, subtract)

        for a in self.atoms:
            m = self.members[(a[0], a[2])]
            if isinstance(m, ast.Relation):
                for s in self.stored(a):
                    if s[2] is not None:
                        add(a, (s[0], s[1], s[2]), False)
            else:
                walk(a, m.expr, False)
        return g

    def _atoms_reaching_negative_cycles(self) -> frozenset[Atom]:
        bad: set[Atom] = set()
        for scc in nx.strongly_connected_components(self.deps):
            sub = self.deps.subgraph(scc)
            if any(d["subtract"] for _a, _b, d in sub.edges(data=True)):
                bad |= scc
        reaching: set[Atom] = set(bad)
        for a in bad:
            reaching |= nx.ancestors(self.deps, a)
        return frozenset(reaching)

    # -- evaluation -------------------------------------------------------------------------------

    def _expr(self, a: Atom, e: ast.Expr, pos: Sets, neg: Sets) -> frozenset[Subject]:
        """``e`` on atom ``a``: positive occurrences read ``pos``, subtracted ones ``neg``."""
        t, i, _ = a
        if isinstance(e, ast.RelationRef):
            return pos[(t, i, e.name)]
        if isinstance(e, ast.Union):
            out: frozenset[Subject] = _EMPTY
            for c in e.children:
                out |= self._expr(a, c, pos, neg)
            return out
        if isinstance(e, ast.Intersection):
            acc = self._expr(a, e.children[0], pos, neg)
            for c in e.children[1:]:
                acc &= self._expr(a, c, pos, neg)
            return acc
        if isinstance(e, ast.Exclusion):
            # The subtracted side swaps the roles of the two bounds (and swaps them back inside
            # a nested exclusion on that side).
            return self._expr(a, e.base, pos, neg) - self._expr(a, e.subtract, neg, pos)
        if isinstance(e, ast.Nil):
            return _EMPTY
        if isinstance(e, ast.SelfRef):
            return frozenset({(t, i, None)})
        if isinstance(e, ast.Arrow):
            targets = self._arrow_targets(t, i, e)
            if e.function == "any":
                out = _EMPTY
                for target in targets:
                    if target is not None:
                        out |= pos[target]
                return out
            if not targets or any(target is None for target in targets):
                return _EMPTY
            acc = self.everyone
            for target in targets:
                assert target is not None
                acc &= pos[target]
            return acc
        raise TypeError(f"unknown expression {e!r}")

    def _step(self, a: Atom, pos: Sets, neg: Sets) -> frozenset[Subject]:
        members: set[Subject] = {a}
        m = self.members[(a[0], a[2])]
        if isinstance(m, ast.Relation):
            for s in self.stored(a):
                st, sid, srel = s
                if sid == WILDCARD:
                    members |= self._of_type[st]
                elif srel is None:
                    members.add(s)
                else:
                    members |= pos[(st, sid, srel)]
        else:
            members |= self._expr(a, m.expr, pos, neg)
        return frozenset(members)

    def _least(self, neg: Sets) -> Sets:
        """Least fixpoint of the equations with every subtracted side read from ``neg``."""
        cur: Sets = dict.fromkeys(self.atoms, _EMPTY)
        changed = True
        while changed:
            changed = False
            for a in self.atoms:
                v = self._step(a, cur, neg)
                if v != cur[a]:
                    cur[a] = v
                    changed = True
        return cur

    def _well_founded(self) -> tuple[Sets, Sets]:
        upper: Sets = dict.fromkeys(self.atoms, self.everyone)
        lower = self._least(upper)
        while True:
            upper = self._least(lower)
            new_lower = self._least(upper)
            if new_lower == lower:
                return lower, upper
            lower = new_lower

    # -- queries ----------------------------------------------------------------------------------

    def member(self, resource: Atom, subject: Subject) -> bool | None:
        """Is ``subject`` a member of ``resource``? None when it depends on a cycle through an
        exclusion (the well-founded model leaves it undefined).

        Both must lie in the grounded universe; use :data:`FRESH_ID` for "an id that occurs
        nowhere".
        """
        if resource not in self.lower:
            raise KeyError(f"{resource} is not an atom of the grounded universe")
        if subject not in self.everyone:
            raise KeyError(f"{subject} is not a subject of the grounded universe")
        if subject in self.lower[resource]:
            return True
        if subject not in self.upper[resource]:
            return False
        return None

    def answer(self, resource: Atom, subject: Subject) -> Answer:
        return Answer(self.member(resource, subject), resource in self.cycle_allowed)

    def members_of(self, resource: Atom) -> frozenset[Subject]:
        """The subjects that are certainly members of ``resource``."""
        return self.lower[resource]

    def undefined(self) -> set[tuple[Atom, Subject]]:
        """Every (atom, subject) pair the well-founded model leaves undefined."""
        return {(a, s) for a in self.atoms for s in self.upper[a] - self.lower[a]}


def subject_ref(s: Subject) -> SubjectRef:
    return SubjectRef(s[0], s[1], s[2])


# -- three-valued: caveats ------------------------------------------------------------------------
#
# A caveated relationship holds, does not hold, or is *unknown* (a parameter its caveat needs is
# in neither the relationship's stored context nor the request's). Values are Kleene's:
#
#     True                 -- definitely
#     frozenset(missing)   -- unknown, and the parameters whose absence makes it so
#     (absent from a map)  -- definitely not
#
# combined as SpiceDB combines caveat expressions: OR under union and arrows, AND under
# intersection, ``all()`` and along a subject set (the relationship's caveat AND the subject
# set's membership), AND NOT under exclusion; a definite False beats unknown under AND, a
# definite True beats it under OR, NOT keeps an unknown unknown. The missing set of an unknown
# result is the union of the missing sets of the unknown operands it came from.

KValue: TypeAlias = "bool | frozenset[str]"
#: One atom's members: subject -> True or the missing parameters (absent: not a member).
KSet: TypeAlias = "dict[Subject, bool | frozenset[str]]"
KSets: TypeAlias = "dict[Atom, dict[Subject, bool | frozenset[str]]]"
#: A verdict: True, False, unknown (the missing parameters), or None (undefined: the answer
#: depends on a cycle through an exclusion).
Verdict: TypeAlias = "bool | frozenset[str] | None"

_NOTHING: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RefCaveat:
    """A one-parameter caveat the reference evaluates exactly, in Python: ``test(value)``."""

    param: str
    test: Callable[[Any], bool]


def _truth(v: bool | frozenset[str] | None) -> int:
    """Kleene's truth order: False (absent) < unknown < True."""
    if v is True:
        return 2
    return 0 if v is None or v is False else 1


def _k_or(a: KSet, b: KSet) -> KSet:
    if not a:
        return b
    if not b:
        return a
    out = dict(a)
    for s, v in b.items():
        w = out.get(s)
        if w is None:
            out[s] = v
        elif w is True or v is True:
            out[s] = True
        else:
            assert isinstance(w, frozenset) and isinstance(v, frozenset)
            out[s] = w | v
    return out


def _k_and(a: KSet, b: KSet) -> KSet:
    small, big = (a, b) if len(a) <= len(b) else (b, a)
    out: KSet = {}
    for s, v in small.items():
        w = big.get(s)
        if w is None:
            continue
        if v is True:
            out[s] = w
        elif w is True:
            out[s] = v
        else:
            assert isinstance(w, frozenset) and isinstance(v, frozenset)
            out[s] = w | v
    return out


def _k_and_not(a: KSet, b: KSet) -> KSet:
    out: KSet = {}
    for s, v in a.items():
        w = b.get(s)
        if w is None:
            out[s] = v
        elif w is True:
            continue
        else:
            assert isinstance(w, frozenset)
            out[s] = w | v if isinstance(v, frozenset) else w
    return out


def _k_scale(c: KValue, a: KSet) -> KSet:
    """``c AND member`` for every member of ``a`` (a relationship's caveat along its subject)."""
    if c is False:
        return {}
    if c is True:
        return a
    assert isinstance(c, frozenset)
    return {s: v | c if isinstance(v, frozenset) else c for s, v in a.items()}


def _strip(a: KSet) -> KSet:
    """Forget the missing sets, keep the truth values."""
    return {s: True if v is True else _NOTHING for s, v in a.items()}


class CaveatedReference(Reference):
    """The reference with caveats: every (atom, subject) gets a Kleene value, not a yes/no.

    Caveats are :class:`RefCaveat` (one parameter, a Python predicate), so the reference never
    needs CEL. A relationship's caveat is evaluated with its stored context over the request's
    ``context`` (the stored value wins for the same parameter); a missing parameter makes it
    unknown, missing that parameter.

    The model is the well-founded one, as for :class:`Reference`, over Kleene's truth order
    (False < unknown < True): a lower and an upper bound, each the least fixpoint of the
    equations with the subtracted sides read from the other, until the lower bound stops
    moving. Where the two bounds' truth values differ the answer is undefined (``None``).

    Missing sets are computed separately from truth: first the least fixpoint of the truth
    values alone, then, with those fixed, the least fixpoint of the missing sets starting from
    empty ones. That makes an unknown's set exactly the parameters of the unknown caveats
    reachable from it through unknown operands (along cycles too), and never a stale parameter
    of an operand that has since become True. A defined unknown reports the union of both
    bounds' sets (they coincide where no exclusion cycle is near).
    """

    caveats_allowed = True

    def __init__(
        self,
        schema: Any,
        relationships: Iterable[Relationship],
        caveats: Mapping[str, RefCaveat],
        context: Mapping[str, Any] | None = None,
        *,
        fresh_id: str = FRESH_ID,
    ) -> None:
        self.caveat_defs = dict(caveats)
        self.context = dict(context or {})
        super().__init__(schema, relationships, fresh_id=fresh_id)

    # -- relationships' caveats -------------------------------------------------------------

    def caveat_value(self, name: str | None, stored: Mapping[str, Any]) -> KValue:
        """The value of a relationship's caveat (True when it has none)."""
        if name is None:
            return True
        caveat = self.caveat_defs[name]
        merged = {**self.context, **stored}
        if caveat.param not in merged:
            return frozenset({caveat.param})
        return bool(caveat.test(merged[caveat.param]))

    def stored_values(self, atom: Atom) -> list[tuple[Subject, KValue]]:
        """Stored subjects of a relation atom with the value of each relationship's caveat."""
        out: list[tuple[Subject, KValue]] = []
        for s in self.stored(atom):
            edge = self.data.edges[atom, s]
            out.append((s, self.caveat_value(edge["caveat"], edge["context"])))
        return out

    # -- evaluation ---------------------------------------------------------------------------

    def _kexpr(self, a: Atom, e: ast.Expr, pos: KSets, neg: KSets) -> KSet:
        t, i, _ = a
        if isinstance(e, ast.RelationRef):
            return pos[(t, i, e.name)]
        if isinstance(e, ast.Union):
            out: KSet = {}
            for c in e.children:
                out = _k_or(out, self._kexpr(a, c, pos, neg))
            return out
        if isinstance(e, ast.Intersection):
            acc = self._kexpr(a, e.children[0], pos, neg)
            for c in e.children[1:]:
                acc = _k_and(acc, self._kexpr(a, c, pos, neg))
            return acc
        if isinstance(e, ast.Exclusion):
            base = self._kexpr(a, e.base, pos, neg)
            return _k_and_not(base, self._kexpr(a, e.subtract, neg, pos))
        if isinstance(e, ast.Nil):
            return {}
        if isinstance(e, ast.SelfRef):
            return {(t, i, None): True}
        if isinstance(e, ast.Arrow):
            branches: list[KSet | None] = []
            for (st, sid, _srel), cav in self.stored_values((t, i, e.tupleset)):
                target = (st, sid, e.target)
                # The relationship's caveat AND the target's membership, per stored subject;
                # None when the subject's type lacks the target.
                branches.append(
                    _k_scale(cav, pos[target]) if (st, e.target) in self.members else None
                )
            if e.function == "any":
                out = {}
                for b in branches:
                    if b is not None:
                        out = _k_or(out, b)
                return out
            if not branches or any(b is None for b in branches):
                return {}
            every: KSet = dict.fromkeys(self.everyone, True)
            for b in branches:
                assert b is not None
                every = _k_and(every, b)
            return every
        raise TypeError(f"unknown expression {e!r}")

    def _kstep(self, a: Atom, pos: KSets, neg: KSets) -> KSet:
        out: KSet = {a: True}  # X#r is always a member of X#r
        m = self.members[(a[0], a[2])]
        if isinstance(m, ast.Relation):
            for s, c in self.stored_values(a):
                st, sid, srel = s
                if sid == WILDCARD:
                    found: KSet = dict.fromkeys(self._of_type[st], True)
                elif srel is None:
                    found = {s: True}
                else:
                    found = pos[(st, sid, srel)]
                out = _k_or(out, _k_scale(c, found))
            return out
        return _k_or(out, self._kexpr(a, m.expr, pos, neg))

    def _kleast(self, neg: KSets) -> KSets:
        """Least fixpoint with every subtracted side read from ``neg``: truth values first (sets
        forgotten at every step), then the missing sets from empty with the truth fixed."""
        cur: KSets = {a: {} for a in self.atoms}
        for keep_sets in (False, True):
            changed = True
            while changed:
                changed = False
                for a in self.atoms:
                    v = self._kstep(a, cur, neg)
                    if not keep_sets:
                        v = _strip(v)
                    if v != cur[a]:
                        cur[a] = v
                        changed = True
        return cur

    @staticmethod
    def _truths(sets: KSets) -> dict[Atom, dict[Subject, int]]:
        return {a: {s: _truth(v) for s, v in m.items()} for a, m in sets.items()}

    def _evaluate(self) -> None:
        upper: KSets = {a: dict.fromkeys(self.everyone, True) for a in self.atoms}
        lower = self._kleast(upper)
        while True:
            upper = self._kleast(lower)
            new_lower = self._kleast(upper)
            settled = self._truths(new_lower) == self._truths(lower)
            lower = new_lower
            if settled:
                break
        self.klower, self.kupper = lower, upper
        # The base class's set views: certain members (True) and possible ones.
        self.lower = {a: frozenset(s for s, v in m.items() if v is True) for a, m in lower.items()}
        self.upper = {a: frozenset(m) for a, m in upper.items()}

    # -- queries ------------------------------------------------------------------------------

    def verdict(self, resource: Atom, subject: Subject) -> Verdict:
        """True, False, the missing parameters (unknown), or None (undefined)."""
        if resource not in self.klower:
            raise KeyError(f"{resource} is not an atom of the grounded universe")
        if subject not in self.everyone:
            raise KeyError(f"{subject} is not a subject of the grounded universe")
        lo = self.klower[resource].get(subject, False)
        hi = self.kupper[resource].get(subject, False)
        if _truth(lo) != _truth(hi):
            return None
        if lo is True or lo is False:
            return lo
        assert isinstance(lo, frozenset) and isinstance(hi, frozenset)
        return lo | hi

    def member(self, resource: Atom, subject: Subject) -> bool | None:
        """Definite membership only: True, False, or None when unknown or undefined."""
        v = self.verdict(resource, subject)
        return v if v is True or v is False else None

    def undefined(self) -> set[tuple[Atom, Subject]]:
        return {
            (a, s)
            for a in self.atoms
            for s in self.everyone
            if _truth(self.klower[a].get(s)) != _truth(self.kupper[a].get(s))
        }
