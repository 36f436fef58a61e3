"""Lookup-resources and lookup-subjects.

Lookup-resources walks *backwards* from the subject over the reverse index and the schema's
reverse references to collect candidate resources (an over-approximation: intersections and
exclusions are not decided on the way), then decides each candidate with one shared
:class:`~rebac.engine.check.Checker`, so the answer always agrees with check and subproblems are
computed once across candidates. A page decides only the candidates it needs, in id order; the
sorted candidates of a big paged lookup are kept in the state's :class:`PagedAnswers`, so the
next page (or the next, bigger chunk of a streaming call) starts with a bisection instead of
another walk. They stay valid as relationships expire: fewer live relationships can only make
fewer resources reachable, and a superset is all a candidate list promises.

Lookup-subjects walks *forwards* from the resource and computes a
:class:`~rebac.engine.subjectset.SubjectSet` per subproblem with SpiceDB's wildcard/exclusion
algebra. Its answer is paged in id order (a wildcard ``*`` first): a page holds the subjects
after the cursor's id. The first page cannot be had without the whole answer -- the smallest ids
may come from any branch, and an exclusion or intersection is only decided against its other
side's complete set -- so a big answer is computed once, kept sorted (:class:`SubjectPages`,
in the state's :class:`PagedAnswers`) and every later page is a bisection and a slice.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Mapping, Sized
from typing import Any, Generic, TypeVar

from rebac.engine.check import CaveatContext, check_deadline
from rebac.engine.index import PLAIN, IndexView, use_edges
from rebac.engine.plan import Member, PermissionInfo, Plan
from rebac.engine.subjectset import SubjectSet
from rebac.engine.values import Conditional, Value
from rebac.errors import CycleDetected, MaximumDepthExceeded
from rebac.model import WILDCARD, LookupResult, Permissionship
from rebac.schema import ast

NodeKey = tuple[str, str, str | None]
#: A context-free lookup-subjects query: resource type, id, permission, subject type, relation.
SubjectsQuery = tuple[str, str, str, str, str | None]
#: A lookup-resources query's candidates: resource type, permission, subject type, id, relation.
ResourcesQuery = tuple[str, str, str, str, str | None]
_BIG = 1 << 30

#: Answers smaller than this are not kept: computing them again costs less than a millisecond.
PAGED_MIN_ITEMS = 256
#: Answers kept per state, and items (subjects, candidate ids) in all of them, before the
#: cache starts over (bounded by clearing, as the other caches; ~16 bytes an item besides the
#: ids, which the index already holds).
PAGED_ANSWERS = 64
PAGED_ITEMS = 2_000_000

_Query = TypeVar("_Query", bound=tuple[Any, ...])
_Answer = TypeVar("_Answer", bound=Sized)


def candidate_resources(
    plan: Plan,
    index: IndexView,
    resource_type: str,
    permission: str,
    subject: tuple[str, str, str | None],
    now: float,
    deadline: float | None = None,
) -> set[str]:
    """Ids of ``resource_type`` that may have ``permission`` for ``subject`` (a superset)."""
    check_deadline(deadline)
    start: NodeKey = subject
    seen: set[NodeKey] = {start}
    queue: deque[NodeKey] = deque([start])
    st, _sid, srel = subject
    if srel is None:
        wild: NodeKey = (st, WILDCARD, None)
        seen.add(wild)
        queue.append(wild)
    found: set[str] = set()

    def push(key: NodeKey) -> None:
        if key not in seen:
            seen.add(key)
            queue.append(key)

    while queue:
        if deadline is not None and not len(seen) & 255:
            check_deadline(deadline)
        t, oid, rel = queue.popleft()
        if rel is not None and t == resource_type and rel == permission:
            found.add(oid)
        by_use = index.resources_of_subject(t, oid)
        # 1. Relationships whose subject is exactly this node (object or subject set).
        for (rtype, relation, edge_srel), uses in by_use.items():
            if edge_srel == rel:
                for rid, e in use_edges(uses):
                    if e.expires > now:
                        push((rtype, rid, relation))
        if rel is None:
            if oid != WILDCARD:
                for perm in plan.self_users.get(t, ()):
                    push((t, oid, perm))
            continue
        # 2. Permissions of the same object that name this relation.
        for perm in plan.computed_users.get((t, rel), ()):
            push((t, oid, perm))
        # 3. Arrows: resources whose tupleset relation points at this object.
        for rtype, tupleset, perm in plan.arrow_users.get((t, rel), ()):
            for (ut, urel, _srel), uses in by_use.items():
                if ut == rtype and urel == tupleset:
                    for rid, e in use_edges(uses):
                        if e.expires > now:
                            push((rtype, rid, perm))
    return found


class SubjectsWalker:
    """Computes the subjects of one type (and optional relation) for resources.

    Cycles in the data are solved as a least fixpoint, per strongly connected component: a
    subproblem met again while in progress contributes what is known of it so far (nothing, at
    first), results inside the component stay provisional, and the component's root is
    re-evaluated until no provisional result changes. Every operator but exclusion is
    monotone, so this converges to the exact answer; a cycle through an exclusion's subtracted
    side has none and raises :class:`~rebac.errors.CycleDetected`.
    """

    def __init__(
        self,
        plan: Plan,
        index: IndexView,
        subject_type: str,
        subject_relation: str | None,
        *,
        now: float,
        max_depth: int,
        context: Mapping[str, Any] | None,
        deadline: float | None = None,
    ):
        self.plan = plan
        self.index = index
        self.deadline = deadline
        self.want = (subject_type, subject_relation)
        self.now = now
        self.max_depth = max_depth
        self.caveats = CaveatContext(plan, context)
        self.memo: dict[tuple[str, str, str], SubjectSet] = {}
        self.onstack: dict[tuple[str, str, str], int] = {}
        self.stack: list[tuple[str, str, str]] = []
        self.low = _BIG
        # Provisional results inside an unfinished component: key -> (set, low, iteration).
        self.prov: dict[tuple[str, str, str], tuple[SubjectSet, int, int]] = {}
        # Keys made provisional this iteration, in the order they were: those after a node's
        # own mark were computed under it (see subjects()).
        self.order: list[tuple[str, str, str]] = []
        self.iteration = 0
        self.changed = False

    def subjects(self, rtype: str, rid: str, rel: str) -> SubjectSet:
        key = (rtype, rid, rel)
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        idx = self.onstack.get(key)
        prov = self.prov.get(key)
        if idx is not None:  # in progress: what is known so far
            self.low = min(self.low, idx)
            return prov[0] if prov is not None else SubjectSet()
        if prov is not None and prov[2] == self.iteration:
            self.low = min(self.low, prov[1])
            return prov[0]
        member = self.plan.members.get((rtype, rel))
        if member is None:
            return SubjectSet()
        check_deadline(self.deadline)
        depth = len(self.stack)
        if depth >= self.max_depth:
            raise MaximumDepthExceeded(
                self.max_depth, tuple(f"{t}:{i}#{r}" for t, i, r in [*self.stack, key])
            )
        saved_low, saved_changed = self.low, self.changed
        mark = len(self.order)
        while True:
            del self.order[mark:]  # a new iteration evaluates this subtree again
            self.low = _BIG
            self.changed = False
            result = self._evaluate(member, key)
            node_low = self.low
            if node_low < depth:  # inside a component whose root is above: provisional
                previous = self.prov.get(key)
                changed = previous is None or not previous[0].same(result)
                self.prov[key] = (result, node_low, self.iteration)
                # What was left provisional under this node belongs to the same component,
                # whose root is at node_low or above: record that, so that neither a lookup
                # from elsewhere nor a root finishing later takes them for a component of
                # their own (their own low only says how far up *they* reached).
                provisional, iteration = self.prov, self.iteration
                for k in self.order[mark:]:
                    p = provisional.get(k)
                    if p is not None and p[1] > node_low and p[2] == iteration:
                        provisional[k] = (p[0], node_low, iteration)
                self.order.append(key)
                self.changed = saved_changed or self.changed or changed
                self.low = min(saved_low, node_low)
                return result
            previous = self.prov.get(key)
            if previous is None and not self.changed:
                break  # no cycle through this node
            if previous is not None and previous[0].same(result) and not self.changed:
                break  # the component is stable: its provisional results are final
            self.prov[key] = (result, depth, self.iteration)
            self.iteration += 1
        # The component rooted here is stable. Its results from this last iteration are final;
        # one not evaluated in it (a branch an intersection no longer needed) is dropped, to be
        # computed afresh if asked for, never kept with a value from an earlier iteration.
        for k in [k for k, p in self.prov.items() if p[1] >= depth]:
            answer, _, iteration = self.prov.pop(k)
            if iteration == self.iteration:
                self.memo[k] = answer
        del self.order[mark:]
        self.memo[key] = result
        self.low, self.changed = saved_low, saved_changed
        return result

    def _evaluate(self, member: Member, key: tuple[str, str, str]) -> SubjectSet:
        rtype, rid, rel = key
        self.onstack[key] = len(self.stack)
        self.stack.append(key)
        try:
            if isinstance(member, PermissionInfo):
                result = self._expr(member.expr, rtype, rid)
            else:
                result = self._direct(rtype, rid, rel)
        finally:
            self.stack.pop()
            del self.onstack[key]
        if (rtype, rel) == self.want:
            result = result.copy()
            result.add_concrete(rid, True)
        return result

    def _direct(self, rtype: str, rid: str, rel: str) -> SubjectSet:
        out = SubjectSet()
        want_type, want_rel = self.want
        reach = self.plan.reach
        now = self.now
        node = self.index.node(rtype, rid, rel)
        for (gt, gr), group in node.items():
            exact = gt == want_type and gr == want_rel
            nested = gr is not None and self.want in reach.get((gt, gr), ())
            if not exact and not nested:
                continue
            if exact and not nested and out.wildcard is False and WILDCARD not in group:
                # The wanted subjects themselves (a big group is usually this): an uncaveated
                # edge just adds its subject, as add_concrete(sid, True) does.
                concrete = out.concrete
                for sid, e in group.items():
                    if e is PLAIN:
                        concrete[sid] = True
                    elif e.expires > now:
                        if e.caveat is None:
                            concrete[sid] = True
                        else:
                            out.add_concrete(sid, self.caveats.evaluate(e))
                continue
            for sid, e in group.items():
                if e.expires <= now:
                    continue
                c: Value = True
                if e.caveat is not None:
                    c = self.caveats.evaluate(e)
                    if c is False:
                        continue
                if exact:
                    if sid == WILDCARD:
                        out.add_wildcard(c)
                    else:
                        out.add_concrete(sid, c)
                if nested and gr is not None:
                    if (gt, gr) in self.plan.pure_sets:
                        sub = self._pure_subjects(gt, sid, gr)
                    else:
                        sub = self.subjects(gt, sid, gr)
                    out.union_update(sub.with_condition(c))
        return out

    def _pure_subjects(self, rtype: str, rid: str, rel: str) -> SubjectSet:
        """Members of a pure subject set (see Plan.pure_sets) by plain reachability.

        Pure relations carry no caveats and nest only pure relations, so their members are
        exactly what a breadth-first walk over unexpired relationships reaches: no recursion,
        no depth limit -- the same answer check gives from its membership walk.
        """
        key = (rtype, rid, rel)
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        want_type, want_rel = self.want
        pure = self.plan.pure_sets
        out = SubjectSet()
        seen = {key}
        queue = [key]
        while queue:
            t, oid, r = queue.pop()
            if (t, r) == self.want:
                out.add_concrete(oid, True)
            for (gt, gr), group in self.index.node(t, oid, r).items():
                exact = gt == want_type and gr == want_rel
                nested = gr is not None and (gt, gr) in pure
                if not exact and not nested:
                    continue
                for sid, e in group.items():
                    if e.expires <= self.now:
                        continue
                    if exact:
                        if sid == WILDCARD:
                            out.add_wildcard(True)
                        else:
                            out.add_concrete(sid, True)
                    if nested and gr is not None and (gt, sid, gr) not in seen:
                        seen.add((gt, sid, gr))
                        queue.append((gt, sid, gr))
        self.memo[key] = out
        return out

    def _expr(self, expr: ast.Expr, rtype: str, rid: str) -> SubjectSet:
        if isinstance(expr, ast.RelationRef):
            return self.subjects(rtype, rid, expr.name)
        if isinstance(expr, ast.Union):
            out = SubjectSet()
            for child in expr.children:
                out.union_update(self._expr(child, rtype, rid))
            return out
        if isinstance(expr, ast.Intersection):
            acc = self._expr(expr.children[0], rtype, rid)
            for child in expr.children[1:]:
                if acc.is_empty():
                    return acc
                acc = acc.intersection(self._expr(child, rtype, rid))
            return acc
        if isinstance(expr, ast.Exclusion):
            base = self._expr(expr.base, rtype, rid)
            if base.is_empty():
                return base
            saved = self.low
            self.low = _BIG
            sub = self._expr(expr.subtract, rtype, rid)
            sub_low = self.low
            self.low = min(saved, sub_low)
            if sub_low <= len(self.stack) - 1:
                raise CycleDetected(tuple(f"{t}:{i}#{r}" for t, i, r in self.stack[sub_low:]))
            return base.difference(sub)
        if isinstance(expr, ast.Arrow):
            return self._arrow(expr, rtype, rid)
        if isinstance(expr, ast.SelfRef):
            out = SubjectSet()
            if self.want == (rtype, None):
                out.add_concrete(rid, True)
            return out
        return SubjectSet()  # nil

    def _arrow(self, expr: ast.Arrow, rtype: str, rid: str) -> SubjectSet:
        node = self.index.node(rtype, rid, expr.tupleset)
        branches: list[SubjectSet] = []
        for (gt, _gr), group in node.items():
            has_target = (gt, expr.target) in self.plan.members
            for sid, e in group.items():
                if e.expires <= self.now:
                    continue
                c: Value = True
                if e.caveat is not None:
                    c = self.caveats.evaluate(e)
                if not has_target or c is False:
                    if expr.function == "all":
                        return SubjectSet()
                    continue
                branches.append(self.subjects(gt, sid, expr.target).with_condition(c))
        if not branches:
            return SubjectSet()
        acc = branches[0].copy()
        for b in branches[1:]:
            if expr.function == "all":
                acc = acc.intersection(b)
            else:
                acc.union_update(b)
        return acc


def missing_of(value: Value) -> tuple[str, ...]:
    return tuple(sorted(value.missing)) if isinstance(value, Conditional) else ()


def subject_result(sid: str, value: Value) -> LookupResult:
    if value is True:
        return LookupResult(sid)
    return LookupResult(sid, Permissionship.CONDITIONAL_PERMISSION, missing_of(value))


class SubjectPages:
    """One lookup-subjects answer, ready to be paged: the wildcard (if any) and the concrete
    ids sorted, their conditions only where they are not plain ``True``.

    Immutable once built, so a cached one may be paged from outside the engine's lock.
    """

    __slots__ = ("_wild", "conditions", "excluded", "ids", "wildcard")

    def __init__(self, found: SubjectSet) -> None:
        self.ids = sorted(found.concrete)
        concrete = found.concrete
        # Usually every value is True: counted in C, that is much cheaper than a scan.
        plain = list(concrete.values()).count(True) == len(concrete)
        self.conditions = {} if plain else {s: v for s, v in concrete.items() if v is not True}
        self.wildcard = found.wildcard
        self.excluded = found.excluded
        self._wild: LookupResult | None = None

    def __len__(self) -> int:
        return len(self.ids) + (self.wildcard is not False)

    def _start(self, after: str | None) -> int:
        return 0 if after is None else bisect_right(self.ids, after)

    def _has_wildcard(self, include_wildcards: bool, after: str | None) -> bool:
        return (
            include_wildcards and self.wildcard is not False and (after is None or after < WILDCARD)
        )

    def count(self, include_wildcards: bool, after: str | None) -> int:
        """How many results follow ``after``."""
        wild = self._has_wildcard(include_wildcards, after)
        return len(self.ids) - self._start(after) + wild

    def page(
        self, include_wildcards: bool, after: str | None, limit: int | None
    ) -> list[LookupResult]:
        """The results with an id above ``after``, the wildcard first, cut to ``limit`` -- the
        same list as filtering the whole answer and slicing it with ``[:limit]``."""
        start = self._start(after)
        wild = self._has_wildcard(include_wildcards, after)
        total = len(self.ids) - start + wild
        n = total if limit is None else len(range(total)[:limit])
        out: list[LookupResult] = []
        if wild and n > 0:
            out.append(self.wildcard_result())
            n -= 1
        conditions = self.conditions
        for sid in self.ids[start : start + n]:
            v = conditions.get(sid)
            out.append(LookupResult(sid) if v is None else subject_result(sid, v))
        return out

    def wildcard_result(self) -> LookupResult:
        """``*`` with the subjects it does not cover (sorted), built once."""
        wild = self._wild
        if wild is None:
            excluded = tuple(subject_result(sid, v) for sid, v in sorted(self.excluded.items()))
            base = subject_result(WILDCARD, self.wildcard)
            wild = LookupResult(WILDCARD, base.permissionship, base.missing_context, excluded)
            self._wild = wild
        return wild


class PagedAnswers(Generic[_Query, _Answer]):
    """Big paged answers of one state, so that a paged query is computed once and its later
    pages are slices: context-free lookup-subjects answers, and lookup-resources candidates.

    Only a state's own revision and plan are ever in it (the head state clears it with what
    it learned, on every change), and an answer is used only until ``until`` (for subjects,
    the next relationship expiry it was computed before). Never used with contextual
    relationships, nor (subjects) with a caveat context: those answers belong to one request.
    """

    __slots__ = ("_entries", "_items", "hits")

    def __init__(self) -> None:
        self._entries: dict[_Query, tuple[_Answer, Plan, int, float]] = {}
        self._items = 0
        self.hits = 0  # pages served from a kept answer (tests and benchmarks read it)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, query: _Query, plan: Plan, revision: int, now: float) -> _Answer | None:
        entry = self._entries.get(query)
        if entry is None:
            return None
        answer, kept_plan, kept_revision, until = entry
        if kept_plan is not plan or kept_revision != revision or now >= until:
            del self._entries[query]
            self._items -= len(answer)
            return None
        self.hits += 1
        return answer

    def put(self, query: _Query, answer: _Answer, plan: Plan, revision: int, until: float) -> None:
        """Keep ``answer`` (if big enough to be worth it) until ``until``."""
        size = len(answer)
        if size < PAGED_MIN_ITEMS or size > PAGED_ITEMS:
            return
        if len(self._entries) >= PAGED_ANSWERS or self._items + size > PAGED_ITEMS:
            self.clear()
        old = self._entries.get(query)
        if old is not None:
            self._items -= len(old[0])
        self._entries[query] = (answer, plan, revision, until)
        self._items += size

    def clear(self) -> None:
        self._entries.clear()
        self._items = 0
