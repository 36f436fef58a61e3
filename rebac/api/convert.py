"""Protobuf <-> rebac types: the one place that knows both.

Servicers call ``*_in`` functions to turn request messages into :mod:`rebac.model` values and
``*_out`` functions to build responses; :mod:`rebac.client` uses the same functions the other
way round, so client and server agree on the mapping by construction.

Input is validated here, at the edge, with errors that name the offending field and quote the
value (:class:`~rebac.errors.InvalidField`), e.g.
``resource.object_type: invalid type name (got 'Doc!')``. Whether a *valid* name exists in
the schema is the engine's business (FAILED_PRECONDITION), not this module's.

A server sees the same objects, subjects and permissions over and over: references that passed
validation are remembered (:class:`_Known`, bounded), so a repeated one costs a dictionary
lookup instead of the pattern matches and a new value. Only valid input is remembered; the
field name matters only to an error, so it is not part of the key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format, struct_pb2

from rebac.api.v1 import core_pb2 as core
from rebac.api.v1 import permission_service_pb2 as perm
from rebac.api.v1 import schema_service_pb2 as schema_pb
from rebac.api.v1 import watch_service_pb2 as watch_pb
from rebac.engine.expand import ExpandedSubject, ExpandNode, NodeKind
from rebac.engine.rules import CONTEXTUAL_FIELD, MAX_CONTEXTUAL_RELATIONSHIPS
from rebac.errors import InvalidField, LimitExceeded
from rebac.model import (
    ELLIPSIS,
    WILDCARD,
    CheckResult,
    LookupResult,
    ObjectRef,
    Operation,
    Permissionship,
    Precondition,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
    SubjectFilter,
    SubjectRef,
    is_valid_object_id,
    is_valid_relation_name,
    is_valid_type_name,
)
from rebac.revision import Consistency, ConsistencyMode
from rebac.schema.diff import SchemaChange
from rebac.store import ChangeSet

# -- remembered conversions ---------------------------------------------------------------------

#: Entries per table of remembered conversions (a few MiB at most; emptied when full).
KNOWN_LIMIT = 16_384


class _Known(dict[Any, Any]):
    """A bounded table of conversions that succeeded: emptied when full (cheap, thread-safe
    under the GIL, and a working set refills it at once)."""

    def remember(self, key: Any, value: Any) -> None:
        if len(self) >= KNOWN_LIMIT:
            self.clear()
        self[key] = value


_known_objects = _Known()  # (type, id) -> ObjectRef
_known_subjects = _Known()  # (type, id, relation, wildcard allowed) -> SubjectRef
_known_relations = _Known()  # name -> name


# -- scalars ------------------------------------------------------------------------------------


def store_id_in(value: str) -> str:
    if not value:
        raise InvalidField("store_id", value, "required")
    return value


def type_name_in(value: str, field: str) -> str:
    if not value:
        raise InvalidField(field, value, "required")
    if not is_valid_type_name(value):
        raise InvalidField(field, value, "invalid type name")
    return value


def relation_in(value: str, field: str) -> str:
    if value in _known_relations:
        return value
    if not value:
        raise InvalidField(field, value, "required")
    if not is_valid_relation_name(value):
        raise InvalidField(field, value, "invalid relation or permission name")
    _known_relations.remember(value, value)
    return value


def optional_relation_in(value: str, field: str) -> str | None:
    """Empty or ``...`` means "the object itself"."""
    if value in ("", ELLIPSIS):
        return None
    return relation_in(value, field)


def object_id_in(value: str, field: str, *, allow_wildcard: bool = False) -> str:
    if not value:
        raise InvalidField(field, value, "required")
    if value == WILDCARD:
        if not allow_wildcard:
            raise InvalidField(field, value, "a wildcard is not allowed here")
        return value
    if not is_valid_object_id(value):
        raise InvalidField(field, value, "invalid object id")
    return value


def limit_in(value: int, field: str, maximum: int) -> int | None:
    """0 means unset; anything above ``maximum`` is refused, not silently cut."""
    if value == 0:
        return None
    if value > maximum:
        raise LimitExceeded(f"{field}: {value} exceeds the maximum of {maximum}")
    return value


def struct_in(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def struct_out(value: Mapping[str, Any] | None) -> struct_pb2.Struct | None:
    if value is None:
        return None
    out = struct_pb2.Struct()
    out.update(dict(value))
    return out


def timestamp_in(message: Any) -> datetime:
    value: datetime = message.ToDatetime(tzinfo=UTC)
    return value


# -- references -------------------------------------------------------------------------------


def object_in(message: core.ObjectReference, field: str) -> ObjectRef:
    key = (message.object_type, message.object_id)
    ref: ObjectRef | None = _known_objects.get(key)
    if ref is None:
        ref = ObjectRef(
            type_name_in(key[0], f"{field}.object_type"),
            object_id_in(key[1], f"{field}.object_id"),
        )
        _known_objects.remember(key, ref)
    return ref


def object_out(ref: ObjectRef) -> core.ObjectReference:
    return core.ObjectReference(object_type=ref.type, object_id=ref.id)


def subject_in(
    message: core.SubjectReference, field: str, *, allow_wildcard: bool = False
) -> SubjectRef:
    obj = message.object
    key = (obj.object_type, obj.object_id, message.optional_relation, allow_wildcard)
    ref: SubjectRef | None = _known_subjects.get(key)
    if ref is None:
        ref = SubjectRef(
            type_name_in(key[0], f"{field}.object.object_type"),
            object_id_in(key[1], f"{field}.object.object_id", allow_wildcard=allow_wildcard),
            optional_relation_in(key[2], f"{field}.optional_relation"),
        )
        _known_subjects.remember(key, ref)
    return ref


def subject_out(ref: SubjectRef) -> core.SubjectReference:
    return core.SubjectReference(
        object=core.ObjectReference(object_type=ref.type, object_id=ref.id),
        optional_relation=ref.relation or "",
    )


# -- relationships ------------------------------------------------------------------------------


def relationship_in(message: core.Relationship, field: str) -> Relationship:
    caveat_name: str | None = None
    caveat_context: dict[str, Any] | None = None
    if message.HasField("optional_caveat"):
        cav = message.optional_caveat
        caveat_name = type_name_in(cav.caveat_name, f"{field}.optional_caveat.caveat_name")
        if cav.HasField("context"):
            caveat_context = struct_in(cav.context) or None
    expires = (
        timestamp_in(message.optional_expires_at)
        if message.HasField("optional_expires_at")
        else None
    )
    return Relationship(
        object_in(message.resource, f"{field}.resource"),
        relation_in(message.relation, f"{field}.relation"),
        subject_in(message.subject, f"{field}.subject", allow_wildcard=True),
        caveat_name,
        caveat_context,
        expires,
    )


def relationship_out(rel: Relationship) -> core.Relationship:
    out = core.Relationship()
    relationship_into(out, rel)
    return out


def relationship_into(out: core.Relationship, rel: Relationship) -> None:
    """``rel`` written into the (empty) message ``out``, field by field: a message that is
    part of a larger one (a Read result) is filled in place instead of built and copied."""
    resource, subject = rel.resource, rel.subject
    out.resource.object_type = resource.type
    out.resource.object_id = resource.id
    out.relation = rel.relation
    out.subject.object.object_type = subject.type
    out.subject.object.object_id = subject.id
    if subject.relation:
        out.subject.optional_relation = subject.relation
    if rel.caveat_name is not None:
        out.optional_caveat.caveat_name = rel.caveat_name
        if rel.caveat_context:
            out.optional_caveat.context.update(dict(rel.caveat_context))
    if rel.expires_at is not None:
        out.optional_expires_at.FromDatetime(rel.expires_at.astimezone(UTC))


#: The request field of every query that carries request-scoped relationships.


def contextual_in(
    messages: Sequence[core.Relationship], field: str = CONTEXTUAL_FIELD
) -> list[Relationship]:
    """A query's contextual relationships, each checked for form (``field[i]...`` on error).

    The count is refused before anything is converted, with the engine's limit and error class,
    so that an oversized request costs no work; whether each relationship fits the schema is
    checked by the servicer (it needs the schema) and again by the engine.
    """
    if not messages:
        return []
    if len(messages) > MAX_CONTEXTUAL_RELATIONSHIPS:
        raise LimitExceeded(
            f"{field}: too many contextual relationships: {len(messages)} > limit "
            f"{MAX_CONTEXTUAL_RELATIONSHIPS}"
        )
    return [relationship_in(m, f"{field}[{i}]") for i, m in enumerate(messages)]


def contextual_out(relationships: Iterable[Relationship]) -> list[core.Relationship]:
    return [relationship_out(r) for r in relationships]


def contextual_key(relationships: Sequence[Relationship]) -> str:
    """A stable text of a query's contextual relationships, for cursor fingerprints: a cursor
    must not resume a listing under other request-scoped data than the one it came from."""
    return "\n".join(sorted(str(r) for r in relationships))


_OPERATIONS_IN = {
    core.RelationshipUpdate.OPERATION_CREATE: Operation.CREATE,
    core.RelationshipUpdate.OPERATION_TOUCH: Operation.TOUCH,
    core.RelationshipUpdate.OPERATION_DELETE: Operation.DELETE,
}
_OPERATIONS_OUT = {v: k for k, v in _OPERATIONS_IN.items()}


def update_in(message: core.RelationshipUpdate, field: str) -> RelationshipUpdate:
    operation = _OPERATIONS_IN.get(message.operation)
    if operation is None:
        raise InvalidField(
            f"{field}.operation", message.operation, "must be CREATE, TOUCH or DELETE"
        )
    return RelationshipUpdate(
        operation, relationship_in(message.relationship, f"{field}.relationship")
    )


def update_out(update: RelationshipUpdate) -> core.RelationshipUpdate:
    return core.RelationshipUpdate(
        operation=_OPERATIONS_OUT[update.operation],
        relationship=relationship_out(update.relationship),
    )


def subject_filter_in(message: core.SubjectFilter, field: str) -> SubjectFilter:
    sid = None
    if message.HasField("optional_subject_id"):
        sid = object_id_in(
            message.optional_subject_id, f"{field}.optional_subject_id", allow_wildcard=True
        )
    relation = None
    if message.HasField("optional_relation"):
        relation = message.optional_relation or ELLIPSIS
        if relation != ELLIPSIS:
            relation_in(relation, f"{field}.optional_relation")
    return SubjectFilter(type_name_in(message.subject_type, f"{field}.subject_type"), sid, relation)


def filter_in(message: core.RelationshipFilter, field: str) -> RelationshipFilter:
    """A filter; "at least one field" is the engine's rule and message, not repeated here."""
    rtype = (
        type_name_in(message.resource_type, f"{field}.resource_type")
        if message.resource_type
        else None
    )
    rid = prefix = relation = None
    if message.HasField("optional_resource_id"):
        rid = object_id_in(message.optional_resource_id, f"{field}.optional_resource_id")
    if message.HasField("optional_resource_id_prefix"):
        prefix = message.optional_resource_id_prefix
    if message.HasField("optional_relation"):
        relation = relation_in(message.optional_relation, f"{field}.optional_relation")
    subject = (
        subject_filter_in(message.optional_subject_filter, f"{field}.optional_subject_filter")
        if message.HasField("optional_subject_filter")
        else None
    )
    return RelationshipFilter(rtype, rid, prefix, relation, subject)


