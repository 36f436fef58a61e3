"""Small builders shared by the store suites."""

from __future__ import annotations

from collections.abc import Iterable

from rebac.model import Operation, Relationship, RelationshipFilter, RelationshipUpdate
from rebac.store import Store

STORE = "acme"


def rel(text: str) -> Relationship:
    return Relationship.parse(text)


def ups(op: Operation, *texts: str) -> list[RelationshipUpdate]:
    return [RelationshipUpdate(op, rel(t)) for t in texts]


def create(*texts: str) -> list[RelationshipUpdate]:
    return ups(Operation.CREATE, *texts)


def touch(*texts: str) -> list[RelationshipUpdate]:
    return ups(Operation.TOUCH, *texts)


def delete(*texts: str) -> list[RelationshipUpdate]:
    return ups(Operation.DELETE, *texts)


def strs(rels: Iterable[Relationship]) -> list[str]:
    return [str(r) for r in rels]


def read(
    store: Store,
    filter: RelationshipFilter | None = None,
    revision: int | None = None,
    store_id: str = STORE,
) -> list[str]:
    """Text forms of what ``filter`` reads at ``revision`` (default: head)."""
    at = store.head_revision(store_id) if revision is None else revision
    return strs(store.read(store_id, filter, revision=at))
