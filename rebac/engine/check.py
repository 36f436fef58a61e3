"""Check: is a subject a member of ``resource#relation``?

One :class:`Checker` answers for one subject and one request context, possibly for many resources
(bulk check, lookup-resources verification); its memo is shared across them.

Every subproblem ``(type, id, relation)`` goes through :meth:`Checker.dispatch`, which owns the
cross-cutting concerns so that the evaluation functions stay simple:

* **identity** -- ``X#r`` is always a member of ``X#r`` (SpiceDB's aliasing rule);
* **memoization** within the request;
* **depth limit** -- more than ``max_depth`` nested dispatches raises
  :class:`~rebac.errors.MaximumDepthExceeded` (never a silent "no");
* **cycles** -- a subproblem met again while still being evaluated is cut and assumed ``False``
  (the least fixpoint, which is exact for union, intersection and arrows). Results computed
  under such an assumption are provisional until the subproblem where the cycle closes finishes
  (Tarjan's low-link); they are kept if the assumption held and dropped if it did not. A cycle
  through the subtracted side of an exclusion has no sound answer: that branch becomes
  :class:`~rebac.engine.values.Cyclic` and, if the final answer depends on it,
  :class:`~rebac.errors.CycleDetected` names the cycle.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from rebac.engine.flat import (
    FLAT,
    LEAF,
    NESTING_LIMIT,
    FlatCache,
    FlatStep,
    Flattened,
    Flattener,
)
from rebac.engine.index import (
    INF,
    PLAIN,
    Edge,
    Groups,
    IndexView,
    RelationshipIndex,
    SetsSlot,
    SharedKey,
    Slot,
    SubjectKey,
    slot_edges,
)
from rebac.engine.plan import Plan, RelationInfo, SetRole
from rebac.engine.values import Conditional, Cyclic, Value, caveat_value, v_and, v_not, v_or
from rebac.errors import CycleDetected, DeadlineExceeded, MaximumDepthExceeded
from rebac.model import WILDCARD
from rebac.schema import ast

if TYPE_CHECKING:
    from rebac.caveats import CompiledCaveat
    from rebac.engine.learned import ClosureCache

Evaluate = Callable[["Checker", str, str], Value]

_BIG: Final = 1 << 30

#: The relations a subject (or one of its memberships) is stored on, per revision.
SubjectCache = dict[tuple[str, str, str | None], set[tuple[str, str]]]
SUBJECT_CACHE_LIMIT: Final = 50_000
#: What a pure subject set leads to, per revision: (memberships, valid until).
Closure = tuple[dict[tuple[str, str], set[str]], float]
_MISSING: Final = object()
#: The cycle bookkeeping of a checker that has not dispatched yet: empty, shared, never
#: written to (Checker._bookkeeping replaces them all before dispatch writes).
_NO_ONSTACK: Final[dict[tuple[str, str, str], int]] = {}
_NO_STACK: Final[list[tuple[str, str, str]]] = []
_NO_CUT: Final[set[int]] = set()
_NO_PROV: Final[dict[tuple[str, str, str], tuple[Value, int]]] = {}
_NO_PENDING: Final[dict[int, list[tuple[str, str, str]]]] = {}
#: Stands for "not flattened yet" in a FlatCache lookup.
_UNKNOWN: Final = Flattened((), None, 0, -INF)
#: Cached for a flat member visited once and not flattened (see Checker._climb); expired
#: (until -INF) for every other reader, which then flattens it.
_SEEN: Final = Flattened((), None, 0, -INF)
#: The answers of a checker kept by resource id before its first one (never written to).
_NO_TOPS: Final[dict[str, Value]] = {}
#: Direct groups of a subject above which its memberships are merged (see Checker._memberships).
MERGE_ABOVE: Final = 8


def check_deadline(deadline: float | None) -> None:
    """Raise DeadlineExceeded once ``deadline`` (a time.monotonic() value) has passed."""
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlineExceeded("deadline exceeded: evaluation was stopped before it finished")


def _label(key: tuple[str, str, str]) -> str:
    return f"{key[0]}:{key[1]}#{key[2]}"


class CaveatContext:
    """Request context, converted once per caveat, plus evaluation of an edge's caveat."""

    __slots__ = ("_converted", "_plan", "_raw")

    def __init__(self, plan: Plan, raw: Mapping[str, Any] | None):
        self._plan = plan
        self._raw = raw or {}
        self._converted: dict[str, dict[str, Any]] = {}

    def evaluate(self, edge: Edge) -> Value:
        name = edge.caveat
        assert name is not None
        compiled: CompiledCaveat | None = self._plan.caveats.get(name)
        if compiled is None:
            caveat = self._plan.schema.caveats.get(name)
            params = frozenset(p.name for p in caveat.parameters) if caveat else frozenset()
            return Conditional(params or frozenset({name}))
        request = self._converted.get(name)
        if request is None:
            request = self._converted[name] = compiled.convert_context(self._raw)
        if edge.context:
            merged = dict(request)
            merged.update(compiled.convert_context(edge.context))
            return caveat_value(compiled.evaluate(merged))
        return caveat_value(compiled.evaluate(request))