def filter_out(f: RelationshipFilter) -> core.RelationshipFilter:
    out = core.RelationshipFilter(resource_type=f.resource_type or "")
    if f.resource_id is not None:
        out.optional_resource_id = f.resource_id
    if f.resource_id_prefix is not None:
        out.optional_resource_id_prefix = f.resource_id_prefix
    if f.relation is not None:
        out.optional_relation = f.relation
    if f.subject is not None:
        sf = out.optional_subject_filter
        sf.subject_type = f.subject.type
        if f.subject.id is not None:
            sf.optional_subject_id = f.subject.id
        if f.subject.relation is not None:
            sf.optional_relation = f.subject.relation
    return out


def precondition_in(message: core.Precondition, field: str) -> Precondition:
    op = message.operation
    if op not in (
        core.Precondition.OPERATION_MUST_MATCH,
        core.Precondition.OPERATION_MUST_NOT_MATCH,
    ):
        raise InvalidField(f"{field}.operation", op, "must be MUST_MATCH or MUST_NOT_MATCH")
    return Precondition(
        op == core.Precondition.OPERATION_MUST_MATCH, filter_in(message.filter, f"{field}.filter")
    )


def precondition_out(p: Precondition) -> core.Precondition:
    op = (
        core.Precondition.OPERATION_MUST_MATCH
        if p.must_match
        else core.Precondition.OPERATION_MUST_NOT_MATCH
    )
    return core.Precondition(operation=op, filter=filter_out(p.filter))


