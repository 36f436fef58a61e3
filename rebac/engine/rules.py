"""Validation of relationships and requests against the schema.

Writes are validated exactly as SpiceDB validates them: a relationship must match one allowed
subject type of its relation *exactly* -- same subject type, same wildcard-or-not, same subject
relation, same caveat (or none), same expiration trait (or none).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rebac.engine.index import RelationshipIndex
from rebac.errors import (
    CannotUpdatePermission,
    InvalidField,
    InvalidRequest,
    InvalidSubjectType,
    LimitExceeded,
    RebacError,
    UnknownCaveat,
    UnknownDefinition,
    UnknownRelation,
)
from rebac.model import (
    WILDCARD,
    ObjectRef,
    Relationship,
    SubjectRef,
    is_valid_object_id,
    is_valid_relation_name,
    is_valid_type_name,
)
from rebac.schema import ast

if TYPE_CHECKING:
    from rebac.caveats import CompiledCaveat
    from rebac.schema.compiler import CompiledSchema


def _require_definition(schema: CompiledSchema, name: str) -> ast.Definition:
    definition = schema.definitions.get(name)
    if definition is None:
        raise UnknownDefinition(f"object definition '{name}' not found")
    return definition


def _check_ids(obj: ObjectRef | SubjectRef, *, what: str, allow_wildcard: bool) -> None:
    if not is_valid_type_name(obj.type):
        raise InvalidRequest(f"invalid {what} type {obj.type!r}")
    if obj.id == WILDCARD:
        if not allow_wildcard:
            raise InvalidRequest(f"a wildcard ('*') is not allowed as the {what} here")
    elif not is_valid_object_id(obj.id):
        raise InvalidRequest(
            f"invalid {what} id {obj.id!r}: expected 1-1024 characters of [a-zA-Z0-9/_|-=+]"
        )


def validate_relationship(
    schema: CompiledSchema,
    caveats: Mapping[str, CompiledCaveat],
    rel: Relationship,
    accepted: set[tuple[object, ...]] | None = None,
    *,
    parsed: bool = False,
) -> None:
    """Raise if ``rel`` may not be stored under ``schema``.

    ``accepted`` (a bulk import's) remembers the shapes -- types, relations, caveat,
    expiration -- already found allowed, so that most relationships cost only their caveat
    context's check, which is per relationship. ``parsed``: ``rel`` came from
    :meth:`Relationship.parse`, whose grammar already checked the ids and type names (all
    but the length of a type name).
    """
    s = rel.subject
    if not parsed or len(rel.resource.type) > 128 or len(s.type) > 128:
        _check_ids(rel.resource, what="resource", allow_wildcard=False)
        _check_ids(s, what="subject", allow_wildcard=True)
    shape = (
        rel.resource.type,
        rel.relation,
        s.type,
        s.id == WILDCARD,
        s.relation,
        rel.caveat_name,
        rel.expires_at is not None,
    )
    if accepted is None or shape not in accepted:
        _check_shape(schema, rel)
        if accepted is not None:
            accepted.add(shape)
    _check_context(caveats, rel)


def _check_shape(schema: CompiledSchema, rel: Relationship) -> None:
    rtype = rel.resource.type
    _require_definition(schema, rtype)
    if (rtype, rel.relation) in schema.permissions:
        raise CannotUpdatePermission(
            f"cannot write a relationship to permission '{rel.relation}' on '{rtype}': "
            "only relations can be written"
        )
    relation = schema.relations.get((rtype, rel.relation))
    if relation is None:
        raise UnknownRelation(f"relation '{rel.relation}' not found on definition '{rtype}'")
    s = rel.subject
    _require_definition(schema, s.type)
    if s.relation is not None and schema.member(s.type, s.relation) is None:
        raise UnknownRelation(f"relation '{s.relation}' not found on definition '{s.type}'")
    if rel.caveat_name is not None and rel.caveat_name not in schema.caveats:
        raise UnknownCaveat(f"caveat '{rel.caveat_name}' not found")
    wildcard = s.id == WILDCARD
    if wildcard and s.relation is not None:
        raise InvalidRequest(f"a wildcard subject cannot have a relation: {rel}")
    expiring = rel.expires_at is not None
    for a in relation.allowed:
        if (
            a.type == s.type
            and a.wildcard == wildcard
            and a.relation == s.relation
            and a.caveat == rel.caveat_name
            and a.expiration == expiring
        ):
            break
    else:
        traits = [t for t in (rel.caveat_name, "expiration" if expiring else None) if t]
        shown = (
            ast.AllowedType(s.type, s.relation, wildcard, rel.caveat_name, expiring).__str__()
            if traits or wildcard or s.relation
            else s.type
        )
        raise InvalidSubjectType(
            f"subjects of type '{shown}' are not allowed on relation '{rtype}#{rel.relation}'"
        )


def _check_context(caveats: Mapping[str, CompiledCaveat], rel: Relationship) -> None:
    """A stored caveat context: within the size limit and of the caveat's parameter types."""
    if rel.caveat_name is not None and rel.caveat_context:
        size = context_size(rel.caveat_context)
        if size > MAX_STORED_CONTEXT_BYTES:
            raise LimitExceeded(
                f"caveat context of relationship '{rel.resource}#{rel.relation}@{rel.subject}' "
                f"is {size} bytes, over the limit of {MAX_STORED_CONTEXT_BYTES}"
            )
        compiled = caveats.get(rel.caveat_name)
        if compiled is not None:
            compiled.convert_context(rel.caveat_context)


def validate_check_target(schema: CompiledSchema, resource_type: str, permission: str) -> None:
    _require_definition(schema, resource_type)
    if not is_valid_relation_name(permission) and schema.member(resource_type, permission) is None:
        raise InvalidRequest(f"invalid relation or permission name {permission!r}")
    if schema.member(resource_type, permission) is None:
        raise UnknownRelation(
            f"relation/permission '{permission}' not found on definition '{resource_type}'"
        )


def validate_resource_ids(resource: ObjectRef) -> None:
    _check_ids(resource, what="resource", allow_wildcard=False)


def validate_subject(schema: CompiledSchema, subject: SubjectRef) -> None:
    if subject.id == WILDCARD:
        raise InvalidRequest("a wildcard ('*') cannot be the subject of a check or lookup")
    _check_ids(subject, what="subject", allow_wildcard=False)
    _require_definition(schema, subject.type)
    if subject.relation is not None and schema.member(subject.type, subject.relation) is None:
        raise UnknownRelation(
            f"relation/permission '{subject.relation}' not found on definition '{subject.type}'"
        )


#: SpiceDB's limits: a request's caveat context, and the context stored on a relationship.
MAX_REQUEST_CONTEXT_BYTES = 4096
MAX_STORED_CONTEXT_BYTES = 25_000
#: Request-scoped (contextual) relationships per request, and how errors name one.
MAX_CONTEXTUAL_RELATIONSHIPS = 1000
CONTEXTUAL_FIELD = "contextual_relationships"


def context_size(context: Mapping[str, Any]) -> int:
    return len(json.dumps(context, separators=(",", ":"), default=str).encode("utf-8"))


def _surely_small(context: Mapping[str, Any], limit: int) -> bool:
    """True when the JSON text of ``context`` cannot exceed ``limit`` bytes, judged without
    encoding it (the common few-scalars context, checked on every request); False means
    "measure it"."""
    budget = limit - 2
    for key, value in context.items():
        kind = type(value)
        if kind is str:
            # Worst case: every character escaped as \uXXXX (6 bytes), plus quotes.
            budget -= 6 * (len(key) + len(value)) + 6
        elif kind is int or kind is float or kind is bool or value is None:
            budget -= 6 * len(key) + 32
        else:
            return False  # nested values: measure
        if budget < 0:
            return False
    return True


def validate_request_context(context: Mapping[str, Any] | None) -> None:
    """A request's caveat context: a JSON object of at most 4 KiB."""
    if context is None:
        return
    if not isinstance(context, Mapping):
        raise InvalidRequest("caveat context must be a JSON object")
    if context and not _surely_small(context, MAX_REQUEST_CONTEXT_BYTES):
        size = context_size(context)
        if size > MAX_REQUEST_CONTEXT_BYTES:
            raise LimitExceeded(
                f"caveat context is {size} bytes, over the limit of {MAX_REQUEST_CONTEXT_BYTES}"
            )


def contextual_index(
    schema: CompiledSchema,
    caveats: Mapping[str, CompiledCaveat],
    relationships: Sequence[Relationship],
) -> RelationshipIndex:
    """Validate request-scoped relationships like writes and index them for an overlay."""
    if len(relationships) > MAX_CONTEXTUAL_RELATIONSHIPS:
        raise LimitExceeded(
            f"too many contextual relationships: {len(relationships)} > limit "
            f"{MAX_CONTEXTUAL_RELATIONSHIPS}"
        )
    index = RelationshipIndex()
    for i, rel in enumerate(relationships):
        try:
            validate_relationship(schema, caveats, rel)
        except LimitExceeded:
            raise
        except RebacError as exc:
            # Name which of up to a thousand was wrong; whatever the problem (unknown
            # relation, disallowed subject type, bad caveat context), the request as sent can
            # never succeed: a bad argument.
            raise InvalidField(f"{CONTEXTUAL_FIELD}[{i}]", str(rel), str(exc)) from exc
        index.add(rel)
    return index
