"""What the evaluator needs to know about a schema, derived once per schema version.

* ``members``: ``(type, name)`` -> the relation or permission, with each permission's expression
  compiled into a closure (see :mod:`rebac.engine.check`) so the hot path never inspects syntax.
* ``reach``: ``(type, name)`` -> every ``(subject_type, subject_relation)`` that can possibly be a
  member. The checker skips a whole group of subject sets, or an arrow branch, when the subject
  it looks for cannot be reached through it -- the main pruning of the search.
* reverse references (``computed_users``, ``arrow_users``, ``self_users``) so lookup-resources can
  walk from a subject up to the permissions that may contain it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rebac.engine.flat import FlatMember, flat_members
from rebac.engine.values import Value
from rebac.schema import ast

if TYPE_CHECKING:
    from rebac.caveats import CompiledCaveat
    from rebac.schema.compiler import CompiledSchema

SubjectKind = tuple[str, str | None]  # (subject type, subject relation or None for objects)
#: See Plan.pure_uses: (by-subject use key, pure set kind, its type, its relation).
PureUse = tuple[Any, Any, str, str]
#: See Plan.set_roles: (is the subject set pure, its shared kind).
SetRole = tuple[bool, Any]


@dataclass(slots=True)
class RelationInfo:
    type: str
    name: str
    allowed: tuple[ast.AllowedType, ...]
    wildcard_types: frozenset[str]


@dataclass(slots=True)
class PermissionInfo:
    type: str
    name: str
    expr: ast.Expr


Member = RelationInfo | PermissionInfo


def walk_expr(expr: ast.Expr, positive: bool = True) -> Iterator[tuple[ast.Expr, bool]]:
    """Yield every node of ``expr`` with its polarity (False under an exclusion's right side)."""
    yield expr, positive
    if isinstance(expr, ast.Union | ast.Intersection):
        for child in expr.children:
            yield from walk_expr(child, positive)
    elif isinstance(expr, ast.Exclusion):
        yield from walk_expr(expr.base, positive)
        yield from walk_expr(expr.subtract, not positive)


class Plan:
    """Evaluation plan for one compiled schema. Immutable once built; shared across threads."""

    def __init__(self, schema: CompiledSchema, caveats: Mapping[str, CompiledCaveat]):
        self.schema = schema
        self.caveats = caveats
        self.members: dict[tuple[str, str], Member] = {}
        for (t, name), rel in schema.relations.items():
            wild = frozenset(a.type for a in rel.allowed if a.wildcard)
            self.members[(t, name)] = RelationInfo(t, name, rel.allowed, wild)
        for (t, name), perm in schema.permissions.items():
            self.members[(t, name)] = PermissionInfo(t, name, perm.expr)
        self.reach = self._compute_reach()
        #: Subject types some relation allows as a wildcard (``user:*``).
        self.wildcard_types = frozenset(
            t
            for m in self.members.values()
            if isinstance(m, RelationInfo)
            for t in m.wildcard_types
        )
        self._leading_to: dict[SubjectKind, frozenset[tuple[str, str]]] = {}
        self._for_objects: dict[str, dict[str, dict[str, SetRole]]] = {}
        self.pure_sets = self._compute_pure_sets()
        # The same, as a tuple: the membership walks iterate it per visited object.
        self.pure_list: tuple[tuple[str, str], ...] = tuple(sorted(self.pure_sets))
        self._pure_uses: dict[str | None, tuple[PureUse, ...]] = {}
        self._kinds: dict[str, dict[str, Any]] = {}
        self._set_roles: dict[SubjectKind, dict[str, dict[str, SetRole]]] = {}
        self.grant_relations = self._compute_grant_relations()
        self.computed_users: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.arrow_users: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)
        self.self_users: dict[str, list[str]] = defaultdict(list)
        self._compute_reverse()
        # Relations whose subjects never need a dispatch (objects, wildcards, pure sets), and
        # the permissions that read only those through unions and arrows (see flat.py).
        self.leaf_relations = frozenset(
            key
            for key, m in self.members.items()
            if isinstance(m, RelationInfo)
            and all(a.relation is None or (a.type, a.relation) in self.pure_sets for a in m.allowed)
        )
        self.flat: dict[tuple[str, str], FlatMember] = flat_members(
            {k: m.expr for k, m in self.members.items() if isinstance(m, PermissionInfo)},
            self.leaf_relations,
            {
                k: self.tupleset_types(*k)
                for k, m in self.members.items()
                if isinstance(m, RelationInfo)
            },
            frozenset(self.members),
        )
        # The same two, by type then name, for the check path's lookups: two lookups of
        # interned strings cost less than building and hashing a (type, name) tuple.
        self.flat_by_type: dict[str, dict[str, FlatMember]] = {}
        for (t, name), fm in self.flat.items():
            self.flat_by_type.setdefault(t, {})[name] = fm
        self.leaves_by_type: dict[str, frozenset[str]] = {
            t: frozenset(name for lt, name in self.leaf_relations if lt == t)
            for t in {lt for lt, _ in self.leaf_relations}
        }
        #: Relations a flat member follows as an arrow's tupleset: a change to one of them
        #: can change flattened entries (learned.py).
        self.flat_tuplesets = frozenset(
            (t, tupleset) for (t, _), m in self.flat.items() for tupleset, _ in m.arrows
        )
        # Imported late: check.py imports this module for its types.
        from rebac.engine.check import compile_expression, flat_evaluator, relation_evaluator

        # (type, name) -> f(checker, type, id): what dispatch calls for each subproblem.
        self.evaluators: dict[tuple[str, str], Callable[..., Value]] = {}
        for key, m in self.members.items():
            if isinstance(m, PermissionInfo):
                evaluate = compile_expression(m.expr, m.type, self)
                if key in self.flat:
                    evaluate = flat_evaluator(m.name, evaluate)
                self.evaluators[key] = evaluate
            else:
                self.evaluators[key] = relation_evaluator(m.name)
        # For validating a check cheaply (set tests of interned names, no tuple keys): the
        # defined types, and the member names of each.
        self.type_names = frozenset(schema.definitions)
        self.member_names: dict[str, frozenset[str]] = {
            t: frozenset(name for mt, name in self.members if mt == t) for t in self.type_names
        }

    def kind(self, type_name: str, relation: str) -> Any:
        """The one shared ``(type, relation)`` tuple of a subject-set kind: dicts keyed by
        it then match by identity (typed Any so that a compiled build keeps the object)."""
        found = self._kinds.get(type_name)
        if found is None:
            found = self._kinds[type_name] = {}
        shared = found.get(relation)
        if shared is None:
            shared = (type_name, relation)
            found[relation] = shared
        return shared

    def set_roles(self, kind: SubjectKind) -> dict[str, dict[str, SetRole]]:
        """For a subject of ``kind``: what ``type#relation`` -- a subject set found in a
        slot, or an arrow's target -- is to it, by type then relation: absent when the schema
        says it cannot lead to the subject (Plan.leading_to); else whether it is a pure set
        (answered from memberships) and its shared kind. Computed once per subject kind:
        the check path asks it per subject set and per arrow target."""
        found = self._set_roles.get(kind)
        if found is None:
            found = {}
            for t, relation in self.leading_to(kind):
                found.setdefault(t, {})[relation] = (
                    (t, relation) in self.pure_sets,
                    self.kind(t, relation),
                )
            self._set_roles[kind] = found
        return found

    def pure_uses(self, subject_relation: str | None) -> tuple[PureUse, ...]:
        """For a subject used with ``subject_relation``: per pure set ``(type, relation)``,
        the by-subject key of that use, the pure set's kind, its type and its relation.

        Built once per subject relation so that the membership walks look uses up with keys
        that already exist (typed Any: a compiled build would rebuild a typed tuple)."""
        found = self._pure_uses.get(subject_relation)
        if found is None:
            uses: list[PureUse] = []
            for rtype, relation in self.pure_list:
                use_key: Any = (rtype, relation, subject_relation)
                uses.append((use_key, self.kind(rtype, relation), rtype, relation))
            found = self._pure_uses[subject_relation] = tuple(uses)
        return found

    def flat_member(self, type_name: str, name: str) -> FlatMember | None:
        """The flat member ``type_name#name``, if it is one (see flat.py)."""
        of_type = self.flat_by_type.get(type_name)
        return None if of_type is None else of_type.get(name)

    def is_leaf(self, type_name: str, name: str) -> bool:
        """Is ``type_name#name`` a leaf relation (its subjects never need a dispatch)?"""
        of_type = self.leaves_by_type.get(type_name)
        return of_type is not None and name in of_type

    def for_subject(
        self, subject_type: str, subject_relation: str | None
    ) -> dict[str, dict[str, SetRole]]:
        """:meth:`set_roles` of a subject's kind; an object's kept by type (the common
        question, asked per checker: no (type, None) tuple to build)."""
        if subject_relation is None:
            found = self._for_objects.get(subject_type)
            if found is None:
                found = self._for_objects[subject_type] = self.set_roles((subject_type, None))
            return found
        return self.set_roles((subject_type, subject_relation))

    def leading_to(self, kind: SubjectKind) -> frozenset[tuple[str, str]]:
        """The members whose evaluation can reach a subject of ``kind`` (the inverse of
        ``reach``, per subject kind, computed once and kept: checks ask it every time)."""
        found = self._leading_to.get(kind)
        if found is None:
            found = frozenset(k for k, kinds in self.reach.items() if kind in kinds)
            self._leading_to[kind] = found
        return found

    def member(self, type_name: str, name: str) -> Member | None:
        return self.members.get((type_name, name))

    def tupleset_types(self, type_name: str, relation: str) -> tuple[str, ...]:
        m = self.members.get((type_name, relation))
        if not isinstance(m, RelationInfo):
            return ()
        return tuple(dict.fromkeys(a.type for a in m.allowed))

    def _compute_reach(self) -> dict[tuple[str, str], frozenset[SubjectKind]]:
        reach: dict[tuple[str, str], set[SubjectKind]] = {k: {k} for k in self.members}
        changed = True
        while changed:
            changed = False
            for key, m in self.members.items():
                acc = reach[key]
                before = len(acc)
                if isinstance(m, RelationInfo):
                    for a in m.allowed:
                        acc.add((a.type, a.relation))
                        if a.relation is not None and (a.type, a.relation) in reach:
                            acc |= reach[(a.type, a.relation)]
                else:
                    for node, _pos in walk_expr(m.expr):
                        if isinstance(node, ast.RelationRef):
                            acc |= reach.get((m.type, node.name), set())
                        elif isinstance(node, ast.Arrow):
                            for t in self.tupleset_types(m.type, node.tupleset):
                                acc |= reach.get((t, node.target), set())
                        elif isinstance(node, ast.SelfRef):
                            acc.add((m.type, None))
                if len(acc) != before:
                    changed = True
        return {k: frozenset(v) for k, v in reach.items()}

    def _compute_pure_sets(self) -> frozenset[tuple[str, str]]:
        """Relations used as subject sets whose membership is plain reachability.

        A relation is *pure* when none of its allowed types carries a caveat and every subject
        set it allows is itself a pure relation (not a permission). Membership in a pure
        relation is exactly "there is a path of unexpired relationships from the subject", so
        the checker can answer it from one reverse walk per request instead of a dispatch per
        nested group (Zanzibar's Leopard idea, computed on demand).
        """
        pure = {
            key
            for key, m in self.members.items()
            if isinstance(m, RelationInfo) and all(a.caveat is None for a in m.allowed)
        }
        changed = True
        while changed:
            changed = False
            for key in list(pure):
                m = self.members[key]
                assert isinstance(m, RelationInfo)
                if any(
                    a.relation is not None and (a.type, a.relation) not in pure for a in m.allowed
                ):
                    pure.discard(key)
                    changed = True
        used_as_sets = {
            (a.type, a.relation)
            for m in self.members.values()
            if isinstance(m, RelationInfo)
            for a in m.allowed
            if a.relation is not None
        }
        return frozenset(pure & used_as_sets)

    def _compute_grant_relations(self) -> dict[tuple[str, str], frozenset[tuple[str, str]]]:
        """For each member: the relations whose stored relationships can name the subject --
        or one of its pure memberships -- directly, somewhere in its evaluation.

        If the subject (an object) appears on none of them, it cannot be a member, whatever
        the data: the checker skips such a branch without walking it. Members whose
        evaluation can succeed without such a relationship (``self``) are left out.
        """
        acc: dict[tuple[str, str], set[tuple[str, str]]] = {k: set() for k in self.members}
        open_ended: set[tuple[str, str]] = set()
        changed = True
        while changed:
            changed = False
            for key, m in self.members.items():
                before = (len(acc[key]), key in open_ended)
                parts: list[tuple[str, str]] = []
                if isinstance(m, RelationInfo):
                    acc[key].add(key)
                    parts = [
                        (a.type, a.relation)
                        for a in m.allowed
                        if a.relation is not None and (a.type, a.relation) not in self.pure_sets
                    ]
                else:
                    for node, _pos in walk_expr(m.expr):
                        if isinstance(node, ast.RelationRef):
                            parts.append((m.type, node.name))
                        elif isinstance(node, ast.Arrow):
                            parts.extend(
                                (t, node.target) for t in self.tupleset_types(m.type, node.tupleset)
                            )
                        elif isinstance(node, ast.SelfRef):
                            open_ended.add(key)
                for part in parts:
                    if part in acc:
                        acc[key] |= acc[part]
                        if part in open_ended:
                            open_ended.add(key)
                if (len(acc[key]), key in open_ended) != before:
                    changed = True
        return {k: frozenset(v) for k, v in acc.items() if k not in open_ended}

    def _compute_reverse(self) -> None:
        for m in self.members.values():
            if not isinstance(m, PermissionInfo):
                continue
            for node, positive in walk_expr(m.expr):
                if not positive:
                    continue
                if isinstance(node, ast.RelationRef):
                    self.computed_users[(m.type, node.name)].append(m.name)
                elif isinstance(node, ast.Arrow):
                    for t in self.tupleset_types(m.type, node.tupleset):
                        if (t, node.target) in self.members:
                            self.arrow_users[(t, node.target)].append(
                                (m.type, node.tupleset, m.name)
                            )
                elif isinstance(node, ast.SelfRef):
                    self.self_users[m.type].append(m.name)