# -- consistency, tokens, cursors -----------------------------------------------------------------


def consistency_in(message: core.Consistency, present: bool) -> Consistency | None:
    """None (the engine's default, minimize_latency) when the request has no consistency."""
    if not present:
        return None
    which = message.WhichOneof("requirement")
    if which == "at_least_as_fresh" or which == "at_exact_snapshot":
        token = getattr(message, which).token
        if not token:
            raise InvalidField(f"consistency.{which}.token", token, "required")
        if which == "at_least_as_fresh":
            return Consistency.at_least_as_fresh(token)
        return Consistency.at_exact_snapshot(token)
    if which == "fully_consistent":
        return Consistency.fully_consistent()
    return Consistency.minimize_latency()


def consistency_out(c: Consistency | None) -> core.Consistency | None:
    if c is None:
        return None
    mode = c.mode
    if mode is ConsistencyMode.AT_LEAST_AS_FRESH:
        return core.Consistency(at_least_as_fresh=core.ConsistencyToken(token=c.token or ""))
    if mode is ConsistencyMode.AT_EXACT_SNAPSHOT:
        return core.Consistency(at_exact_snapshot=core.ConsistencyToken(token=c.token or ""))
    if mode is ConsistencyMode.FULLY_CONSISTENT:
        return core.Consistency(fully_consistent=True)
    return core.Consistency(minimize_latency=True)


