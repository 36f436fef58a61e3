"""Memory of a loaded engine, measured in a fresh process.

In the process that runs everything else, the resident set only grows: a data set loaded after
another reuses the memory the first one freed, and its RSS delta says little. A spawned
process per data set starts clean: RSS before and after the bulk load, and the bytes of the
engine's relationship index counted object by object (:func:`benchmarks.measure.index_bytes`).
"""

from __future__ import annotations

import gc
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from benchmarks.measure import index_bytes, rss_bytes


@dataclass(frozen=True)
class MemoryFigures:
    relationships: int
    rss_delta_bytes: int  # the engine with its in-memory store and index
    index_bytes: int | None  # the relationship index alone

    @property
    def index_bytes_per_relationship(self) -> float | None:
        if self.index_bytes is None or not self.relationships:
            return None
        return self.index_bytes / self.relationships


def _measure(name: str, size: int, seed: int, count_index: bool) -> MemoryFigures:
    from benchmarks.datasets import DATASETS
    from benchmarks.loading import load_engine

    ds = DATASETS[name](size, seed)
    gc.collect()
    before = rss_bytes()
    engine, _ = load_engine(ds)
    gc.collect()
    after = rss_bytes()
    return MemoryFigures(
        len(ds.relationships), after - before, index_bytes(engine) if count_index else None
    )


def measure(name: str, size: int, seed: int, *, count_index: bool = True) -> MemoryFigures:
    """Load data set ``name`` in a new process and report what it cost there."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(_measure, name, size, seed, count_index).result()
