"""Argument checks and error messages shared by every backend.

Everything a backend must refuse *before* touching data lives here, so that the backends cannot
drift apart on limits, wording or which error class a caller sees.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rebac.errors import (
    InvalidRequest,
    RevisionError,
    RevisionExpired,
    StoreNotFound,
    TooManyPreconditions,
    TooManyUpdates,
    UpdatesOnSameRelationship,
)
from rebac.model import Operation, Precondition, RelationshipFilter, RelationshipUpdate
from rebac.store._rows import Key, Row, canonical_json, row_of
from rebac.store.base import StoreConfig

_STORE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-/|=+]{0,127}\Z")


def check_store_id(store_id: str) -> None:
    if not isinstance(store_id, str) or _STORE_ID_RE.match(store_id) is None:
        raise InvalidRequest(
            f"invalid store id {store_id!r}: 1-128 characters of letters, digits and _.-/|=+, "
            "starting with a letter or digit"
        )


def store_not_found(store_id: str) -> StoreNotFound:
    # One message for "never existed" and "deleted": the difference is not the caller's to see.
    return StoreNotFound(f"store {store_id!r} not found")


def check_filter(f: RelationshipFilter, what: str = "relationship filter") -> None:
    if (
        f.resource_type is None
        and f.resource_id is None
        and f.resource_id_prefix is None
        and f.relation is None
        and f.subject is None
    ):
        raise InvalidRequest(f"a {what} needs at least one field")
    if f.resource_id is not None and f.resource_id_prefix is not None:
        raise InvalidRequest(f"a {what} cannot have both resource_id and resource_id_prefix")


def check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidRequest(f"limit must be a positive integer, got {limit!r}")


def check_preconditions(preconditions: Sequence[Precondition], config: StoreConfig) -> None:
    if len(preconditions) > config.max_preconditions:
        raise TooManyPreconditions(
            f"too many preconditions in one request: {len(preconditions)} > "
            f"max_preconditions {config.max_preconditions}"
        )
    for p in preconditions:
        check_filter(p.filter, "precondition filter")


def prepare_updates(
    updates: Sequence[RelationshipUpdate], config: StoreConfig
) -> list[tuple[Operation, Row]]:
    """Limits, duplicate detection and storage rows, all before any transaction starts."""
    if len(updates) > config.max_updates:
        raise TooManyUpdates(
            f"too many updates in one write: {len(updates)} > max_updates {config.max_updates}"
        )
    seen: set[Key] = set()
    out: list[tuple[Operation, Row]] = []
    for u in updates:
        row = row_of(u.relationship)
        key = row[:6]
        if key in seen:
            raise UpdatesOnSameRelationship(
                f"relationship '{u.relationship}' is updated more than once in one write"
            )
        seen.add(key)
        out.append((u.operation, row))
    return out


def encode_metadata(metadata: Mapping[str, Any] | None) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        kind = type(metadata).__name__
        raise InvalidRequest(f"transaction metadata must be a mapping, got {kind}")
    return canonical_json(metadata, "transaction metadata")


def check_revision(revision: int, oldest: int, head: int) -> None:
    """A read at ``revision`` is possible: not garbage-collected, not in the future."""
    if isinstance(revision, bool) or not isinstance(revision, int):
        raise InvalidRequest(f"revision must be an integer, got {revision!r}")
    if revision < oldest:
        raise RevisionExpired(
            f"revision {revision} is no longer available: it is older than the garbage-"
            f"collection window (oldest readable revision is {oldest})"
        )
    if revision > head:
        raise RevisionError(f"revision {revision} is ahead of the store's head revision {head}")


def already_exists_message(rel_text: str) -> str:
    return f"could not CREATE relationship '{rel_text}': it already exists"


def too_many_message(limit: int) -> str:
    return (
        f"more than {limit} relationships match the filter and allow_partial is not set; "
        "raise the limit or delete in batches with allow_partial"
    )
