"""Process-level tuning for a long-running service that holds an index in memory.

Python's cyclic garbage collector walks every tracked object of a generation when it
collects it. An engine's index is hundreds of thousands of objects that live as long as the
process, and checks allocate briskly, so the collector would keep re-walking the index:
measured on ``docs`` at 200k relationships, 17 % of a check's time and a doubled p99.
:func:`settle` moves what exists now (the loaded index) out of the collector's sight and
spaces collections out. It changes process-wide settings, so the library never calls it on
its own: ``rebac serve`` does after loading, an application embedding the engine may.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Allocations between two young-generation collections (CPython's default is 700).
YOUNG_THRESHOLD = 50_000


def settle() -> None:
    """Collect once, freeze every surviving object (``gc.freeze``) and raise the young
    generation's threshold. Call after the data is loaded; cycles are still collected."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector paused for the duration of a bulk load, then restored as it was.

    A bulk import allocates only objects that outlive it (index entries, parsed
    relationships), none of them in reference cycles; collections during it re-walk the
    growing index for nothing (measured: a tenth of an import's time). Unlike :func:`settle`
    this leaves nothing changed once the block ends, even on an error, so the engine uses it
    on its own. Another thread's garbage cycles are only collected later, not lost.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