class Checker:
    """Answers membership questions for one subject at one point in time."""

    __slots__ = (
        "cache",
        "caveats",
        "closures",
        "context",
        "cut",
        "deadline",
        "dispatches",
        "entry",
        "flats",
        "gkey",
        "index",
        "low",
        "max_depth",
        "memberships",
        "memo",
        "now",
        "onstack",
        "pending",
        "plan",
        "prov",
        "roles",
        "sid",
        "skey",
        "srel",
        "st",
        "stack",
        "stored",
        "top",
        "tops",
        "wkey",
    )

    def __init__(
        self,
        plan: Plan,
        index: IndexView,
        subject_type: str,
        subject_id: str,
        subject_relation: str | None,
        *,
        now: float,
        max_depth: int,
        context: Mapping[str, Any] | None = None,
        deadline: float | None = None,
        cache: SubjectCache | None = None,
        memo: dict[tuple[str, str, str], Value] | None = None,
        closures: ClosureCache | None = None,
        flats: FlatCache | None = None,
    ):
        self.plan = plan
        self.index = index
        # The stored index (None over a contextual overlay): the flat paths read its dicts,
        # and its small slots hold the shared key tuples that _holds matches by identity.
        self.stored = index if isinstance(index, RelationshipIndex) else None
        # Flattened entries describe the stored index only: over an overlay, none are used.
        self.flats = flats if self.stored is not None else None
        self.cache = cache
        self.closures = closures
        self.deadline = (
            deadline  # time.monotonic() value; checked every 128 dispatches, from the 1st
        )
        self.dispatches = 0  # subproblems evaluated (not memo hits): for benchmarks and traces
        self.st = subject_type
        self.sid = subject_id
        self.srel = subject_relation
        # The subject as the index keys it (the shared tuple: small slots match it by
        # identity), its wildcard, and the group it sits in within a large slot.
        self.skey: SharedKey = index.subject_key(subject_type, subject_id, subject_relation)
        self.wkey: SharedKey = (
            index.subject_key(subject_type, WILDCARD, None)
            if subject_relation is None and subject_type in plan.wildcard_types
            else None
        )
        self.gkey = (subject_type, subject_relation)
        # Members that can lead to this kind of subject at all (the schema-level pruning).
        self.roles = plan.for_subject(subject_type, subject_relation)
        self.now = now
        self.max_depth = max_depth
        self.context = context
        self.caveats: CaveatContext | None = None  # created on the first caveated edge
        # Results of subproblems for this subject; may be shared with earlier checks of the
        # same subject at the same revision (see Snapshot.check).
        self.memo: dict[tuple[str, str, str], Value] = {} if memo is None else memo
        # Cycle bookkeeping (see dispatch and _settle). A check answered from flat members
        # never dispatches, so these start as shared empty containers, only ever read, and
        # _bookkeeping() gives the checker its own before dispatch first writes to them.
        self.onstack: dict[tuple[str, str, str], int] = _NO_ONSTACK
        self.stack: list[tuple[str, str, str]] = _NO_STACK
        self.low = _BIG
        self.cut: set[int] = _NO_CUT
        self.prov: dict[tuple[str, str, str], tuple[Value, int]] = _NO_PROV
        self.pending: dict[int, list[tuple[str, str, str]]] = _NO_PENDING
        self.memberships: list[dict[tuple[str, str], set[str]]] | None = None
        self.entry: set[tuple[str, str]] | None = None
        # The first flat member checked, and its answers by resource id (see _flat_check).
        self.top: FlatStep | None = None
        self.tops: dict[str, Value] = _NO_TOPS

    def caveat(self, edge: Edge) -> Value:
        """The value of a caveated edge under the request context."""
        caveats = self.caveats
        if caveats is None:
            caveats = self.caveats = CaveatContext(self.plan, self.context)
        return caveats.evaluate(edge)

    # -- entry point ----------------------------------------------------------------------------

    def check(self, resource_type: str, resource_id: str, relation: str) -> Value:
        """The answer for ``resource_type:resource_id#relation``; raises on an unsound cycle."""
        if self.flats is not None and self.srel is None:
            step = self.step(resource_type, relation)
            if step.kind == FLAT:
                # A flat member for an object subject reads slots and never dispatches: no
                # stack, cycle or depth bookkeeping to pay for (see flat.py).
                v = self._flat_check(step, resource_type, resource_id, relation)
                if v is not None:
                    return v
        self.low = _BIG
        value = self.dispatch(resource_type, resource_id, relation)
        if isinstance(value, Cyclic):
            raise CycleDetected(value.path)
        return value

    def _flat_check(self, step: FlatStep, rtype: str, rid: str, relation: str) -> Value | None:
        """:meth:`flat_top`, remembered. The answers about the first flat member a checker is
        asked (for most subjects the only one: a service checks one permission on one type)
        are kept by resource id alone, in ``tops``: no ``(type, id, relation)`` key to build,
        hash and keep per check. Other members' answers go to the memo under that key."""
        top = self.top
        if top is None:
            top = self.top = step
        if step is top:
            tops = self.tops
            v = tops.get(rid)
            if v is not None:
                return v
            v = self.flat_top(step, rtype, rid)
            if v is not None:
                if tops is _NO_TOPS:
                    tops = self.tops = {}
                tops[rid] = v
            return v
        key = (rtype, rid, relation)
        v = self.memo.get(key)
        if v is not None:
            return v
        v = self.flat_top(step, rtype, rid)
        if v is not None:
            self.memo[key] = v
        return v

    # -- the one place every subproblem goes through --------------------------------------------

    def dispatch(self, rtype: str, rid: str, rel: str) -> Value:
        key = (rtype, rid, rel)
        v = self.memo.get(key, _MISSING)
        if v is not _MISSING:
            return v  # type: ignore[return-value]
        if rid == self.sid and rel == self.srel and rtype == self.st:
            return True
        idx = self.onstack.get(key)
        if idx is not None:  # a cycle: assume False for now, remember who assumed it
            if idx < self.low:
                self.low = idx
            self.cut.add(idx)
            return False
        if self.prov:
            p = self.prov.get(key)
            if p is not None:
                if p[1] < self.low:
                    self.low = p[1]
                return p[0]
        evaluate = self.plan.evaluators.get((rtype, rel))
        if evaluate is None:
            return False
        self.dispatches += 1
        if self.deadline is not None and self.dispatches & 127 == 1:
            check_deadline(self.deadline)
        stack = self.stack
        if stack is _NO_STACK:
            stack = self._bookkeeping()
        depth = len(stack)
        if depth >= self.max_depth:
            raise MaximumDepthExceeded(
                self.max_depth, (*tuple(_label(k) for k in stack), _label(key))
            )
        saved_low = self.low
        self.low = _BIG
        self.onstack[key] = depth
        stack.append(key)
        try:
            v = evaluate(self, rtype, rid)
        finally:
            stack.pop()
            del self.onstack[key]
        if self.low >= depth and not self.cut and not self.pending:
            # The common case: nothing below us leaned on an unfinished subproblem.
            if type(v) is not Cyclic:
                self.memo[key] = v
            self.low = saved_low
        else:
            self._settle(key, v, depth, saved_low)
        return v

    def _bookkeeping(self) -> list[tuple[str, str, str]]:
        """This checker's own cycle bookkeeping, in place of the shared empty containers it
        starts with; returns the new stack."""
        self.onstack = {}
        self.cut = set()
        self.prov = {}
        self.pending = {}
        stack: list[tuple[str, str, str]] = []
        self.stack = stack
        return stack

    def _settle(self, key: tuple[str, str, str], v: Value, depth: int, saved_low: int) -> None:
        node_low = self.low
        if depth in self.cut:
            self.cut.discard(depth)
            if v is not False:  # someone assumed False for us and was wrong: drop their results
                self.prov.clear()
                self.pending.clear()
        pend = self.pending.pop(depth, None)
        if node_low >= depth:  # no dependency on anything still in progress above us
            if not isinstance(v, Cyclic):
                self.memo[key] = v
            if pend:
                keep = v is False
                for k in pend:
                    entry = self.prov.pop(k, None)
                    if keep and entry is not None:
                        self.memo[k] = entry[0]
            self.low = saved_low
            return
        if v is True:
            self.memo[key] = True
        elif not isinstance(v, Cyclic):
            self.prov[key] = (v, node_low)
            self.pending.setdefault(node_low, []).append(key)
        if pend:
            target = self.pending.setdefault(node_low, [])
            for k in pend:
                entry = self.prov.get(k)
                if entry is not None:
                    self.prov[k] = (entry[0], node_low)
                    target.append(k)
        self.low = min(saved_low, node_low)

    # -- stored relations -----------------------------------------------------------------------

    def direct(self, rtype: str, rid: str, rel: str) -> Value:
        slot = self.index.slot(rtype, rid, rel)
        if slot is None:
            return False
        return self.read(slot)

    def read(self, slot: Slot) -> Value:
        """Is the subject in this slot (directly, by wildcard or through a subject set)?"""
        kind = type(slot)
        if kind is tuple:  # objects only: one test (see index.SetsSlot)
            return self._holds(slot)  # type: ignore[arg-type]
        if kind is SetsSlot:
            if self._holds(slot):  # type: ignore[arg-type]
                return True
            return self._small_sets(slot)  # type: ignore[arg-type]
        return self._groups(slot)  # type: ignore[arg-type]

    def _holds(self, keys: tuple[SharedKey, ...]) -> bool:
        """Does a small slot name the subject itself or its wildcard?

        Over the stored index a slot holds the index's shared key tuples, and the checker
        holds the same ones (index.subject_key), so identity decides: no key is looked into
        (which would touch memory per key). An overlay's slots are compared by value."""
        skey = self.skey
        wkey = self.wkey
        if self.stored is None:
            return skey in keys or (wkey is not None and wkey in keys)
        return any(key is skey or key is wkey for key in keys)  # wkey None: no key is None

    def _small_sets(self, slot: tuple[SubjectKey, ...]) -> Value:
        """Subject sets in a small (plain) slot that can lead to the subject."""
        result: Value = False
        for gt, sid, gr in slot:
            if gr is None:
                continue
            role = self.role(gt, gr)
            if role is None:
                continue  # the schema says it cannot lead to the subject
            pure, kind = role
            if pure:
                ms = self.memberships
                if ms is None:
                    ms = self._memberships()
                for found in ms:
                    ids = found.get(kind)
                    if ids is not None and sid in ids:
                        return True
                continue
            if self.unreachable(gt, gr):
                continue
            r = self.dispatch(gt, sid, gr)
            if r is True:
                return True
            if r is not False:
                result = v_or(result, r)
        return result

    def role(self, gt: str, gr: str) -> SetRole | None:
        """What ``gt:*#gr`` -- a subject set, or an arrow's target -- is to the subject
        (Plan.set_roles); None when it cannot lead to it."""
        of_type = self.roles.get(gt)
        return None if of_type is None else of_type.get(gr)

    def _groups(self, slot: Groups) -> Value:
        now = self.now
        result: Value = False
        own = slot.get(self.gkey)
        if own is not None:
            e = own.get(self.sid)
            if e is not None and e.expires > now:
                result = self.caveat(e) if e.caveat is not None else True
                if result is True:
                    return True
            if self.srel is None:
                e = own.get(WILDCARD)
                if e is not None and e.expires > now:
                    result = v_or(result, self.caveat(e) if e.caveat is not None else True)
                    if result is True:
                        return True
        for (gt, gr), group in slot.items():
            if gr is None:
                continue
            role = self.role(gt, gr)
            if role is None:
                continue  # the schema says it cannot lead to the subject
            if role[0]:  # pure
                result = v_or(result, self._via_memberships(gt, gr, group))
                if result is True:
                    return True
                continue
            if self.unreachable(gt, gr):
                continue
            result = self.any_of(gt, group, gr, result)
            if result is True:
                return True
        return result

    def any_of(self, gt: str, group: Mapping[str, Edge], rel: str, result: Value) -> Value:
        """``result`` OR (edge caveat AND ``gt:sid#rel``) over the unexpired edges of
        ``group``: a subject set's members, or an arrow's targets; stops at a definite yes."""
        now = self.now
        for sid, e in group.items():
            if e is not PLAIN:
                if e.expires <= now:
                    continue
                if e.caveat is not None:
                    c = self.caveat(e)
                    if c is False:
                        continue
                    r = self.dispatch(gt, sid, rel)
                    if r is not False:
                        result = v_or(result, v_and(c, r))
                        if result is True:
                            return True
                    continue
            r = self.dispatch(gt, sid, rel)
            if r is True:
                return True
            if r is not False:
                result = v_or(result, r)
        return result

    def _via_memberships(self, gt: str, gr: str, group: Mapping[str, Edge]) -> Value:
        """Membership through ``gt:*#gr`` subject sets, answered from the subject's memberships."""
        ms = self.memberships
        if ms is None:
            ms = self._memberships()
        now = self.now
        result: Value = False
        for found in ms:
            ids = found.get((gt, gr))
            if not ids:
                continue
            if len(ids) < len(group):
                pairs = ((sid, group.get(sid)) for sid in ids)
            else:
                pairs = ((sid, e) for sid, e in group.items() if sid in ids)
            for _sid, e in pairs:
                if e is None or e.expires <= now:
                    continue
                if e.caveat is None:
                    return True
                result = v_or(result, self.caveat(e))
                if result is True:
                    return True
        return result

    # -- flat members (see flat.py) --------------------------------------------------------------

    def flattened(self, rtype: str, rid: str, name: str) -> Flattened | None:
        """The flattened entry of a flat member, from the per-revision cache (computed on a
        miss); None when flattening gave up or the entry would go too deep from here."""
        cache = self.flats
        assert cache is not None
        assert isinstance(self.index, RelationshipIndex)  # flats are never given an overlay
        plan = self.plan
        entry = Flattener(self.index, plan.flat, plan.leaf_relations, self.now, cache).cached(
            rtype, rid, name
        )
        if entry is None or len(self.stack) + entry.depth + 2 >= self.max_depth:
            return None
        return entry

    def read_at(self, holders: tuple[dict[str, Slot], ...], rid: str) -> Value:
        """The subject's membership in the slot of ``rid`` in each of ``holders`` (an
        object's own relations, see RelationshipIndex.holders)."""
        result: Value = False
        for held in holders:
            slot = held.get(rid)
            if slot is not None:
                r = self.read(slot)
                if r is True:
                    return True
                if r is not False:
                    result = v_or(result, r)
        return result

    def read_all(self, entry: Flattened) -> Value:
        """The subject's membership in any of the slots a flattened entry reads."""
        result: Value = False
        e: Flattened | None = entry
        while e is not None:
            if e.holders:
                r = self.read_at(e.holders, e.rid)
                if r is True:
                    return True
                if r is not False:
                    result = v_or(result, r)
            for held, ref_id in e.reads:
                slot = held.get(ref_id)
                if slot is not None:
                    r = self.read(slot)
                    if r is True:
                        return True
                    if r is not False:
                        result = v_or(result, r)
            e = e.up
        return result

    def step(self, type_name: str, name: str) -> FlatStep:
        """What member ``type_name#name`` is to the flat paths (FlatCache.step); only asked
        with flats, which are never given over an overlay index."""
        flats = self.flats
        stored = self.stored
        assert flats is not None and stored is not None
        plan = self.plan
        return flats.step(stored, plan.flat, plan.leaf_relations, type_name, name)

    def read_leaf(self, step: FlatStep, oid: str) -> Value:
        """Leaf relation ``step`` of object ``oid`` (:meth:`direct`, from the step's holder)."""
        slot = step.holders[0].get(oid)
        return False if slot is None else self.read(slot)

    def flat_top(self, step: FlatStep, rtype: str, rid: str) -> Value | None:
        """Flat member ``step`` of ``rtype:rid`` at the top of a check: its own slots read in
        place (read_at), each arrow target answered by _arrow_target -- climbed on its first
        visit, read from its flattened entry after (None: evaluate normally).

        The hottest code of a check: it reads the index's dicts directly and never
        dispatches, so a check answered here pays no cycle or depth bookkeeping.
        """
        result = self.read_at(step.holders, rid)
        if result is True:
            return True
        for perm in step.permissions:
            entry = self.flattened(rtype, rid, perm)
            if entry is None:
                return None
            r = self.read_all(entry)
            if r is True:
                return True
            if r is not False:
                result = v_or(result, r)
        now = self.now
        for tuplesets, target in step.arrows:
            tslot = tuplesets.get(rid)
            if tslot is None:
                continue
            # Two loops, one per kind of slot, so that the common one (a tuple of plain
            # targets) needs no generator or pairing with an edge on this path.
            if isinstance(tslot, tuple):
                for gt, gid, _gr in tslot:
                    t = self._arrow_target(gt, gid, target)
                    if t is None:
                        return None
                    if t is True:
                        return True
                    if t is not False:
                        result = v_or(result, t)
                continue
            for (gt, gid, _gr), e in slot_edges(tslot):
                if e is not PLAIN:
                    if e.caveat is not None:
                        return None
                    if e.expires <= now:
                        continue
                t = self._arrow_target(gt, gid, target)
                if t is None:
                    return None
                if t is True:
                    return True
                if t is not False:
                    result = v_or(result, t)
        return result

    def _arrow_target(self, gt: str, gid: str, target: str) -> Value | None:
        """``gt:gid#target`` for flat_top: a leaf relation read, or a flat member answered
        by climbing it (first visit) or from its flattened entry (None: both gave up;
        evaluate normally)."""
        self.dispatches += 1  # a target object visited: the unit the deadline counts
        if self.deadline is not None and self.dispatches & 127 == 1:
            check_deadline(self.deadline)
        step = self.step(gt, target)
        kind = step.kind
        if kind == LEAF:
            return self.read_leaf(step, gid)
        if kind != FLAT:
            return False  # the target's type has no such member: it reads nothing
        ids = step.ids
        entry = ids.get(gid, _UNKNOWN)
        if entry is _UNKNOWN:
            # First visit: climb instead of flattening, and flatten on the next visit.
            value = self._climb(step, gt, gid, target)
            if value is not None:
                FlatCache.put(ids, gid, _SEEN)
                return value
        if entry is not None and (entry.until <= self.now or entry.depth >= self.max_depth - 2):
            entry = self.flattened(gt, gid, target)
        if entry is None:
            return None
        return self.read_all(entry)

    def _climb(self, step: FlatStep, t: str, i: str, m: str) -> Value | None:
        """Flat member ``t:i#m`` (``step``), seen for the first time, answered by climbing its
        chain of single parents -- reading each object's own slots -- up to the top or to an
        ancestor that has an entry; None when the chain takes another shape or goes too deep
        (the caller then flattens, which reads these slots again: that only costs time).

        Flattening builds and keeps an entry for every object of the chain: worth it for an
        object that checks come back to (a folder of many documents), wasted on one asked
        about once, as most are at first. So the first visit climbs, which allocates
        nothing, and only the second one flattens (see _arrow_target).
        """
        now = self.now
        room = self.max_depth - 2 - len(self.stack)  # levels the depth limit leaves
        result: Value = False
        steps = 0
        while True:
            if not step.climb:
                return None
            r = self.read_at(step.holders, i)
            if r is True:
                return True
            if r is not False:
                result = v_or(result, r)
            tslot = step.parents.get(i)
            if tslot is None:
                return result
            if type(tslot) is not tuple or len(tslot) != 1:
                return None  # several parents, or a caveated or expiring one
            gt, gid, _gr = tslot[0]
            steps += 1
            if steps >= NESTING_LIMIT or steps >= room:
                return None  # a cycle, or near the depth limit: flattening decides
            self.dispatches += 1
            if self.deadline is not None and self.dispatches & 127 == 1:
                check_deadline(self.deadline)
            target = step.target
            if gt is not t or target is not m:  # interned names: equal ones are mostly identical
                step = self.step(gt, target)  # another member (a folder tree never changes)
                if step.kind != FLAT:
                    if step.kind == LEAF:
                        return v_or(result, self.read_leaf(step, gid))
                    return result  # the parent's type has no such member: it reads nothing
            entry = step.ids.get(gid, _UNKNOWN)
            if entry is None:
                return None  # flattening gave up there before
            if entry.until > now:  # an ancestor's entry (neither unknown nor just seen)
                if steps + entry.depth >= room:
                    return None
                return v_or(result, self.read_all(entry))
            t, i, m = gt, gid, target

    def unreachable(self, rtype: str, rel: str) -> bool:
        """True when ``rtype:*#rel`` cannot contain the subject, judged from the relations
        the subject (or one of its memberships) appears on at all (Plan.grant_relations)."""
        if self.srel is not None:
            return False  # a subject set can also match by identity
        grants = self.plan.grant_relations.get((rtype, rel))
        if grants is None:
            return False
        entry = self.entry
        if entry is None:
            entry = self._entry()
        return grants.isdisjoint(entry)

    def _direct_sets(self) -> list[tuple[str, str, str]]:
        """The pure subject sets the subject is in directly (by an unexpired relationship,
        its wildcard's included), and the subject itself when it is one."""
        plan = self.plan
        now = self.now
        srel = self.srel
        direct: list[tuple[str, str, str]] = []
        if srel is not None and (self.st, srel) in plan.pure_sets:
            direct.append((self.st, self.sid, srel))  # X#r is in X#r
        # The subject's wildcard is looked at only where the schema allows one.
        wild = srel is None and self.wkey is not None
        for oid in (self.sid, WILDCARD) if wild else (self.sid,):
            by_use = self.index.resources_of_subject(self.st, oid)
            if not by_use:
                continue
            for use_key, _kind, rtype, relation in plan.pure_uses(srel):
                uses = by_use.get(use_key)
                if uses is None:
                    continue
                if isinstance(uses, tuple):  # plain: no generator (see use_edges) on this path
                    for rid in uses:
                        direct.append((rtype, rid, relation))
                    continue
                for rid, e in uses.items():
                    if e.expires > now:
                        direct.append((rtype, rid, relation))
        return direct

    def _memberships(self) -> list[dict[tuple[str, str], set[str]]]:
        """The closures of the subject's direct pure subject sets: it is in pure set
        ``gt:id#gr`` iff one of them lists ``id`` under ``(gt, gr)``.

        The closures are per revision and shared by every member of a group, so a subject
        costs a dict lookup per group it is directly in, however deep the nesting (Zanzibar's
        Leopard idea), and nothing is copied. A subject directly in more than
        :data:`MERGE_ABOVE` groups has them merged once instead (into this checker, which the
        subject's later checks reuse), so that a question costs one lookup, not one per group.
        """
        ms = [self._closure(node)[0] for node in self._direct_sets()]
        if len(ms) > MERGE_ABOVE:
            merged: dict[tuple[str, str], set[str]] = {}
            for found in ms:
                for kind, ids in found.items():
                    have = merged.get(kind)
                    if have is None:
                        merged[kind] = set(ids)
                    else:
                        have |= ids
            ms = [merged]
        self.memberships = ms
        return ms

    def _entry(self) -> set[tuple[str, str]]:
        """The relations the subject or one of its memberships is stored on (cached per
        subject for the revision).

        A cached entry never needs refreshing when a relationship expires: it can then only
        be larger than the truth, which prunes less, never wrongly. Writes clear the cache.
        """
        key = (self.st, self.sid, self.srel)
        cache = self.cache
        if cache is not None:
            hit = cache.get(key)
            if hit is not None:
                self.entry = hit
                return hit
        index = self.index
        entry: set[tuple[str, str]] = set()
        for oid in (self.sid, WILDCARD) if self.srel is None else (self.sid,):
            entry.update((rt, rel) for rt, rel, _ in index.resources_of_subject(self.st, oid))
        for node in self._direct_sets():
            for (gt, _gr), ids in self._closure(node)[0].items():
                for gid in ids:
                    entry.update((rt, rel) for rt, rel, _ in index.resources_of_subject(gt, gid))
        self.entry = entry
        if cache is not None:
            if len(cache) >= SUBJECT_CACHE_LIMIT:
                cache.clear()
            cache[key] = entry
        return entry

    def _closure(self, node: tuple[str, str, str]) -> Closure:
        """A pure subject set and every pure subject set containing it, transitively (one
        reverse walk), and until when that holds."""
        closures = self.closures
        if closures is not None:
            hit = closures.get(node)
            if hit is not None and hit[1] > self.now:
                return hit
        plan = self.plan
        index = self.index
        now = self.now
        valid_until = INF
        found: dict[tuple[str, str], set[str]] = {(node[0], node[2]): {node[1]}}
        visited: list[str] = []  # the ids of the objects walked through (see ClosureCache)
        queue = [node]
        while queue:
            t, oid, rel = queue.pop()
            visited.append(oid)
            by_use = index.resources_of_subject(t, oid)
            if not by_use:
                continue
            for use_key, kind, rtype, relation in plan.pure_uses(rel):
                uses = by_use.get(use_key)
                if uses is None:
                    continue
                live: tuple[str, ...]  # (a tuple, which a compiled build iterates directly)
                if isinstance(uses, tuple):  # plain: no generator (see use_edges) on this path
                    live = uses
                else:
                    fresh: list[str] = []
                    for rid, e in uses.items():
                        if e.expires <= now:
                            continue
                        if e.expires < valid_until:
                            valid_until = e.expires
                        fresh.append(rid)
                    live = tuple(fresh)
                ids = found.get(kind)
                if ids is None:
                    if not live:
                        continue
                    ids = found[kind] = set()
                for rid in live:
                    if rid not in ids:
                        ids.add(rid)
                        queue.append((rtype, rid, relation))
        result = (found, valid_until)
        if closures is not None:
            closures.put(node, result, visited)
        return result


