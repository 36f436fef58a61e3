"""Bulk-loading a data set into an engine, the one way every part of the suite loads one.

A service loads its data with one bulk import (one transaction), not relationship by
relationship; batches of :data:`IMPORT_BATCH` are what a streaming import would send.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.datasets import Dataset
from rebac import Engine
from rebac.store import SQLiteStore
from rebac.tuning import settle

IMPORT_BATCH = 5000
STORE_ID = "default"


def batches(items: list[str], n: int = IMPORT_BATCH) -> Iterator[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def load_engine(ds: Dataset) -> tuple[Engine, float]:
    """A fresh in-memory engine with the data set bulk-imported; returns it and the seconds."""
    engine = Engine(ds.schema)
    start = time.perf_counter()
    engine.import_relationships(batches(ds.relationships))
    seconds = time.perf_counter() - start
    settle()  # what rebac serve does after loading (rebac.tuning); peers run in this process too
    return engine, seconds


def sqlite_import(ds: Dataset) -> float:
    """Seconds to bulk-import the data set into a SQLite-backed engine (fsync on): parsing,
    validation against the schema, the SQL, and the engine's index catching up."""
    with tempfile.TemporaryDirectory(prefix="rebac-bench-import-") as tmp:
        store = SQLiteStore(Path(tmp) / "import.db")
        try:
            store.create_store(STORE_ID)
            engine = Engine(ds.schema, store=store, store_id=STORE_ID)
            start = time.perf_counter()
            engine.import_relationships(batches(ds.relationships))
            return time.perf_counter() - start
        finally:
            store.close()
