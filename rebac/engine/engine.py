"""The in-process facade: schema, relationships and every query, in one object.

This is what users embed and what the server calls. It owns validation at the edge (so the
evaluators can trust their input) and turns evaluator values into public results. Queries run
on in-memory indexes; a write is validated completely before anything is applied, so a failed
write changes nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rebac.engine.check import Checker
from rebac.engine.expand import Expander, ExpandNode
from rebac.engine.index import RelationshipIndex
from rebac.engine.lookup import SubjectsWalker, candidate_resources, missing_of
from rebac.engine.plan import Plan
from rebac.engine.rules import (
    validate_check_target,
    validate_relationship,
    validate_resource_ids,
    validate_subject,
)
from rebac.engine.values import Conditional, Value
from rebac.errors import (
    AlreadyExists,
    InvalidRequest,
    LimitExceeded,
    NotFound,
    PreconditionFailed,
    RebacError,
)
from rebac.model import (
    CheckItem,
    CheckResult,
    LookupResult,
    ObjectRef,
    Operation,
    Permissionship,
    Precondition,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
    SubjectRef,
)

if TYPE_CHECKING:
    from rebac.caveats import CompiledCaveat
    from rebac.schema.compiler import CompiledSchema

DEFAULT_MAX_DEPTH = 50
MAX_MAX_DEPTH = 1000


def _compile_caveats(schema: CompiledSchema) -> dict[str, CompiledCaveat]:
    from rebac.caveats import compile_caveat

    return {name: compile_caveat(c) for name, c in schema.caveats.items()}


_HAS = CheckResult(Permissionship.HAS_PERMISSION)
_NO = CheckResult(Permissionship.NO_PERMISSION)


def _permissionship(value: Value) -> CheckResult:
    if value is True:
        return CheckResult(Permissionship.HAS_PERMISSION)
    if value is False:
        return CheckResult(Permissionship.NO_PERMISSION)
    assert isinstance(value, Conditional)
    return CheckResult(Permissionship.CONDITIONAL_PERMISSION, tuple(sorted(value.missing)))


# Parsed references by their text. Services ask about the same objects over and over; a dict
# lookup is much cheaper than a regular expression. Bounded by clearing (no LRU bookkeeping).
_REF_CACHE_LIMIT = 65_536
_object_cache: dict[str, ObjectRef] = {}
_subject_cache: dict[str, SubjectRef] = {}


def _obj(value: ObjectRef | str) -> ObjectRef:
    if isinstance(value, ObjectRef):
        return value
    ref = _object_cache.get(value)
    if ref is None:
        ref = ObjectRef.parse(value)
        if len(_object_cache) >= _REF_CACHE_LIMIT:
            _object_cache.clear()
        _object_cache[value] = ref
    return ref


def _subj(value: SubjectRef | str) -> SubjectRef:
    if isinstance(value, SubjectRef):
        return value
    ref = _subject_cache.get(value)
    if ref is None:
        ref = SubjectRef.parse(value)
        if len(_subject_cache) >= _REF_CACHE_LIMIT:
            _subject_cache.clear()
        _subject_cache[value] = ref
    return ref


class Engine:
    """A schema plus relationships, answering check, expand and lookups in-process.

    >>> engine = Engine('''
    ...     definition user {}
    ...     definition document {
    ...         relation viewer: user
    ...         permission view = viewer
    ...     }''')
    >>> _ = engine.touch("document:d1#viewer@user:alice")
    >>> engine.check("document:d1", "view", "user:alice").allowed
    True
    """

    def __init__(
        self,
        schema: str | None = None,
        *,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_updates: int = 1000,
        max_preconditions: int = 1000,
        clock: Callable[[], float] = time.time,
    ):
        if not 1 <= max_depth <= MAX_MAX_DEPTH:
            raise InvalidRequest(
                f"max_depth must be between 1 and {MAX_MAX_DEPTH}, got {max_depth}"
            )
        # Each dispatch costs a handful of Python frames; make sure the interpreter's limit
        # is never what stops a deep but legal evaluation.
        sys.setrecursionlimit(max(sys.getrecursionlimit(), max_depth * 20 + 1000))
        self.max_depth = max_depth
        self.max_updates = max_updates
        self.max_preconditions = max_preconditions
        self._clock = clock
        self._lock = threading.RLock()
        self._index = RelationshipIndex()
        self._schema: CompiledSchema | None = None
        self._plan: Plan | None = None
        self._revision = 0
        if schema is not None:
            self.write_schema(schema)

    # -- schema -----------------------------------------------------------------------------------

    @property
    def schema(self) -> CompiledSchema:
        if self._schema is None:
            raise NotFound("no schema has been written")
        return self._schema

    @property
    def revision(self) -> int:
        return self._revision

    def _require_plan(self) -> Plan:
        if self._plan is None:
            raise NotFound("no schema has been written")
        return self._plan

    def write_schema(
        self, text: str, *, source: str | None = None, base_dir: Path | None = None
    ) -> CompiledSchema:
        """Replace the schema. Refused if a stored relationship would no longer be valid."""
        # Imported here so that importing the engine never drags in the parser (and so that
        # rebac.schema may import rebac's value types without a cycle).
        from rebac.schema import compile_schema

        compiled = compile_schema(text, source=source, base_dir=base_dir)
        caveats = _compile_caveats(compiled)
        with self._lock:
            for rel in self._index:
                try:
                    validate_relationship(compiled, caveats, rel)
                except RebacError as exc:
                    raise InvalidRequest(
                        f"cannot apply schema: relationship '{rel}' is still stored and would "
                        f"become invalid ({exc})"
                    ) from exc
            self._schema = compiled
            self._plan = Plan(compiled, caveats)
            self._revision += 1
        return compiled

    # -- writes -----------------------------------------------------------------------------------

    def write(
        self,
        updates: Sequence[RelationshipUpdate],
        preconditions: Sequence[Precondition] = (),
    ) -> int:
        """Apply ``updates`` atomically if every precondition holds; returns the new revision."""
        plan = self._require_plan()
        if len(updates) > self.max_updates:
            raise LimitExceeded(
                f"too many updates in one write: {len(updates)} > limit {self.max_updates}"
            )
        if len(preconditions) > self.max_preconditions:
            raise LimitExceeded(
                f"too many preconditions in one write: {len(preconditions)} > limit "
                f"{self.max_preconditions}"
            )
        seen: set[tuple[str, str, str, str, str, str | None]] = set()
        for u in updates:
            if u.relationship.key in seen:
                raise InvalidRequest(
                    f"relationship '{u.relationship}' is updated more than once in one write"
                )
            seen.add(u.relationship.key)
            if u.operation is not Operation.DELETE:
                validate_relationship(plan.schema, plan.caveats, u.relationship)
        with self._lock:
            now = self._clock()
            for p in preconditions:
                matched = any(True for _ in self._matching(p.filter, now, limit=1))
                if matched != p.must_match:
                    kind = "MUST_MATCH" if p.must_match else "MUST_NOT_MATCH"
                    raise PreconditionFailed(f"precondition {kind} failed for filter {p.filter}")
            for u in updates:
                if u.operation is Operation.CREATE:
                    existing = self._index.get(u.relationship)
                    if existing is not None and existing.expires > now:
                        raise AlreadyExists(
                            f"could not CREATE relationship '{u.relationship}': it already exists"
                        )
            for u in updates:
                if u.operation is Operation.DELETE:
                    self._index.remove(u.relationship)
                else:
                    self._index.add(u.relationship)
            self._revision += 1
            return self._revision

    def touch(self, *relationships: Relationship | str) -> int:
        return self.write([RelationshipUpdate(Operation.TOUCH, _rel(r)) for r in relationships])

    def create(self, *relationships: Relationship | str) -> int:
        return self.write([RelationshipUpdate(Operation.CREATE, _rel(r)) for r in relationships])

    def delete(self, *relationships: Relationship | str) -> int:
        return self.write([RelationshipUpdate(Operation.DELETE, _rel(r)) for r in relationships])

    def delete_relationships(self, filter: RelationshipFilter) -> int:
        """Delete every relationship matching ``filter``; returns how many were deleted."""
        _require_filter(filter)
        with self._lock:
            doomed = list(self._matching(filter, now=None))
            for rel in doomed:
                self._index.remove(rel)
            self._revision += 1
            return len(doomed)

    def read_relationships(self, filter: RelationshipFilter | None = None) -> list[Relationship]:
        """Stored, unexpired relationships matching ``filter``, sorted by their text form."""
        if filter is not None:
            _require_filter(filter)
        with self._lock:
            rels = list(self._matching(filter, self._clock()))
        rels.sort(key=lambda r: (r.key[:5], r.key[5] or ""))
        return rels

    def _matching(
        self, filter: RelationshipFilter | None, now: float | None, limit: int | None = None
    ) -> Iterable[Relationship]:
        count = 0
        for rel in self._index:
            if now is not None and rel.expires_at is not None and rel.expires_at.timestamp() <= now:
                continue
            if filter is None or filter.matches(rel):
                yield rel
                count += 1
                if limit is not None and count >= limit:
                    return

    # -- queries ----------------------------------------------------------------------------------

    def _checker(
        self, plan: Plan, subject: SubjectRef, context: Mapping[str, Any] | None
    ) -> Checker:
        return Checker(
            plan,
            self._index,
            subject.type,
            subject.id,
            subject.relation,
            now=self._clock(),
            max_depth=self.max_depth,
            context=context,
        )

    def check(
        self,
        resource: ObjectRef | str,
        permission: str,
        subject: SubjectRef | str,
        context: Mapping[str, Any] | None = None,
    ) -> CheckResult:
        """Does ``subject`` have ``permission`` on ``resource``?"""
        plan = self._plan
        if plan is None:
            raise NotFound("no schema has been written")
        r, s = _obj(resource), _subj(subject)
        self._validate_query(plan, r, permission, s, resource, subject)
        with self._lock:
            value = self._checker(plan, s, context).check(r.type, r.id, permission)
        if value is True:
            return _HAS
        if value is False:
            return _NO
        return _permissionship(value)

    @staticmethod
    def _validate_query(
        plan: Plan,
        r: ObjectRef,
        permission: str,
        s: SubjectRef,
        raw_resource: object,
        raw_subject: object,
    ) -> None:
        """Validate a check's inputs, cheaply in the common case (all names known)."""
        evaluators = plan.evaluators
        if (r.type, permission) not in evaluators:
            validate_check_target(plan.schema, r.type, permission)
        if (
            s.id == "*"
            or s.type not in plan.schema.definitions
            or (s.relation is not None and (s.type, s.relation) not in evaluators)
            or not isinstance(raw_subject, str)
        ):
            validate_subject(plan.schema, s)
        if not isinstance(raw_resource, str):
            validate_resource_ids(r)

    def check_bulk(self, items: Sequence[CheckItem]) -> list[CheckResult | RebacError]:
        """Each item answered on its own (its own context); errors are per item, in order."""
        results: list[CheckResult | RebacError] = []
        for item in items:
            try:
                results.append(
                    self.check(item.resource, item.permission, item.subject, item.context)
                )
            except RebacError as exc:
                results.append(exc)
        return results

    def expand(
        self, resource: ObjectRef | str, permission: str, *, recursive: bool = False
    ) -> ExpandNode:
        plan = self._require_plan()
        r = _obj(resource)
        validate_check_target(plan.schema, r.type, permission)
        with self._lock:
            expander = Expander(
                plan, self._index, now=self._clock(), max_depth=self.max_depth, recursive=recursive
            )
            return expander.expand(r.type, r.id, permission)

    def lookup_resources(
        self,
        resource_type: str,
        permission: str,
        subject: SubjectRef | str,
        context: Mapping[str, Any] | None = None,
    ) -> list[LookupResult]:
        """Every ``resource_type`` id on which ``subject`` has ``permission``, sorted by id."""
        plan = self._require_plan()
        s = _subj(subject)
        validate_check_target(plan.schema, resource_type, permission)
        validate_subject(plan.schema, s)
        with self._lock:
            checker = self._checker(plan, s, context)
            candidates = candidate_resources(
                plan,
                self._index,
                resource_type,
                permission,
                (s.type, s.id, s.relation),
                checker.now,
            )
            out = []
            for rid in sorted(candidates):
                v = checker.check(resource_type, rid, permission)
                if v is True:
                    out.append(LookupResult(rid))
                elif v is not False:
                    out.append(
                        LookupResult(rid, Permissionship.CONDITIONAL_PERMISSION, missing_of(v))
                    )
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
    ) -> list[LookupResult]:
        """Every subject of ``subject_type`` with ``permission`` on ``resource``, sorted by id.

        A wildcard comes back as id ``*`` with the subjects it does not cover in ``excluded``.
        """
        plan = self._require_plan()
        r = _obj(resource)
        validate_check_target(plan.schema, r.type, permission)
        if subject_type not in plan.schema.definitions:
            from rebac.errors import UnknownDefinition

            raise UnknownDefinition(f"object definition '{subject_type}' not found")
        if subject_relation == "...":
            subject_relation = None
        with self._lock:
            walker = SubjectsWalker(
                plan,
                self._index,
                subject_type,
                subject_relation,
                now=self._clock(),
                max_depth=self.max_depth,
                context=context,
            )
            found = walker.subjects(r.type, r.id, permission)
        out = [_lookup_result(sid, v) for sid, v in sorted(found.concrete.items())]
        if include_wildcards and found.wildcard is not False:
            excluded = tuple(_lookup_result(sid, v) for sid, v in sorted(found.excluded.items()))
            wild = _lookup_result("*", found.wildcard)
            out.append(LookupResult("*", wild.permissionship, wild.missing_context, excluded))
        return out


def _lookup_result(sid: str, value: Value) -> LookupResult:
    if value is True:
        return LookupResult(sid)
    return LookupResult(sid, Permissionship.CONDITIONAL_PERMISSION, missing_of(value))


def _rel(value: Relationship | str) -> Relationship:
    return value if isinstance(value, Relationship) else Relationship.parse(value)


def _require_filter(filter: RelationshipFilter) -> None:
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
