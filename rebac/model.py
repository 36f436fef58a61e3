"""Value types shared by every layer, with their canonical text forms.

All are frozen, slotted dataclasses: cheap to create, hashable, safe to share across threads.
Text forms follow SpiceDB's validation-file grammar::

    document:d1#viewer@user:alice
    document:d1#viewer@group:eng#member
    document:d1#viewer@user:*
    document:d1#viewer@user:tom[only_on_weekdays:{"day":"mon"}][expiration:2030-01-01T00:00:00Z]

A subject relation of ``...`` (the "ellipsis") means "the object itself" and is stored as ``None``.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rebac.errors import InvalidRequest

TYPE_NAME = r"(?:[a-z][a-z0-9_]{1,61}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}[a-z0-9]"
RELATION_NAME = r"[a-z][a-z0-9_]{1,62}[a-z0-9]"
OBJECT_ID = r"[a-zA-Z0-9/_|\-=+]{1,1024}"
WILDCARD = "*"
ELLIPSIS = "..."

_TYPE_RE = re.compile(TYPE_NAME + r"\Z")
_RELATION_RE = re.compile(RELATION_NAME + r"\Z")
_ID_RE = re.compile(OBJECT_ID + r"\Z")

_REL_RE = re.compile(
    rf"(?P<rtype>{TYPE_NAME}):(?P<rid>{OBJECT_ID})#(?P<rel>{RELATION_NAME})"
    rf"@(?P<stype>{TYPE_NAME}):(?P<sid>{OBJECT_ID}|\*)(?:#(?P<srel>{RELATION_NAME}|\.\.\.))?"
    rf"(?:\[(?P<caveat>{TYPE_NAME})(?::(?P<ctx>\{{.*?\}}))?\])?"
    r"(?:\[expiration:(?P<exp>[^\]]+)\])?\Z",
    re.DOTALL,
)
_OBJECT_RE = re.compile(rf"(?P<type>{TYPE_NAME}):(?P<id>{OBJECT_ID})\Z")
_SUBJECT_RE = re.compile(
    rf"(?P<type>{TYPE_NAME}):(?P<id>{OBJECT_ID}|\*)(?:#(?P<rel>{RELATION_NAME}|\.\.\.))?\Z"
)


def is_valid_type_name(name: str) -> bool:
    return len(name) <= 128 and _TYPE_RE.match(name) is not None


def is_valid_relation_name(name: str) -> bool:
    return _RELATION_RE.match(name) is not None


def is_valid_object_id(value: str) -> bool:
    return _ID_RE.match(value) is not None


class Permissionship(enum.IntEnum):
    """The three answers of a check (SpiceDB's numbering)."""

    NO_PERMISSION = 1
    HAS_PERMISSION = 2
    CONDITIONAL_PERMISSION = 3


@dataclass(frozen=True, slots=True)
class ObjectRef:
    type: str
    id: str

    @classmethod
    def parse(cls, text: str) -> ObjectRef:
        m = _OBJECT_RE.match(text.strip())
        if m is None:
            raise InvalidRequest(f"invalid object reference {text!r}: expected 'type:id'")
        return cls(m["type"], m["id"])

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"


@dataclass(frozen=True, slots=True)
class SubjectRef:
    """A subject: an object (``relation is None``) or a subject set ``type:id#relation``."""

    type: str
    id: str
    relation: str | None = None

    @classmethod
    def parse(cls, text: str) -> SubjectRef:
        m = _SUBJECT_RE.match(text.strip())
        if m is None:
            raise InvalidRequest(
                f"invalid subject reference {text!r}: expected 'type:id' or 'type:id#relation'"
            )
        rel = m["rel"]
        return cls(m["type"], m["id"], None if rel in (None, ELLIPSIS) else rel)

    @property
    def is_wildcard(self) -> bool:
        return self.id == WILDCARD

    def __str__(self) -> str:
        base = f"{self.type}:{self.id}"
        return base if self.relation is None else f"{base}#{self.relation}"


def _format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """RFC 3339 timestamp (``Z`` or an offset) to an aware datetime."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise InvalidRequest(f"invalid RFC 3339 timestamp {text!r}") from exc
    if value.tzinfo is None:
        raise InvalidRequest(f"timestamp {text!r} has no time zone")
    return value


@dataclass(frozen=True, slots=True)
class Relationship:
    """``resource#relation@subject`` plus an optional caveat and expiration.

    Identity (``key``) ignores caveat and expiration, as SpiceDB's does: a TOUCH replaces them.
    """

    resource: ObjectRef
    relation: str
    subject: SubjectRef
    caveat_name: str | None = None
    caveat_context: Mapping[str, Any] | None = field(default=None, hash=False)
    expires_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str, str, str, str, str | None]:
        s = self.subject
        return (self.resource.type, self.resource.id, self.relation, s.type, s.id, s.relation)

    @classmethod
    def parse(cls, text: str) -> Relationship:
        m = _REL_RE.match(text.strip())
        if m is None:
            raise InvalidRequest(f"error parsing relationship {text.strip()!r}")
        ctx: dict[str, Any] | None = None
        if m["ctx"] is not None:
            try:
                loaded = json.loads(m["ctx"])
            except json.JSONDecodeError as exc:
                raise InvalidRequest(
                    f"invalid caveat context in relationship {text.strip()!r}: {exc}"
                ) from exc
            if not isinstance(loaded, dict):
                raise InvalidRequest(f"caveat context must be a JSON object in {text.strip()!r}")
            ctx = loaded
        srel = m["srel"]
        return cls(
            ObjectRef(m["rtype"], m["rid"]),
            m["rel"],
            SubjectRef(m["stype"], m["sid"], None if srel in (None, ELLIPSIS) else srel),
            m["caveat"],
            ctx,
            parse_time(m["exp"]) if m["exp"] is not None else None,
        )

    def __str__(self) -> str:
        text = f"{self.resource}#{self.relation}@{self.subject}"
        if self.caveat_name is not None:
            if self.caveat_context:
                ctx = json.dumps(self.caveat_context, separators=(",", ":"), sort_keys=True)
                text += f"[{self.caveat_name}:{ctx}]"
            else:
                text += f"[{self.caveat_name}]"
        if self.expires_at is not None:
            text += f"[expiration:{_format_time(self.expires_at)}]"
        return text


@dataclass(frozen=True, slots=True)
class SubjectFilter:
    type: str
    id: str | None = None
    relation: str | None = None  # "..." selects subjects without a relation


@dataclass(frozen=True, slots=True)
class RelationshipFilter:
    """Selects stored relationships. At least one field must be set."""

    resource_type: str | None = None
    resource_id: str | None = None
    resource_id_prefix: str | None = None
    relation: str | None = None
    subject: SubjectFilter | None = None

    def matches(self, rel: Relationship) -> bool:
        r = rel.resource
        if self.resource_type is not None and r.type != self.resource_type:
            return False
        if self.resource_id is not None and r.id != self.resource_id:
            return False
        if self.resource_id_prefix is not None and not r.id.startswith(self.resource_id_prefix):
            return False
        if self.relation is not None and rel.relation != self.relation:
            return False
        sf = self.subject
        if sf is not None:
            s = rel.subject
            if s.type != sf.type or (sf.id is not None and s.id != sf.id):
                return False
            if sf.relation is not None:
                want = None if sf.relation == ELLIPSIS else sf.relation
                if s.relation != want:
                    return False
        return True


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The answer of one check. ``missing_context`` lists caveat parameters that were needed."""

    permissionship: Permissionship
    missing_context: tuple[str, ...] = ()
    revision: int = 0  # the store revision the answer was computed at

    @property
    def allowed(self) -> bool:
        return self.permissionship is Permissionship.HAS_PERMISSION


@dataclass(frozen=True, slots=True)
class LookupResult:
    """One resource id (LookupResources) or subject id (LookupSubjects) with its permissionship.

    For a wildcard subject (``id == '*'``) ``excluded`` lists the subjects it does not cover.
    """

    id: str
    permissionship: Permissionship = Permissionship.HAS_PERMISSION
    missing_context: tuple[str, ...] = ()
    excluded: tuple[LookupResult, ...] = ()


class Operation(enum.Enum):
    CREATE = "create"  # fails if the relationship exists
    TOUCH = "touch"  # upsert: replaces caveat and expiration
    DELETE = "delete"  # no-op if absent


@dataclass(frozen=True, slots=True)
class RelationshipUpdate:
    operation: Operation
    relationship: Relationship


@dataclass(frozen=True, slots=True)
class Precondition:
    """Write only if some stored relationship matches (``must_match``) or none does."""

    must_match: bool
    filter: RelationshipFilter


@dataclass(frozen=True, slots=True)
class CheckItem:
    resource: ObjectRef
    permission: str
    subject: SubjectRef
    context: Mapping[str, Any] | None = field(default=None, hash=False)
