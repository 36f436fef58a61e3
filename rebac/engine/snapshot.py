"""Queries at one revision: check, bulk check, expand, lookups.

A :class:`Snapshot` is what one request evaluates against: a revision, the relationship index
and the evaluation plan in force at that revision. It is obtained from
:meth:`rebac.engine.Engine.snapshot` with a consistency mode, and reports the revision it
answered at (``revision``, and ``token`` for clients).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from rebac.engine.check import Checker, SubjectCache
from rebac.engine.expand import Expander, ExpandNode
from rebac.engine.flat import FlatCache
from rebac.engine.index import IndexView, OverlayIndex, RelationshipIndex
from rebac.engine.learned import ClosureCache, Learned
from rebac.engine.lookup import SubjectPages, SubjectsWalker, candidate_resources, missing_of
from rebac.engine.plan import Plan
from rebac.engine.refs import (
    as_object,
    as_subject,
    object_parts,
    relation_name,
    simple_id,
    subject_parts,
)
from rebac.engine.rules import (
    contextual_index,
    validate_check_target,
    validate_request_context,
    validate_resource_ids,
    validate_subject,
)
from rebac.engine.values import Conditional, Value
from rebac.errors import DeadlineExceeded, NotFound, RebacError, UnknownDefinition
from rebac.model import (
    CheckItem,
    CheckResult,
    LookupResult,
    ObjectRef,
    Permissionship,
    Relationship,
    SubjectRef,
)

if TYPE_CHECKING:
    from rebac.engine.engine import Engine


class State:
    """What the index looks like at ``revision``, and what checks learned about subjects there.

    The head state is updated in place by the engine (which empties ``subjects`` whenever a
    change is applied); older states are immutable.
    """

    __slots__ = ("checkers", "checkers_until", "index", "learned", "plan", "revision")

    def __init__(self, index: RelationshipIndex, plan: Plan | None, revision: int):
        self.index = index
        self.plan = plan
        self.revision = revision
        self.learned = Learned()
        # Per subject, the checker of its context-free checks, with its memo of subproblem
        # results and its memberships: valid for this revision until ``checkers_until`` (the
        # next expiration of any relationship).
        self.checkers = SubjectCheckers()
        self.checkers_until = -1.0

    def forget(self) -> None:
        """Drop everything learned."""
        self.learned.forget()
        self.checkers.clear()
        self.checkers_until = -1.0

    def changed(self, rels: Iterable[Relationship]) -> None:
        """``rels`` were written or deleted: drop what they could have changed."""
        self.checkers.clear()
        tuplesets = self.plan.flat_tuplesets if self.plan is not None else frozenset()
        self.learned.changed(rels, tuplesets)

    def shared_checker(
        self,
        plan: Plan,
        st: str,
        sid: str,
        srel: str | None,
        now: float,
        deadline: float | None,
        max_depth: int,
    ) -> Checker:
        """The checker of a subject's context-free checks, shared by them at this revision.

        Reusing it keeps what earlier checks of the subject learned (results, memberships)
        and saves building a checker per call. A checker that raised is dropped
        (:meth:`drop_checker`): its cycle bookkeeping may be mid-way.
        """
        if now >= self.checkers_until:
            self.checkers.clear()
            self.checkers_until = self.index.next_expiry(now)
        checker = self.checkers.get(st, sid, srel)
        if checker is None or checker.plan is not plan or checker.prov or checker.stack:
            checker = Checker(
                plan,
                self.index,
                st,
                sid,
                srel,
                now=now,
                max_depth=max_depth,
                deadline=deadline,
                cache=self.learned.subjects,
                closures=self.learned.closures,
                flats=self.learned.flats,
            )
            self.checkers.put(st, sid, srel, checker)
            return checker
        checker.now = now
        checker.deadline = deadline
        checker.dispatches = 0
        if len(checker.memo) > RESULT_CACHE_PER_SUBJECT:
            checker.memo.clear()
        if len(checker.tops) > RESULT_CACHE_PER_SUBJECT:
            checker.tops.clear()
        return checker

    def drop_checker(self, st: str, sid: str, srel: str | None) -> None:
        self.checkers.drop(st, sid, srel)


class SubjectCheckers:
    """The shared checkers of one state, per subject (State.shared_checker).

    An object subject's is found by type, then id: two lookups of strings, where a
    ``(type, id, relation)`` key would be built and hashed on every check (the id's hash is
    computed once either way, and kept by the string for the index lookups that follow).
    Subject sets, rarely checked, are keyed by that tuple. Bounded by clearing.
    """

    __slots__ = ("_objects", "_sets", "size")

    def __init__(self) -> None:
        self._objects: dict[str, dict[str, Checker]] = {}
        self._sets: dict[tuple[str, str, str], Checker] = {}
        self.size = 0  # checkers put since the last clear (a replaced one counts twice)

    def get(self, st: str, sid: str, srel: str | None) -> Checker | None:
        if srel is not None:
            return self._sets.get((st, sid, srel))
        of_type = self._objects.get(st)
        return None if of_type is None else of_type.get(sid)

    def put(self, st: str, sid: str, srel: str | None, checker: Checker) -> None:
        if self.size >= RESULT_CACHE_SUBJECTS:
            self.clear()
        self.size += 1
        if srel is not None:
            self._sets[(st, sid, srel)] = checker
            return
        of_type = self._objects.get(st)
        if of_type is None:
            of_type = self._objects[st] = {}
        of_type[sid] = checker

    def drop(self, st: str, sid: str, srel: str | None) -> None:
        if srel is not None:
            self._sets.pop((st, sid, srel), None)
            return
        of_type = self._objects.get(st)
        if of_type is not None:
            of_type.pop(sid, None)

    def clear(self) -> None:
        self._objects.clear()
        self._sets.clear()
        self.size = 0


#: Subjects whose results are kept per revision, and results kept per subject.
RESULT_CACHE_SUBJECTS: Final = 10_000
RESULT_CACHE_PER_SUBJECT: Final = 20_000


_definite: Final[dict[int, tuple[CheckResult, CheckResult]]] = {}


def _result(value: Value, revision: int) -> CheckResult:
    if value is True or value is False:
        # Results are immutable: share the two definite answers of a revision (keyed by the
        # revision alone: an int key costs less than a (value, revision) tuple).
        pair = _definite.get(revision)
        if pair is None:
            if len(_definite) > 64:
                _definite.clear()
            pair = _definite[revision] = (
                CheckResult(Permissionship.NO_PERMISSION, (), revision),
                CheckResult(Permissionship.HAS_PERMISSION, (), revision),
            )
        return pair[1] if value else pair[0]
    assert isinstance(value, Conditional)
    return CheckResult(
        Permissionship.CONDITIONAL_PERMISSION, tuple(sorted(value.missing)), revision
    )


def _lookup_result(sid: str, value: Value) -> LookupResult:
    if value is True:
        return LookupResult(sid)
    return LookupResult(sid, Permissionship.CONDITIONAL_PERMISSION, missing_of(value))


class Snapshot:
    """Evaluates queries at one revision of one store; one per request.

    The engine's head index is updated in place by writes. A snapshot taken from it follows it
    forward (and reports, in ``revision``, the revision its last query actually used) unless
    it is *pinned* (``at_exact_snapshot``): then a moved head is replaced by a rebuilt state
    at exactly the pinned revision.
    """

    __slots__ = ("_engine", "_overlay", "_pinned", "_revision", "_state")

    def __init__(self, engine: Engine, state: State, *, pinned: bool = False):
        self._engine = engine
        self._state = state
        self._revision = state.revision
        self._pinned = pinned
        # The last contextual overlay built: a bulk check or a paged lookup asks with the same
        # contextual relationships many times, and building the overlay costs O(n).
        self._overlay: tuple[State, Plan, tuple[Relationship | str, ...], IndexView] | None = None

    @property
    def revision(self) -> int:
        """The revision the last query was answered at (before any: the one taken)."""
        return self._revision

    @property
    def token(self) -> str:
        """The consistency token of :attr:`revision`."""
        return self._engine.token_for(self._revision)

    def _use(self) -> State:
        """The state to evaluate on; call with the engine lock held."""
        state = self._state
        if state.revision != self._revision:
            if self._pinned:
                state = self._state = self._engine.old_state(self._revision)
            else:
                self._revision = state.revision
        return state

    def prepare(self, contextual: Sequence[Relationship | str]) -> None:
        """Validate and index ``contextual`` relationships now (raising InvalidField naming
        the bad one), so that the queries that follow reuse the overlay."""
        with self._engine.lock:
            state = self._use()
            self._view(state, self._plan(state), contextual)

    def _view(
        self, state: State, plan: Plan, contextual: Sequence[Relationship | str]
    ) -> IndexView:
        """The overlay of ``contextual`` over ``state``, built once per snapshot."""
        key = tuple(contextual)
        last = self._overlay
        if last is not None and last[0] is state and last[1] is plan and last[2] == key:
            return last[3]
        view = _view(state, plan, contextual)
        self._overlay = (state, plan, key, view)
        return view

    @staticmethod
    def _plan(state: State) -> Plan:
        plan = state.plan
        if plan is None:
            raise NotFound("no schema has been written")
        return plan

    def _checker(
        self,
        index: IndexView,
        plan: Plan,
        s: SubjectRef,
        context: Mapping[str, Any] | None,
        deadline: float | None,
        cache: SubjectCache | None,
        memo: dict[tuple[str, str, str], Value] | None = None,
        now: float | None = None,
        closures: ClosureCache | None = None,
        flats: FlatCache | None = None,
    ) -> Checker:
        e = self._engine
        return Checker(
            plan,
            index,
            s.type,
            s.id,
            s.relation,
            now=e.clock() if now is None else now,
            max_depth=e.max_depth,
            context=context,
            deadline=deadline,
            cache=cache,
            memo=memo,
            closures=closures,
            flats=flats,
        )

    # -- check ------------------------------------------------------------------------------------

    def check(
        self,
        resource: ObjectRef | str,
        permission: str,
        subject: SubjectRef | str,
        context: Mapping[str, Any] | None = None,
        *,
        contextual: Sequence[Relationship | str] = (),
        deadline: float | None = None,
    ) -> CheckResult:
        """Does ``subject`` have ``permission`` on ``resource``?

        ``contextual`` relationships are evaluated as if written (validated like writes, never
        stored). ``deadline`` (a ``time.monotonic()`` value) stops evaluation with
        :class:`~rebac.errors.DeadlineExceeded` once passed; the same holds for every query.
        """
        rtype, rid = object_parts(resource)
        st, sid, srel = subject_parts(subject)
        permission = relation_name(permission)
        if context:
            validate_request_context(context)
        engine = self._engine
        engine.acquire()  # (not `with engine.lock`: compiled, that looks its methods up per call)
        try:
            state = self._use()
            plan = self._plan(state)
            _validate_query(plan, rtype, rid, permission, st, sid, srel, resource, subject)
            now = engine.clock()
            if contextual or context:
                # What is learned with request-scoped relationships or a caveat context is
                # not shared with other checks.
                index = self._view(state, plan, contextual) if contextual else state.index
                shared = not contextual
                checker = self._checker(
                    index,
                    plan,
                    SubjectRef(st, sid, srel),
                    context,
                    deadline,
                    state.learned.subjects if shared else None,
                    None,
                    now,
                    state.learned.closures if shared else None,
                    state.learned.flats if shared else None,
                )
                value = checker.check(rtype, rid, permission)
            else:
                checker = state.shared_checker(plan, st, sid, srel, now, deadline, engine.max_depth)
                try:
                    value = checker.check(rtype, rid, permission)
                except BaseException:
                    state.drop_checker(st, sid, srel)
                    raise
            stats = engine.stats
            stats.checks += 1
            stats.dispatches += checker.dispatches
        finally:
            engine.release()
        return _result(value, self._revision)

    def check_bulk(
        self,
        items: Sequence[CheckItem],
        *,
        contextual: Sequence[Relationship | str] = (),
        deadline: float | None = None,
    ) -> list[CheckResult | RebacError]:
        """Each item answered on its own (its own context); errors are per item, in order.

        Invalid contextual relationships fail the whole call: they are the request's, not an
        item's.
        """
        if contextual:
            self.prepare(contextual)
        results: list[CheckResult | RebacError] = []
        for item in items:
            try:
                results.append(
                    self.check(
                        item.resource,
                        item.permission,
                        item.subject,
                        item.context,
                        contextual=contextual,
                        deadline=deadline,
                    )
                )
            except DeadlineExceeded:
                raise  # the whole request is out of time, not this item
            except RebacError as exc:
                results.append(exc)
        return results

    # -- expand -----------------------------------------------------------------------------------

    def expand(
        self,
        resource: ObjectRef | str,
        permission: str,
        *,
        recursive: bool = False,
        contextual: Sequence[Relationship | str] = (),
        deadline: float | None = None,
    ) -> ExpandNode:
        r = as_object(resource)
        e = self._engine
        with e.lock:
            state = self._use()
            plan = self._plan(state)
            validate_check_target(plan.schema, r.type, permission)
            expander = Expander(
                plan,
                self._view(state, plan, contextual),
                now=e.clock(),
                max_depth=e.max_depth,
                recursive=recursive,
                deadline=deadline,
            )
            return expander.expand(r.type, r.id, permission)

    # -- lookups ----------------------------------------------------------------------------------

    def lookup_resources(
        self,
        resource_type: str,
        permission: str,
        subject: SubjectRef | str,
        context: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        after: str | None = None,
        contextual: Sequence[Relationship | str] = (),
        deadline: float | None = None,
    ) -> list[LookupResult]:
        """``resource_type`` ids on which ``subject`` has ``permission``, sorted by id.

        ``after`` (an id) and ``limit`` page through the result; only the page's candidates are
        decided, so a small page is cheap.
        """
        s = as_subject(subject)
        if context:
            validate_request_context(context)
        with self._engine.lock:
            state = self._use()
            plan = self._plan(state)
            validate_check_target(plan.schema, resource_type, permission)
            validate_subject(plan.schema, s)
            index = self._view(state, plan, contextual)
            cache = None if contextual else state.learned.subjects
            closures = None if contextual else state.learned.closures
            flats = None if contextual else state.learned.flats
            checker = self._checker(
                index, plan, s, context, deadline, cache, closures=closures, flats=flats
            )
            # Candidates depend on the index only (not on a caveat context): kept unless the
            # request brings relationships of its own (rebac.engine.lookup.PagedAnswers).
            kept = None if contextual else state.learned.candidates
            query = (resource_type, permission, s.type, s.id, s.relation)
            candidates = (
                None if kept is None else kept.get(query, plan, state.revision, checker.now)
            )
            fresh = candidates is None
            if candidates is None:
                candidates = sorted(
                    candidate_resources(
                        plan,
                        index,
                        resource_type,
                        permission,
                        (s.type, s.id, s.relation),
                        checker.now,
                        deadline,
                    )
                )
            out: list[LookupResult] = []
            start = 0 if after is None else bisect_right(candidates, after)
            for i in range(start, len(candidates)):
                rid = candidates[i]
                v = checker.check(resource_type, rid, permission)
                if v is not False:
                    out.append(_lookup_result(rid, v))
                    if limit is not None and len(out) >= limit:
                        if fresh and kept is not None:  # a full page: the next one will come
                            kept.put(query, candidates, plan, state.revision, math.inf)
                        break
            return out

    def lookup_subjects(
        self,
        resource: ObjectRef | str,
        permission: str,
        subject_type: str,
        subject_relation: str | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        include_wildcards: bool = True,
        limit: int | None = None,
        after: str | None = None,
        contextual: Sequence[Relationship | str] = (),
        deadline: float | None = None,
    ) -> list[LookupResult]:
        """Subjects of ``subject_type`` with ``permission`` on ``resource``, sorted by id.

        A wildcard comes back as id ``*`` (sorted first) with the subjects it does not cover in
        ``excluded``. ``after``/``limit`` page through the result: a big context-free answer
        whose page is full is kept for this revision, so the next pages are slices of it.
        """
        r = as_object(resource)
        if subject_relation == "...":
            subject_relation = None
        if context:
            validate_request_context(context)
        e = self._engine
        with e.lock:
            state = self._use()
            plan = self._plan(state)
            validate_check_target(plan.schema, r.type, permission)
            if subject_type not in plan.schema.definitions:
                raise UnknownDefinition(f"object definition '{subject_type}' not found")
            now = e.clock()
            # Only context-free answers are shared (rebac.engine.lookup.PagedAnswers).
            answers = None if context or contextual else state.learned.lookups
            query = (r.type, r.id, permission, subject_type, subject_relation)
            pages = None if answers is None else answers.get(query, plan, state.revision, now)
            if pages is None:
                walker = SubjectsWalker(
                    plan,
                    self._view(state, plan, contextual),
                    subject_type,
                    subject_relation,
                    now=now,
                    max_depth=e.max_depth,
                    context=context,
                    deadline=deadline,
                )
                pages = SubjectPages(walker.subjects(r.type, r.id, permission))
                if (
                    answers is not None
                    and limit is not None
                    and 0 < limit <= pages.count(include_wildcards, after)
                ):  # a full page: the next one will be asked for
                    until = state.index.next_expiry(now)
                    answers.put(query, pages, plan, state.revision, until)
        return pages.page(include_wildcards, after, limit)


def _view(state: State, plan: Plan, contextual: Sequence[Relationship | str]) -> IndexView:
    """The stored index, or an overlay with the request's contextual relationships."""
    if not contextual:
        return state.index
    rels = [r if isinstance(r, Relationship) else Relationship.parse(r) for r in contextual]
    return OverlayIndex(state.index, contextual_index(plan.schema, plan.caveats, rels))


def _validate_query(
    plan: Plan,
    rtype: str,
    rid: str,
    permission: str,
    st: str,
    sid: str,
    srel: str | None,
    raw_resource: object,
    raw_subject: object,
) -> None:
    """Validate a check's inputs, cheaply in the common case (all names known)."""
    members = plan.member_names
    names = members.get(rtype)
    if names is None or permission not in names:
        validate_check_target(plan.schema, rtype, permission)
    # A text reference was validated when it was parsed; a model object was not, but a type
    # and relation the schema knows and a plain id (the common case) need no regular
    # expression. The full validation runs whenever it could refuse, so errors are unchanged.
    if (
        sid == "*"
        or st not in plan.type_names
        or (srel is not None and srel not in members[st])
        or (not isinstance(raw_subject, str) and not simple_id(sid))
    ):
        validate_subject(plan.schema, SubjectRef(st, sid, srel))
    if not isinstance(raw_resource, str) and not simple_id(rid):
        validate_resource_ids(ObjectRef(rtype, rid))