# -- permission expressions compiled to closures ----------------------------------------------


def compile_expression(expr: ast.Expr, type_name: str, plan: Plan) -> Evaluate:
    """Compile a permission expression of definition ``type_name`` into ``f(checker, type, id)``."""
    if isinstance(expr, ast.RelationRef):
        name = expr.name
        target = plan.members.get((type_name, name))
        if isinstance(target, RelationInfo) and all(
            a.relation is None or (a.type, a.relation) in plan.pure_sets for a in target.allowed
        ):
            # A relation whose subjects are plain objects or pure subject sets (answered from
            # the subject's memberships) cannot recurse: look it up in place instead of paying
            # for a dispatch (memo, stack, cycle bookkeeping).
            def leaf(ch: Checker, rtype: str, rid: str) -> Value:
                if ch.srel == name and ch.sid == rid and ch.st == rtype:
                    return True
                return ch.direct(rtype, rid, name)

            return leaf

        def ref(ch: Checker, rtype: str, rid: str) -> Value:
            return ch.dispatch(rtype, rid, name)

        return ref

    if isinstance(expr, ast.Union):
        parts = tuple(compile_expression(c, type_name, plan) for c in expr.children)

        def union(ch: Checker, rtype: str, rid: str) -> Value:
            result: Value = False
            for part in parts:
                r = part(ch, rtype, rid)
                if r is True:
                    return True
                if r is not False:
                    result = v_or(result, r)
            return result

        return union

    if isinstance(expr, ast.Intersection):
        parts = tuple(compile_expression(c, type_name, plan) for c in expr.children)

        def intersection(ch: Checker, rtype: str, rid: str) -> Value:
            result: Value = True
            for part in parts:
                r = part(ch, rtype, rid)
                if r is False:
                    return False
                result = v_and(result, r)
            return result

        return intersection

    if isinstance(expr, ast.Exclusion):
        base = compile_expression(expr.base, type_name, plan)
        subtract = compile_expression(expr.subtract, type_name, plan)

        def exclusion(ch: Checker, rtype: str, rid: str) -> Value:
            b = base(ch, rtype, rid)
            if b is False:
                return False
            saved = ch.low
            ch.low = _BIG
            s = subtract(ch, rtype, rid)
            sub_low = ch.low
            ch.low = min(saved, sub_low)
            if s is True:
                return False
            here = len(ch.stack) - 1
            if sub_low <= here:
                # The subtracted side leaned on an assumption about a subproblem still in
                # progress (a cycle through this exclusion): "not member" would be a guess.
                return Cyclic(tuple(_label(k) for k in ch.stack[sub_low:]))
            return v_and(b, v_not(s))

        return exclusion

    if isinstance(expr, ast.Arrow):
        return _compile_arrow(expr)

    if isinstance(expr, ast.Nil):

        def nil(ch: Checker, rtype: str, rid: str) -> Value:
            return False

        return nil

    if isinstance(expr, ast.SelfRef):

        def self_ref(ch: Checker, rtype: str, rid: str) -> Value:
            return ch.srel is None and ch.sid == rid and ch.st == rtype

        return self_ref

    raise TypeError(f"unknown expression node {expr!r}")


