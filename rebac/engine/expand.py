"""Expand: the userset tree of ``resource#permission``, one level or fully recursive.

Mirrors SpiceDB's ExpandPermissionTree: a permission's expression becomes union / intersection /
exclusion nodes; a relation becomes a leaf listing its stored subjects (subject sets included,
unexpanded); an arrow becomes a union of the target expanded on each object its tupleset points
at. With ``recursive=True`` every subject set in a leaf is expanded too (what validation files'
expected relations are computed from); a subject set already being expanded is not re-entered,
so cycles in the data terminate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from rebac.engine.check import check_deadline
from rebac.engine.index import INF, IndexView, slot_edges
from rebac.engine.plan import PermissionInfo, Plan
from rebac.errors import MaximumDepthExceeded
from rebac.model import ObjectRef, SubjectRef
from rebac.schema import ast

NodeKind = Literal["union", "intersection", "exclusion", "leaf"]


@dataclass(frozen=True, slots=True)
class ExpandedSubject:
    subject: SubjectRef
    caveat: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExpandNode:
    """One node of the tree. ``resource``/``relation`` name what it expands, where it
    corresponds to a relation or permission (operator nodes inside an expression have the
    enclosing permission's)."""

    kind: NodeKind
    resource: ObjectRef
    relation: str
    children: tuple[ExpandNode, ...] = ()
    subjects: tuple[ExpandedSubject, ...] = ()
    # The caveat of the relationship this node was reached through (an arrow's tupleset
    # relationship, or a subject-set relationship when expanding recursively): everything below
    # holds only when it does.
    caveat: str | None = None

    def leaves(self) -> list[ExpandNode]:
        if self.kind == "leaf":
            return [self]
        return [leaf for c in self.children for leaf in c.leaves()]


class Expander:
    def __init__(
        self,
        plan: Plan,
        index: IndexView,
        *,
        now: float,
        max_depth: int,
        recursive: bool,
        deadline: float | None = None,
    ):
        self.deadline = deadline
        self.plan = plan
        self.index = index
        self.now = now
        self.max_depth = max_depth
        self.recursive = recursive
        self.active: set[tuple[str, str, str]] = set()

    def expand(self, rtype: str, rid: str, rel: str, depth: int = 0) -> ExpandNode:
        if depth >= self.max_depth:
            raise MaximumDepthExceeded(self.max_depth, (f"{rtype}:{rid}#{rel}",))
        check_deadline(self.deadline)
        member = self.plan.members.get((rtype, rel))
        obj = ObjectRef(rtype, rid)
        key = (rtype, rid, rel)
        if member is None or key in self.active:
            return ExpandNode("leaf", obj, rel)
        self.active.add(key)
        try:
            if isinstance(member, PermissionInfo):
                return self._expr(member.expr, obj, rel, depth)
            return self._relation(obj, rel, depth)
        finally:
            self.active.discard(key)

    def _relation(self, obj: ObjectRef, rel: str, depth: int) -> ExpandNode:
        node = self.index.slot(obj.type, obj.id, rel)
        subjects: list[ExpandedSubject] = []
        nested: list[ExpandNode] = []
        for (st, sid, srel), e in slot_edges(node):
            if e.expires <= self.now:
                continue
            exp = None if e.expires == INF else datetime.fromtimestamp(e.expires, UTC)
            subject = SubjectRef(st, sid, srel)
            subjects.append(ExpandedSubject(subject, e.caveat, exp))
            if self.recursive and srel is not None:
                child = self.expand(st, sid, srel, depth + 1)
                nested.append(replace(child, caveat=e.caveat) if e.caveat else child)
        leaf = ExpandNode("leaf", obj, rel, subjects=tuple(subjects))
        if not nested:
            return leaf
        return ExpandNode("union", obj, rel, children=(leaf, *nested))

    def _expr(self, expr: ast.Expr, obj: ObjectRef, rel: str, depth: int) -> ExpandNode:
        if isinstance(expr, ast.RelationRef):
            return self.expand(obj.type, obj.id, expr.name, depth + 1)
        if isinstance(expr, ast.Union | ast.Intersection):
            kind: NodeKind = "union" if isinstance(expr, ast.Union) else "intersection"
            kids = tuple(self._expr(c, obj, rel, depth) for c in expr.children)
            return ExpandNode(kind, obj, rel, children=kids)
        if isinstance(expr, ast.Exclusion):
            kids = (
                self._expr(expr.base, obj, rel, depth),
                self._expr(expr.subtract, obj, rel, depth),
            )
            return ExpandNode("exclusion", obj, rel, children=kids)
        if isinstance(expr, ast.Arrow):
            node = self.index.slot(obj.type, obj.id, expr.tupleset)
            kids_list = []
            for (st, sid, _srel), e in slot_edges(node):
                if e.expires <= self.now or (st, expr.target) not in self.plan.members:
                    continue
                child = self.expand(st, sid, expr.target, depth + 1)
                kids_list.append(replace(child, caveat=e.caveat) if e.caveat else child)
            kind = "intersection" if expr.function == "all" else "union"
            return ExpandNode(kind, obj, rel, children=tuple(kids_list))
        if isinstance(expr, ast.SelfRef):
            return ExpandNode(
                "leaf", obj, rel, subjects=(ExpandedSubject(SubjectRef(obj.type, obj.id)),)
            )
        return ExpandNode("leaf", obj, rel)  # nil