def token_out(token: str) -> core.ConsistencyToken:
    return core.ConsistencyToken(token=token)


def cursor_out(token: str | None) -> core.Cursor | None:
    return None if token is None else core.Cursor(token=token)


# -- permissions --------------------------------------------------------------------------------


def permissionship_out(p: Permissionship) -> core.Permissionship.ValueType:
    return core.Permissionship.ValueType(int(p))


def permissionship_in(value: int) -> Permissionship:
    return Permissionship(value)


def caveat_info_out(missing: Sequence[str]) -> core.PartialCaveatInfo | None:
    return core.PartialCaveatInfo(missing_required_context=missing) if missing else None


def context_in(message: struct_pb2.Struct, present: bool) -> dict[str, Any] | None:
    return struct_in(message) if present else None


#: A bulk check item as the servicer hands it to the engine: resource, permission, subject,
#: context (a plain tuple: a frozen dataclass per item costs more than its conversion).
CheckItemParts = tuple[ObjectRef, str, SubjectRef, "dict[str, Any] | None"]


def check_item_in(message: perm.CheckBulkRequestItem, index: int) -> CheckItemParts:
    """Item ``index`` of a bulk check. The names of its fields (``items[3].resource``) are
    made only for an item that is refused: the first attempt names them without the index,
    and a refused item is converted again with it, failing the same way with the full name."""
    try:
        return _check_item(message, "resource", "permission", "subject")
    except InvalidField:
        pass
    at = f"items[{index}]"
    return _check_item(message, f"{at}.resource", f"{at}.permission", f"{at}.subject")