def _compile_arrow(expr: ast.Arrow) -> Evaluate:
    tupleset, target = expr.tupleset, expr.target

    if expr.function == "any":

        def arrow_any(ch: Checker, rtype: str, rid: str) -> Value:
            slot = ch.index.slot(rtype, rid, tupleset)
            if slot is None:
                return False
            if isinstance(slot, tuple):
                result: Value = False
                for gt, sid, _gr in slot:
                    if ch.role(gt, target) is None or ch.unreachable(gt, target):
                        continue
                    r = ch.dispatch(gt, sid, target)
                    if r is True:
                        return True
                    if r is not False:
                        result = v_or(result, r)
                return result
            result = False
            for (gt, _gr), group in slot.items():
                if ch.role(gt, target) is None or ch.unreachable(gt, target):
                    continue
                result = ch.any_of(gt, group, target, result)
                if result is True:
                    return True
            return result

        return arrow_any

    def arrow_all(ch: Checker, rtype: str, rid: str) -> Value:
        result: Value = True
        seen = False
        now = ch.now
        for (gt, sid, _gr), e in slot_edges(ch.index.slot(rtype, rid, tupleset)):
            if e.expires <= now:
                continue
            seen = True
            if ch.role(gt, target) is None or ch.unreachable(gt, target):
                return False
            c: Value = ch.caveat(e) if e.caveat is not None else True
            if c is False:
                return False
            r = ch.dispatch(gt, sid, target)
            if r is False:
                return False
            result = v_and(result, v_and(c, r))
        return result if seen else False

    return arrow_all


