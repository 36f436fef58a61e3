"""Durable source of truth: relationships, schema versions and revisions, per store (tenant).

``Store`` (in :mod:`rebac.store.base`) is the protocol; :class:`MemoryStore` and
:class:`SQLiteStore` implement it. :func:`open_store` picks one from a URL-ish string.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rebac.store.base import (
    DEFAULT_GC_WINDOW,
    ChangeSet,
    DeleteResult,
    ImportResult,
    SchemaGuard,
    SchemaVersion,
    Store,
    StoreConfig,
    StoreReader,
)
from rebac.store.memory import MemoryStore
from rebac.store.sqlite import SQLiteStore

__all__ = [
    "DEFAULT_GC_WINDOW",
    "ChangeSet",
    "DeleteResult",
    "ImportResult",
    "MemoryStore",
    "SQLiteStore",
    "SchemaGuard",
    "SchemaVersion",
    "Store",
    "StoreConfig",
    "StoreReader",
    "open_store",
]


def open_store(spec: str, config: StoreConfig | None = None) -> Store:
    """``memory:`` or ``sqlite:PATH`` (a bare path means SQLite too)."""
    if spec == "memory:":
        return MemoryStore(config)
    path = spec.removeprefix("sqlite:")
    if not path:
        raise ValueError(f"no SQLite path in store spec {spec!r}")
    return SQLiteStore(path, config)


if TYPE_CHECKING:
    # mypy proves here that both backends implement the protocol (no runtime cost).
    def _memory_is_a_store(s: MemoryStore) -> Store:
        return s

    def _sqlite_is_a_store(s: SQLiteStore) -> Store:
        return s