def _check_item(
    message: perm.CheckBulkRequestItem, resource: str, permission: str, subject: str
) -> CheckItemParts:
    return (
        object_in(message.resource, resource),
        relation_in(message.permission, permission),
        subject_in(message.subject, subject),
        context_in(message.context, message.HasField("context")),
    )


_NODE_OPS: dict[NodeKind, perm.AlgebraicSubjectSet.Operation.ValueType] = {
    "union": perm.AlgebraicSubjectSet.OPERATION_UNION,
    "intersection": perm.AlgebraicSubjectSet.OPERATION_INTERSECTION,
    "exclusion": perm.AlgebraicSubjectSet.OPERATION_EXCLUSION,
}


def expand_out(node: ExpandNode) -> perm.PermissionRelationshipTree:
    out = perm.PermissionRelationshipTree(
        expanded_object=object_out(node.resource),
        expanded_relation=node.relation,
        caveat_name=node.caveat or "",
    )
    if node.kind == "leaf":
        out.leaf.SetInParent()
        for s in node.subjects:
            item = out.leaf.subjects.add(subject=subject_out(s.subject), caveat_name=s.caveat or "")
            if s.expires_at is not None:
                item.expires_at.FromDatetime(s.expires_at.astimezone(UTC))
    else:
        out.intermediate.operation = _NODE_OPS[node.kind]
        out.intermediate.children.extend(expand_out(c) for c in node.children)
    return out


_NODE_KINDS: dict[int, NodeKind] = {v: k for k, v in _NODE_OPS.items()}


def expand_in(message: perm.PermissionRelationshipTree) -> ExpandNode:
    """The inverse of :func:`expand_out` (trusted server output: no field validation)."""
    obj = ObjectRef(message.expanded_object.object_type, message.expanded_object.object_id)
    caveat = message.caveat_name or None
    if message.WhichOneof("tree_type") == "intermediate":
        kind = _NODE_KINDS[message.intermediate.operation]
        children = tuple(expand_in(c) for c in message.intermediate.children)
        return ExpandNode(kind, obj, message.expanded_relation, children=children, caveat=caveat)
    subjects = tuple(
        ExpandedSubject(
            SubjectRef(
                s.subject.object.object_type,
                s.subject.object.object_id,
                s.subject.optional_relation or None,
            ),
            s.caveat_name or None,
            timestamp_in(s.expires_at) if s.HasField("expires_at") else None,
        )
        for s in message.leaf.subjects
    )
    return ExpandNode("leaf", obj, message.expanded_relation, subjects=subjects, caveat=caveat)


def check_result_in(permissionship: int, info: core.PartialCaveatInfo) -> CheckResult:
    return CheckResult(permissionship_in(permissionship), tuple(info.missing_required_context))


def resolved_subject_out(r: LookupResult) -> perm.ResolvedSubject:
    return perm.ResolvedSubject(
        subject_object_id=r.id,
        permissionship=permissionship_out(r.permissionship),
        partial_caveat_info=caveat_info_out(r.missing_context),
    )


def add_looked_up_resource(
    message: perm.LookupResourcesResponse, r: LookupResult, cursor: str
) -> None:
    """Append ``r`` (resumed after by ``cursor``) to the results of ``message``. Fields are
    set one by one: four times cheaper than ``add`` with keyword arguments, which builds a
    message per argument and copies it (a lookup adds one per result)."""
    item = message.resources.add()
    item.resource_object_id = r.id
    item.permissionship = permissionship_out(r.permissionship)
    if r.missing_context:
        item.partial_caveat_info.missing_required_context.extend(r.missing_context)
    item.after_result_cursor.token = cursor