def flat_evaluator(name: str, evaluate: Evaluate) -> Evaluate:
    """``evaluate`` for a flat member (see flat.py), answered from flattened slots when the
    subject is an object (a subject set can also match by identity, which needs the nodes
    flattening skips).

    Below the top of a check (the folder of a document, the organisation of a repository) the
    member is answered from its own flattened entry, cached per revision: the same subproblem
    serves many checks and many subjects. At the top the resource is usually asked about
    once, so it is not flattened itself: its slots are read in place and its arrows answered
    from their targets' entries. Whenever flattening gives up, or the walk would come near the
    depth limit, the member is evaluated normally.
    """

    def flat(ch: Checker, rtype: str, rid: str) -> Value:
        if ch.flats is None or ch.srel is not None:
            return evaluate(ch, rtype, rid)
        if len(ch.stack) < 2:
            value = ch.flat_top(ch.step(rtype, name), rtype, rid)
        else:
            entry = ch.flattened(rtype, rid, name)
            value = None if entry is None else ch.read_all(entry)
        return evaluate(ch, rtype, rid) if value is None else value

    return flat


def relation_evaluator(name: str) -> Evaluate:
    """What dispatch calls for a stored relation."""

    def relation(ch: Checker, rtype: str, rid: str) -> Value:
        return ch.direct(rtype, rid, name)

    return relation
