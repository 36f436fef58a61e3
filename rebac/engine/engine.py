"""The in-process facade for one store (tenant): schema, relationships and every query.

This is what users embed and what the server calls. The :class:`~rebac.store.Store` is the
source of truth; the engine keeps an in-memory index of it, caught up from the store's
changelog, and evaluates every query there (never SQL per hop). It validates input at the edge
so the evaluators can trust it; a failed write changes nothing.

Consistency (SpiceDB's four modes) decides which revision a query sees:

* ``minimize_latency`` -- the index as it is (kept current by this process's own writes and
  by catching up at most every ``quantum`` seconds with writes of other processes);
* ``at_least_as_fresh(token)`` -- the index, caught up first if it is older than the token:
  a caller never sees a state older than its own write (the "new enemy" problem);
* ``at_exact_snapshot(token)`` -- exactly that revision (an older one is rebuilt from the store
  and kept in a small cache);
* ``fully_consistent`` -- caught up to the store's head first.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from rebac.engine.expand import ExpandNode
from rebac.engine.index import RelationshipIndex
from rebac.engine.plan import Plan
from rebac.engine.refs import relationship
from rebac.engine.rules import validate_relationship
from rebac.engine.snapshot import Snapshot, State
from rebac.errors import (
    InvalidRequest,
    NotFound,
    RebacError,
    RevisionError,
    RevisionExpired,
    SchemaInUse,
    UpdatesOnSameRelationship,
)
from rebac.model import (
    CheckItem,
    CheckResult,
    LookupResult,
    ObjectRef,
    Operation,
    Precondition,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
    SubjectFilter,
    SubjectRef,
)
from rebac.revision import Consistency, ConsistencyMode
from rebac.store import DeleteResult, ImportResult, MemoryStore, Store, StoreConfig, StoreReader
from rebac.tuning import collector_paused

if TYPE_CHECKING:
    from rebac.caveats import CompiledCaveat
    from rebac.schema.compiler import CompiledSchema

DEFAULT_MAX_DEPTH = 50
MAX_MAX_DEPTH = 1000
SNAPSHOT_CACHE_SIZE = 2


#: The modes as module constants: a compiled build reads a Final as a constant, where
#: ``ConsistencyMode.X`` is an attribute lookup through the enum's metaclass (about a
#: thousand instructions each; two of them were 6 % of a cold check's).
_MINIMIZE_LATENCY: Final = ConsistencyMode.MINIMIZE_LATENCY
_FULLY_CONSISTENT: Final = ConsistencyMode.FULLY_CONSISTENT
_AT_LEAST_AS_FRESH: Final = ConsistencyMode.AT_LEAST_AS_FRESH


def _compile_caveats(schema: CompiledSchema) -> dict[str, CompiledCaveat]:
    from rebac.caveats import compile_caveat

    return {name: compile_caveat(c) for name, c in schema.caveats.items()}


def build_plan(text: str, *, source: str | None = None, base_dir: Path | None = None) -> Plan:
    """Compile schema text (and its caveats) into an evaluation plan."""
    # Imported here so that importing the engine never drags in the parser, and rebac.schema
    # may import rebac's value types without a cycle.
    from rebac.schema import compile_schema

    compiled = compile_schema(text, source=source, base_dir=base_dir)
    return Plan(compiled, _compile_caveats(compiled))


def _rel(value: Relationship | str) -> Relationship:
    return value if isinstance(value, Relationship) else Relationship.parse(value)


def require_filter(filter: RelationshipFilter) -> None:
    if (
        filter.resource_type is None
        and filter.resource_id is None
        and filter.resource_id_prefix is None
        and filter.relation is None
        and filter.subject is None
    ):
        raise InvalidRequest("a relationship filter needs at least one field")
    if filter.resource_id is not None and filter.resource_id_prefix is not None:
        raise InvalidRequest("a filter cannot have both resource_id and resource_id_prefix")


class EngineStats:
    """Counters a benchmark or an operator can read to explain a figure, not just report it."""

    __slots__ = ("checks", "dispatches")

    def __init__(self) -> None:
        self.checks = 0
        self.dispatches = 0  # subproblems evaluated by checks (memo hits excluded)

    def reset(self) -> None:
        self.checks = self.dispatches = 0


class Engine:
    """One store's schema and relationships, answering check, expand and lookups in-process.

    >>> engine = Engine('''
    ...     definition user {}
    ...     definition document {
    ...         relation viewer: user
    ...         permission view = viewer
    ...     }''')
    >>> _ = engine.touch("document:d1#viewer@user:alice")
    >>> engine.check("document:d1", "view", "user:alice").allowed
    True

    Without ``store`` the engine keeps its relationships in memory (a private
    :class:`~rebac.store.MemoryStore`); pass a :class:`~rebac.store.SQLiteStore` (or any
    :class:`~rebac.store.Store`) and a ``store_id`` for durable, shared data.
    """

    def __init__(
        self,
        schema: str | None = None,
        *,
        store: Store | None = None,
        store_id: str = "default",
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_updates: int = 1000,
        max_preconditions: int = 1000,
        quantum: float = 0.1,
        clock: Callable[[], float] = time.time,
    ):
        if not 1 <= max_depth <= MAX_MAX_DEPTH:
            raise InvalidRequest(
                f"max_depth must be between 1 and {MAX_MAX_DEPTH}, got {max_depth}"
            )
        # Each dispatch costs a handful of Python frames; make sure the interpreter's limit
        # is never what stops a deep but legal evaluation.
        sys.setrecursionlimit(max(sys.getrecursionlimit(), max_depth * 20 + 1000))
        if store is None:
            config = StoreConfig(max_updates=max_updates, max_preconditions=max_preconditions)
            store = MemoryStore(config, clock=clock)
            store.create_store(store_id)
        self.store = store
        self.store_id = store_id
        self.max_depth = max_depth
        self.quantum = quantum
        self.clock = clock
        # One lock guards the index: catch-up mutates it, evaluation reads it.
        self.lock = threading.RLock()
        # The lock's methods, bound once: the check path calls them per check, and a bound
        # method is cheaper to call from compiled code than a method looked up each time.
        self.acquire = self.lock.acquire
        self.release = self.lock.release
        self.stats = EngineStats()
        self._head = State(RelationshipIndex(), None, -1)
        self._plans: dict[str, Plan] = {}  # schema text -> plan, so catch-up never recompiles
        self._old: OrderedDict[int, State] = OrderedDict()
        self._synced_at = 0.0
        self._rebuild(store.head_revision(store_id))
        if schema is not None:
            self.write_schema(schema)

    # -- index maintenance --------------------------------------------------------------------

    def _plan_for(self, text: str) -> Plan:
        plan = self._plans.get(text)
        if plan is None:
            plan = self._plans[text] = build_plan(text)
        return plan

    def _state_at(self, revision: int) -> State:
        """A fresh index of the store at ``revision``, built from a full snapshot."""
        index = RelationshipIndex()
        for rel in self.store.snapshot(self.store_id, revision):
            index.add(rel)
        try:
            text, _ = self.store.read_schema(self.store_id, revision)
            plan: Plan | None = self._plan_for(text)
        except NotFound:
            plan = None
        return State(index, plan, revision)

    def _rebuild(self, revision: int) -> None:
        with self.lock:
            self._head = self._state_at(revision)
            self._synced_at = self.clock()

    def catch_up(self, revision: int | None = None) -> int:
        """Apply the store's changes up to ``revision`` (default: its head); returns the
        revision the index is at."""
        with self.lock:
            head = self._head
            target = self.store.head_revision(self.store_id) if revision is None else revision
            self._synced_at = self.clock()
            if target <= head.revision:
                return head.revision
            try:
                changes = self.store.changes(self.store_id, head.revision, up_to=target)
            except RevisionExpired:
                self._rebuild(target)
                return self._head.revision
            for cs in changes:
                for rel in cs.deleted:
                    head.index.remove(rel)
                for rel in cs.touched:
                    head.index.add(rel)
                if cs.schema_changed:
                    text, _ = self.store.read_schema(self.store_id, cs.revision)
                    head.plan = self._plan_for(text)
                    head.forget()  # what was learned is about the old schema
                else:  # only what these relationships could have changed is dropped
                    head.changed(itertools.chain(cs.deleted, cs.touched))
                head.revision = cs.revision
            return head.revision

    # -- snapshots ----------------------------------------------------------------------------

    def token_for(self, revision: int) -> str:
        return self.store.tokens.encode(self.store_id, revision)

    def snapshot(self, consistency: Consistency | None = None) -> Snapshot:
        """The state a query must see under ``consistency`` (default: minimize_latency)."""
        mode = _MINIMIZE_LATENCY if consistency is None else consistency.mode
        if mode is _MINIMIZE_LATENCY:
            # The hot path: the head as it is, while it is fresh enough (no lock needed to
            # read two attributes; evaluation takes the lock).
            head = self._head
            if head.plan is not None and self.clock() - self._synced_at < self.quantum:
                return Snapshot(self, head)
        if mode is _FULLY_CONSISTENT:
            # The store's head is read before taking the lock: a store read can wait (SQLite
            # lets go of the GIL), and checks of other threads need not wait behind it. Any
            # head at or past it has everything committed before this call began.
            target = self.store.head_revision(self.store_id)
            head = self._head
            if head.plan is not None and head.revision >= target:
                return Snapshot(self, head)
            with self.lock:
                self.catch_up(target)
                return Snapshot(self, self._head)
        with self.lock:
            head = self._head
            if mode is _MINIMIZE_LATENCY:
                # Without a schema nothing can be answered: look for one before giving up.
                if head.plan is None or self.clock() - self._synced_at >= self.quantum:
                    self.catch_up()
                return Snapshot(self, self._head)
            assert consistency is not None and consistency.token is not None
            wanted = self.store.tokens.decode(consistency.token, self.store_id)
            if mode is _AT_LEAST_AS_FRESH:
                if head.revision < wanted:
                    self.catch_up()
                if self._head.revision < wanted:
                    raise RevisionError(
                        f"consistency token is for revision {wanted}, ahead of the store's "
                        f"head {self._head.revision}"
                    )
                return Snapshot(self, self._head)
            # at_exact_snapshot
            if head.revision < wanted:
                self.catch_up(wanted)
            if self._head.revision == wanted:
                return Snapshot(self, self._head, pinned=True)
            return Snapshot(self, self.old_state(wanted), pinned=True)

    def old_state(self, revision: int) -> State:
        """The store at an older ``revision``, rebuilt from it (a small LRU of them is kept)."""
        state = self._old.get(revision)
        if state is None:
            if revision < self.store.oldest_revision(self.store_id):
                raise RevisionExpired(
                    f"revision {revision} is older than the garbage-collection window"
                )
            state = self._state_at(revision)
            self._old[revision] = state
            while len(self._old) > SNAPSHOT_CACHE_SIZE:
                self._old.popitem(last=False)
        else:
            self._old.move_to_end(revision)
        return state

    def clear_caches(self) -> None:
        """Forget what checks learned (subjects, shared results): benchmarks measure cold."""
        with self.lock:
            self._head.forget()
            self._old.clear()

    @property
    def max_updates(self) -> int:
        """How many updates one write may carry (the store's limit)."""
        return self.store.config.max_updates

    @property
    def revision(self) -> int:
        """The revision the in-memory index is at."""
        return self._head.revision

    # -- schema -------------------------------------------------------------------------------

    @property
    def schema(self) -> CompiledSchema:
        plan = self._head.plan
        if plan is None:
            raise NotFound("no schema has been written")
        return plan.schema

    def write_schema(
        self, text: str, *, source: str | None = None, base_dir: Path | None = None
    ) -> int:
        """Store a new schema version; returns its revision.

        Refused, naming what is still in use, if stored relationships would no longer fit:
        a removed definition or relation, or a removed allowed subject type.
        """
        plan = build_plan(text, source=source, base_dir=base_dir)
        # With imports the stored text must stand alone: store the merged, printed schema.
        stored = plan.schema.text() if base_dir is not None else text
        self._plans[stored] = plan
        with self.lock:
            self.catch_up()
            old = self._head.plan
            guard = None if old is None else _orphan_guard(old.schema, plan.schema)
            revision = self.store.write_schema(self.store_id, stored, guard=guard)
            self.catch_up(revision)
            return revision

    # -- writes -------------------------------------------------------------------------------

    def _current_plan(self) -> Plan:
        plan = self._head.plan
        if plan is None:
            self.catch_up()
            plan = self._head.plan
            if plan is None:
                raise NotFound("no schema has been written")
        return plan

    def write(
        self,
        updates: Sequence[RelationshipUpdate],
        preconditions: Sequence[Precondition] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        """Apply ``updates`` atomically if every precondition holds; returns the new revision."""
        plan = self._current_plan()
        seen: set[tuple[str, str, str, str, str, str | None]] = set()
        for u in updates:
            if u.relationship.key in seen:
                raise UpdatesOnSameRelationship(
                    f"relationship '{u.relationship}' is updated more than once in one write"
                )
            seen.add(u.relationship.key)
            if u.operation is not Operation.DELETE:
                validate_relationship(plan.schema, plan.caveats, u.relationship)
        for p in preconditions:
            require_filter(p.filter)
        revision = self.store.write(self.store_id, updates, preconditions, metadata)
        self.catch_up(revision)
        return revision

    def touch(self, *relationships: Relationship | str) -> int:
        return self.write([RelationshipUpdate(Operation.TOUCH, _rel(r)) for r in relationships])

    def create(self, *relationships: Relationship | str) -> int:
        return self.write([RelationshipUpdate(Operation.CREATE, _rel(r)) for r in relationships])

    def delete(self, *relationships: Relationship | str) -> int:
        return self.write([RelationshipUpdate(Operation.DELETE, _rel(r)) for r in relationships])

    def delete_relationships(
        self,
        filter: RelationshipFilter,
        *,
        limit: int | None = None,
        allow_partial: bool = False,
        preconditions: Sequence[Precondition] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> DeleteResult:
        """Delete every relationship matching ``filter`` (or up to ``limit``)."""
        require_filter(filter)
        result = self.store.delete(
            self.store_id,
            filter,
            limit=limit,
            allow_partial=allow_partial,
            preconditions=preconditions,
            metadata=metadata,
        )
        self.catch_up(result.revision)
        return result

    def import_relationships(self, batches: Iterable[Iterable[Relationship | str]]) -> ImportResult:
        """Create every relationship in one transaction (fails if any exists), validated
        against the schema as it streams in; returns the revision and the count.

        Into an empty index (a service loading its data), the relationships are indexed as
        they stream in, into an index of their own that becomes the head once the store has
        committed: a store that writes on another thread (SQLite) does its part meanwhile.
        Otherwise they are added to the head index after the commit.
        """
        plan = self._current_plan()
        imported: list[Relationship] = []
        shapes: set[tuple[object, ...]] = set()  # relationship shapes the schema accepted
        staged = RelationshipIndex() if len(self._head.index) == 0 else None

        def validated(batch: Iterable[Relationship | str]) -> list[Relationship]:
            out: list[Relationship] = []
            for r in batch:
                parsed = isinstance(r, str)
                rel = relationship(r) if isinstance(r, str) else r
                validate_relationship(plan.schema, plan.caveats, rel, shapes, parsed=parsed)
                out.append(rel)
            imported.extend(out)
            if staged is not None:
                for rel in out:
                    staged.add(rel)
            return out

        with collector_paused():  # (see rebac.tuning)
            result = self.store.import_relationships(self.store_id, map(validated, batches))
            self._index_imported(plan, imported, staged, result)
        return result

    def _index_imported(
        self,
        plan: Plan,
        imported: list[Relationship],
        staged: RelationshipIndex | None,
        result: ImportResult,
    ) -> None:
        with self.lock:
            head = self._head
            if head.revision == result.revision - 1 and head.plan is plan:
                # Nothing else was written meanwhile: index what was imported as it is,
                # instead of reading it all back from the store's change log.
                if staged is not None and len(head.index) == 0:
                    # A new state rather than the head changed in place: a snapshot taken
                    # before keeps the (empty) index of its own revision.
                    self._head = State(staged, plan, result.revision)
                    return
                add = head.index.add
                for rel in imported:
                    add(rel)
                head.changed(imported)
                head.revision = result.revision
            else:
                self.catch_up(result.revision)

    def read_relationships(
        self,
        filter: RelationshipFilter | None = None,
        *,
        consistency: Consistency | None = None,
    ) -> list[Relationship]:
        """Stored, unexpired relationships matching ``filter``, in key order."""
        if filter is not None:
            require_filter(filter)
        revision = self.snapshot(consistency).revision
        return self.store.read(self.store_id, filter, revision=revision)

    # -- queries (each at one snapshot; see Snapshot for the parameters) ---------------------

    def check(
        self,
        resource: ObjectRef | str,
        permission: str,
        subject: SubjectRef | str,
        context: Mapping[str, Any] | None = None,
        *,
        consistency: Consistency | None = None,
        contextual: Sequence[Relationship | str] = (),
        deadline: float | None = None,
    ) -> CheckResult:
        """Does ``subject`` have ``permission`` on ``resource``?"""
        return self.snapshot(consistency).check(
            resource, permission, subject, context, contextual=contextual, deadline=deadline
        )

    def check_bulk(
        self,
        items: Sequence[CheckItem],
        *,
        consistency: Consistency | None = None,
        contextual: Sequence[Relationship | str] = (),
        deadline: float | None = None,
    ) -> list[CheckResult | RebacError]:
        return self.snapshot(consistency).check_bulk(
            items, contextual=contextual, deadline=deadline
        )

    def expand(
        self,
        resource: ObjectRef | str,
        permission: str,
        *,
        recursive: bool = False,
        consistency: Consistency | None = None,
        contextual: Sequence[Relationship | str] = (),
        deadline: float | None = None,
    ) -> ExpandNode:
        return self.snapshot(consistency).expand(
            resource, permission, recursive=recursive, contextual=contextual, deadline=deadline
        )

    def lookup_resources(
        self,
        resource_type: str,
        permission: str,
        subject: SubjectRef | str,
        context: Mapping[str, Any] | None = None,
        *,
        consistency: Consistency | None = None,
        contextual: Sequence[Relationship | str] = (),
        deadline: float | None = None,
    ) -> list[LookupResult]:
        return self.snapshot(consistency).lookup_resources(
            resource_type, permission, subject, context, contextual=contextual, deadline=deadline
        )

    def lookup_subjects(
        self,
        resource: ObjectRef | str,
        permission: str,
        subject_type: str,
        subject_relation: str | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        include_wildcards: bool = True,
        consistency: Consistency | None = None,
        contextual: Sequence[Relationship | str] = (),
        deadline: float | None = None,
    ) -> list[LookupResult]:
        return self.snapshot(consistency).lookup_subjects(
            resource,
            permission,
            subject_type,
            subject_relation,
            context,
            include_wildcards=include_wildcards,
            contextual=contextual,
            deadline=deadline,
        )


def _orphan_guard(old: CompiledSchema, new: CompiledSchema) -> Callable[[StoreReader], None]:
    """Refuse a schema under which stored relationships would no longer be valid."""

    def guard(reader: StoreReader) -> None:
        for (rtype, name), relation in old.relations.items():
            new_rel = new.relations.get((rtype, name))
            if new_rel is None:
                f = RelationshipFilter(resource_type=rtype, relation=name)
                found = reader.first(f)
                if found is not None:
                    what = (
                        f"definition '{rtype}'"
                        if rtype not in new.definitions
                        else f"relation '{rtype}#{name}'"
                    )
                    raise SchemaInUse(f"cannot remove {what}: relationship '{found}' still uses it")
                continue
            kept = {(a.type, a.relation, a.wildcard) for a in new_rel.allowed}
            for a in relation.allowed:
                if (a.type, a.relation, a.wildcard) in kept:
                    continue
                f = RelationshipFilter(
                    resource_type=rtype,
                    relation=name,
                    subject=SubjectFilter(a.type, "*" if a.wildcard else None, a.relation or "..."),
                )
                found = reader.first(f)
                if found is not None and (a.wildcard or found.subject.id != "*"):
                    raise SchemaInUse(
                        f"cannot remove allowed type '{a}' from relation '{rtype}#{name}': "
                        f"relationship '{found}' still uses it"
                    )

    return guard