def add_looked_up_subject(
    message: perm.LookupSubjectsResponse, r: LookupResult, cursor: str
) -> None:
    """Append ``r`` (resumed after by ``cursor``) to the results of ``message`` (fields set
    one by one, as in :func:`add_looked_up_resource`)."""
    item = message.subjects.add()
    _set_resolved_subject(item.subject, r)
    for x in r.excluded:
        _set_resolved_subject(item.excluded_subjects.add(), x)
    item.after_result_cursor.token = cursor


def _set_resolved_subject(out: perm.ResolvedSubject, r: LookupResult) -> None:
    out.subject_object_id = r.id
    out.permissionship = permissionship_out(r.permissionship)
    if r.missing_context:
        out.partial_caveat_info.missing_required_context.extend(r.missing_context)


def lookup_end_out(token: str, complete: bool, cursor: str | None) -> perm.LookupEnd:
    return perm.LookupEnd(
        looked_up_at=token_out(token), complete=complete, after_result_cursor=cursor_out(cursor)
    )


def lookup_result_in(
    permissionship: int, missing: Iterable[str], rid: str, excluded: tuple[LookupResult, ...] = ()
) -> LookupResult:
    return LookupResult(rid, permissionship_in(permissionship), tuple(missing), excluded)


def resolved_subject_in(message: perm.ResolvedSubject) -> LookupResult:
    return lookup_result_in(
        message.permissionship,
        message.partial_caveat_info.missing_required_context,
        message.subject_object_id,
    )


# -- watch and schema ----------------------------------------------------------------------------


def change_set_out(
    changes: ChangeSet,
    token: str,
    watched: RelationshipFilterSet,
    *,
    relationships: bool,
    schema: bool,
) -> watch_pb.WatchResponse | None:
    """The Watch message of one revision, or None when nothing in it is watched."""
    updates: list[watch_pb.RelationshipChange] = []
    if relationships:
        change = watch_pb.RelationshipChange
        for operation, rels in (
            (change.OPERATION_TOUCH, changes.touched),
            (change.OPERATION_DELETE, changes.deleted),
        ):
            updates.extend(
                change(operation=operation, relationship=relationship_out(rel))
                for rel in rels
                if watched.matches(rel)
            )
    schema_updated = schema and changes.schema_changed
    if not updates and not schema_updated:
        return None
    return watch_pb.WatchResponse(
        updates=updates,
        changes_through=token_out(token),
        optional_transaction_metadata=struct_out(changes.metadata),
        schema_updated=schema_updated,
    )


class RelationshipFilterSet:
    """What a Watch call selects: object types and/or filters (nothing given: everything)."""

    def __init__(self, object_types: Sequence[str], filters: Sequence[RelationshipFilter]):
        self.object_types = frozenset(object_types)
        self.filters = tuple(filters)

    def matches(self, rel: Relationship) -> bool:
        if self.object_types and rel.resource.type not in self.object_types:
            return False
        return not self.filters or any(f.matches(rel) for f in self.filters)


def watch_filters_in(message: watch_pb.WatchRequest) -> RelationshipFilterSet:
    types = [
        type_name_in(t, f"optional_object_types[{i}]")
        for i, t in enumerate(message.optional_object_types)
    ]
    filters = [
        filter_in(f, f"optional_relationship_filters[{i}]")
        for i, f in enumerate(message.optional_relationship_filters)
    ]
    return RelationshipFilterSet(types, filters)


def schema_diff_out(change: SchemaChange) -> schema_pb.SchemaDiff:
    kind = schema_pb.SchemaDiff.Kind.Value("KIND_" + change.kind.upper())
    return schema_pb.SchemaDiff(
        kind=kind, name=change.name, member=change.member, detail=change.detail
    )


def schema_diff_in(message: schema_pb.SchemaDiff) -> SchemaChange:
    kind = schema_pb.SchemaDiff.Kind.Name(message.kind).removeprefix("KIND_").lower()
    return SchemaChange(kind, message.name, message.member, message.detail)
