"""The ``Store`` protocol every backend implements, and the values it returns.

A store (datastore) holds many independent *stores* (tenants), each with its own schema text,
relationships and revision counter. The store id is part of every key, ids are case-sensitive,
and a per-store call on an unknown store raises :class:`~rebac.errors.StoreNotFound` with the
same message whether the store never existed or was deleted, so a tenant cannot probe for
others.

The store is the source of truth, not the evaluator: it does not validate relationships
against the schema (the engine does, above it), and it keeps enough history to answer reads at
any revision inside the GC window, plus the ordered changelog that Watch and the in-memory
indexes follow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from rebac.model import Precondition, Relationship, RelationshipFilter, RelationshipUpdate
from rebac.revision import Position, TokenCodec

DEFAULT_GC_WINDOW = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Limits and retention shared by every backend (SpiceDB's defaults)."""

    max_updates: int = 1000
    max_preconditions: int = 1000
    gc_window: float = DEFAULT_GC_WINDOW  # seconds of history kept readable


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Everything one revision changed, as Watch reports it.

    ``touched`` holds relationships created or replaced (new caveat/context/expiration), in
    their new form; ``deleted`` those removed, in their last form. Both are in key order. An
    identical TOUCH changes nothing and is not reported; expiry is not a deletion.
    ``timestamp`` is the commit time in POSIX seconds.
    """

    revision: int
    timestamp: float
    touched: tuple[Relationship, ...] = ()
    deleted: tuple[Relationship, ...] = ()
    schema_changed: bool = False
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class DeleteResult:
    revision: int
    deleted: int
    complete: bool  # False when allow_partial stopped at the limit with more rows matching


class ImportResult(NamedTuple):
    revision: int
    loaded: int  # relationships created (SpiceDB's num_loaded)


class SchemaVersion(NamedTuple):
    text: str
    revision: int


class StoreReader(Protocol):
    """Read access at the head, from inside a write transaction (see ``write_schema``)."""

    def exists(self, filter: RelationshipFilter) -> bool:
        """Does any live, unexpired relationship match ``filter``?"""
        ...

    def first(self, filter: RelationshipFilter) -> Relationship | None:
        """The first matching relationship in key order, to name it in an error message."""
        ...


#: Called inside the schema-write transaction; raises to refuse the schema.
SchemaGuard = Callable[[StoreReader], None]


class Store(Protocol):
    """A datastore of many stores (tenants). Every method is thread-safe.

    Revisions are per store, start at 0 (an empty store), and grow by exactly one per
    committed write, delete or schema write; they never go back, not even across a restart
    or when a store is deleted and created again (the new incarnation continues the count, so
    tokens of the old one can never point into the new one's future).
    """

    @property
    def config(self) -> StoreConfig: ...

    @property
    def tokens(self) -> TokenCodec:
        """Signs consistency tokens and cursors with this datastore's identity and secret."""
        ...

    # -- tenants ----------------------------------------------------------------------------------

    def create_store(self, store_id: str) -> None: ...

    def delete_store(self, store_id: str) -> None:
        """Drop every relationship, schema and change of the store."""
        ...

    def list_stores(self) -> list[str]: ...

    # -- revisions --------------------------------------------------------------------------------

    def head_revision(self, store_id: str) -> int: ...

    def oldest_revision(self, store_id: str) -> int:
        """The oldest revision still readable (everything older was garbage-collected)."""
        ...

    # -- writes -----------------------------------------------------------------------------------

    def write(
        self,
        store_id: str,
        updates: Sequence[RelationshipUpdate],
        preconditions: Sequence[Precondition] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        """Apply ``updates`` atomically if every precondition holds; returns the new revision."""
        ...

    def delete(
        self,
        store_id: str,
        filter: RelationshipFilter,
        *,
        limit: int | None = None,
        allow_partial: bool = False,
        preconditions: Sequence[Precondition] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> DeleteResult: ...

    def import_relationships(
        self, store_id: str, batches: Iterable[Iterable[Relationship]]
    ) -> ImportResult:
        """Create every relationship in one transaction; fails if any already exists."""
        ...

    # -- reads ------------------------------------------------------------------------------------

    def read(
        self,
        store_id: str,
        filter: RelationshipFilter | None,
        *,
        revision: int,
        limit: int | None = None,
        after: Position | None = None,
    ) -> list[Relationship]:
        """Matching relationships visible at ``revision``, in key order, after ``after``."""
        ...

    def snapshot(self, store_id: str, revision: int) -> Iterator[Relationship]:
        """Every relationship visible at ``revision`` (to build an index), in key order."""
        ...

    def changes(
        self,
        store_id: str,
        after_revision: int,
        *,
        up_to: int | None = None,
        limit: int | None = None,
    ) -> list[ChangeSet]:
        """One ChangeSet per revision in ``(after_revision, up_to]``, in revision order."""
        ...

    # -- schema -----------------------------------------------------------------------------------

    def write_schema(self, store_id: str, text: str, *, guard: SchemaGuard | None = None) -> int:
        """Store a new schema version; ``guard`` may refuse it, atomically with the write.

        The guard runs inside the write transaction, so no relationship can be written between
        its check and the schema change. It must use only the reader it is given: calling the
        store again from inside it is an error (SQLite) or breaks atomicity (memory).
        """
        ...

    def read_schema(self, store_id: str, revision: int | None = None) -> SchemaVersion:
        """The schema in force at ``revision`` (default: head). NotFound if there is none."""
        ...

    # -- maintenance ------------------------------------------------------------------------------

    def gc(self, store_id: str, now: float | None = None) -> int:
        """Forget history older than the GC window; returns the new oldest revision."""
        ...

    def close(self) -> None: ...
