"""References as the check path reads them: ``type:id`` and ``type:id#relation`` texts split
into their parts, without building model objects.

A service asks about a new resource and a new subject on nearly every call, so remembering
parsed texts (a dict of them) saves little and costs a large dict's cache misses; parsing is
made cheap instead. The common reference (an ASCII alphanumeric id, a type and relation name
seen before) is split with two ``partition`` calls and validated with string predicates.
Anything else -- surrounding space, punctuation in an id, a name never seen -- goes to the
model's parsers, which accept exactly the grammar (rebac.model) and explain what is wrong.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Final

from rebac.model import (
    ELLIPSIS,
    WILDCARD,
    ObjectRef,
    Relationship,
    SubjectRef,
    is_valid_relation_name,
    is_valid_type_name,
)

#: Type and relation names already found well-formed (a schema has few), each mapped to its
#: interned copy: a dict lookup instead of a regular expression, and the names the evaluator
#: then puts in tuple keys are the very strings of the schema and the index (both interned),
#: so those keys compare by identity. Bounded by clearing: a flood of names costs nothing.
_NAMES_LIMIT: Final = 4096
# Final: a compiled build reads them as constants, not through the module's globals dict.
_types: Final[dict[str, str]] = {}
_relations: Final[dict[str, str]] = {}


def _type_name(name: str) -> str | None:
    """The interned type name ``name`` if it is well-formed, else None."""
    canon = _types.get(name)
    return canon if canon is not None else _remember(name, _types, is_valid_type_name)


def _relation_name(name: str) -> str | None:
    """The interned relation name ``name`` if it is well-formed, else None."""
    canon = _relations.get(name)
    return canon if canon is not None else _remember(name, _relations, is_valid_relation_name)


def _remember(name: str, names: dict[str, str], valid: Callable[[str], bool]) -> str | None:
    """A name not seen yet: validated, interned and kept (the validator is looked up only
    here, off the path of names already known)."""
    if not valid(name):
        return None
    if len(names) >= _NAMES_LIMIT:
        names.clear()
    canon = names[name] = sys.intern(name)
    return canon


def relation_name(name: str) -> str:
    """A relation or permission name as the schema's interned string (unchanged when it is
    malformed: validation then reports it)."""
    canon = _relation_name(name)
    return name if canon is None else canon


#: ``str.isascii`` itself: compiled code has no primitive for it and would look the method up
#: by name on every call (two ids per check).
_isascii: Final = str.isascii


def simple_id(oid: str) -> bool:
    """An id of 1 to 1024 ASCII letters and digits: valid without a regular expression (ids
    with ``/_|-=+`` are valid too, and are left to the model's parser)."""
    return len(oid) <= 1024 and _isascii(oid) and oid.isalnum()


#: The ``type:`` prefix (and its interned type name) of the last object and the last subject
#: parsed, one tuple each so that a reader never pairs one call's prefix with another's name.
#: A service asks about one or two resource types and one subject type: a reference that
#: starts with the last prefix is split without a partition, a new type-name string or a
#: dict lookup that would hash it.
_last_object: Final[list[tuple[str, str]]] = [("", "")]
_last_subject: Final[list[tuple[str, str]]] = [("", "")]


def object_parts(value: ObjectRef | str) -> tuple[str, str]:
    """``(type, id)`` of an object reference; raises InvalidRequest for a malformed text."""
    if not isinstance(value, str):
        return value.type, value.id
    prefix, canon = _last_object[0]
    if prefix and value.startswith(prefix):
        rid = value[len(prefix) :]
        if simple_id(rid):
            return canon, rid
    rtype, sep, rid = value.partition(":")
    if sep and simple_id(rid):
        found = _type_name(rtype)
        if found is not None:
            _last_object[0] = (found + ":", found)
            return found, rid
    ref = ObjectRef.parse(value)
    return ref.type, ref.id


def subject_parts(value: SubjectRef | str) -> tuple[str, str, str | None]:
    """``(type, id, relation or None)`` of a subject reference (``...`` is None, as in
    SubjectRef); raises InvalidRequest for a malformed text."""
    if not isinstance(value, str):
        return value.type, value.id, value.relation
    prefix, canon = _last_subject[0]
    if prefix and value.startswith(prefix):
        sid = value[len(prefix) :]
        if simple_id(sid):  # letters and digits: no relation, no wildcard
            return canon, sid, None
    parts = _subject_fast(value)
    if parts is not None:
        _last_subject[0] = (parts[0] + ":", parts[0])
        return parts
    ref = SubjectRef.parse(value)
    return ref.type, ref.id, ref.relation


def relationship(text: str) -> Relationship:
    """``text`` parsed as Relationship.parse does (same result, same errors), faster for the
    plain form ``type:id#relation@type:id[#relation]`` that bulk imports are made of; a
    caveat, an expiration or anything unusual goes to Relationship.parse."""
    if "[" not in text:
        resource, at, subject = text.partition("@")
        obj, hashed, relation = resource.partition("#")
        rtype, sep, rid = obj.partition(":")
        if at and hashed and sep and simple_id(rid):
            rt = _type_name(rtype)
            rel = _relation_name(relation)
            s = _subject_fast(subject)
            if rt is not None and rel is not None and s is not None:
                return Relationship(ObjectRef(rt, rid), rel, SubjectRef(s[0], s[1], s[2]))
    return Relationship.parse(text)


def _subject_fast(value: str) -> tuple[str, str, str | None] | None:
    """subject_parts' fast path alone: None where the model's parser has to decide."""
    stype, sep, rest = value.partition(":")
    if "#" in rest:
        sid, hashed, srel = rest.partition("#")
    else:  # an object: no second partition
        sid, hashed, srel = rest, "", ""
    if sep and (simple_id(sid) or sid == WILDCARD):
        canon = _type_name(stype)
        if canon is not None:
            if not hashed or srel == ELLIPSIS:
                return canon, sid, None
            relation = _relation_name(srel)
            if relation is not None:
                return canon, sid, relation
    return None


def as_object(value: ObjectRef | str) -> ObjectRef:
    if isinstance(value, ObjectRef):
        return value
    return ObjectRef(*object_parts(value))


def as_subject(value: SubjectRef | str) -> SubjectRef:
    if isinstance(value, SubjectRef):
        return value
    return SubjectRef(*subject_parts(value))
