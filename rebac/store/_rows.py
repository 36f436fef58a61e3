"""The storage form of a relationship, shared by every backend.

Both backends store the same flat row so that they agree to the byte on what "identical",
"ordered" and "expired" mean:

* the subject relation ``None`` (the ellipsis) is stored as ``''``, which sorts before every
  relation name and, unlike SQL NULL, takes part in uniqueness;
* the caveat context is canonical JSON (sorted keys), so a TOUCH with an equal context is
  recognised as a no-op, and the stored value can never alias a caller's mutable dict;
* expiration is an integer of microseconds since the epoch (exact; a float is not).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from rebac.errors import InvalidRequest
from rebac.model import ELLIPSIS, ObjectRef, Relationship, RelationshipFilter, SubjectRef

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: ``deleted`` revision of a row that is not deleted: greater than any revision ever issued.
LIVE = 1 << 62
_US = timedelta(microseconds=1)

#: (rtype, rid, relation, stype, sid, srel-or-'')
Key = tuple[str, str, str, str, str, str]
#: Key + (caveat name, canonical context JSON, expires_at in µs)
Row = tuple[str, str, str, str, str, str, str | None, str | None, int | None]


def canonical_json(value: Mapping[str, Any], what: str) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{what} is not JSON-serialisable: {exc}") from exc


def to_micros(value: datetime) -> int:
    if value.tzinfo is None:
        raise InvalidRequest(f"expiration {value.isoformat()} has no time zone")
    return (value - EPOCH) // _US


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def now_micros(seconds: float) -> int:
    return round(seconds * 1_000_000)


def row_of(rel: Relationship) -> Row:
    s = rel.subject
    ctx = rel.caveat_context
    return (
        rel.resource.type,
        rel.resource.id,
        rel.relation,
        s.type,
        s.id,
        s.relation or "",
        rel.caveat_name,
        None if ctx is None else canonical_json(ctx, f"caveat context of {_name(rel)}"),
        None if rel.expires_at is None else to_micros(rel.expires_at),
    )


def _name(rel: Relationship) -> str:
    # Not str(rel): that serialises the very context that may be unserialisable.
    return f"'{rel.resource}#{rel.relation}@{rel.subject}'"


def key_of(rel: Relationship) -> Key:
    s = rel.subject
    return (rel.resource.type, rel.resource.id, rel.relation, s.type, s.id, s.relation or "")


def rel_of(row: Row) -> Relationship:
    """A fresh Relationship (its context a fresh dict) from a stored row."""
    return Relationship(
        ObjectRef(row[0], row[1]),
        row[2],
        SubjectRef(row[3], row[4], row[5] or None),
        row[6],
        None if row[7] is None else json.loads(row[7]),
        None if row[8] is None else from_micros(row[8]),
    )


def is_live(expires_us: int | None, now_us: int) -> bool:
    """Unexpired at ``now_us``: a relationship expiring exactly now is already gone."""
    return expires_us is None or expires_us > now_us


def key_of_position(position: object) -> Key:
    """The storage key of a cursor position (``Relationship.key`` shape)."""
    if (
        not isinstance(position, tuple | list)
        or len(position) != 6
        or not all(isinstance(p, str) for p in position[:5])
        or not (position[5] is None or isinstance(position[5], str))
    ):
        raise InvalidRequest(f"invalid read position {position!r}: expected a relationship key")
    p = position
    return (p[0], p[1], p[2], p[3], p[4], p[5] or "")


def row_matches(f: RelationshipFilter, row: Row) -> bool:
    """``RelationshipFilter.matches`` on a stored row (no Relationship built)."""
    if f.resource_type is not None and row[0] != f.resource_type:
        return False
    if f.resource_id is not None and row[1] != f.resource_id:
        return False
    if f.resource_id_prefix is not None and not row[1].startswith(f.resource_id_prefix):
        return False
    if f.relation is not None and row[2] != f.relation:
        return False
    sf = f.subject
    if sf is not None:
        if row[3] != sf.type or (sf.id is not None and row[4] != sf.id):
            return False
        if sf.relation is not None and row[5] != ("" if sf.relation == ELLIPSIS else sf.relation):
            return False
    return True
