"""What a measurement turns into: latency percentiles, throughput, memory, engine counters.

Kept free of any runner or engine import so that every other module (and a child process of
the process runner) can use it cheaply.
"""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import statistics
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when it is empty)."""
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


@dataclass(frozen=True)
class Summary:
    """One measured cell: ``ops`` calls of ``items`` units of work (checks, results) each
    timed on its own, in ``seconds`` of wall time across every thread or process."""

    ops: int
    items: int
    seconds: float
    median_us: float
    p95_us: float
    p99_us: float
    wrong: int
    errors: int
    first_error: str | None = None

    @property
    def ops_per_second(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0


def summarize(
    latencies_us: list[float],
    seconds: float,
    *,
    items: int,
    wrong: int = 0,
    errors: int = 0,
    first_error: str | None = None,
) -> Summary:
    """Percentiles of per-call latencies; throughput is computed from the wall time, never
    from the latencies (with concurrency the two differ, and the wall time is what counts)."""
    lat = sorted(latencies_us)
    return Summary(
        ops=len(lat),
        items=items,
        seconds=seconds,
        median_us=percentile(lat, 0.5),
        p95_us=percentile(lat, 0.95),
        p99_us=percentile(lat, 0.99),
        wrong=wrong,
        errors=errors,
        first_error=first_error,
    )


def combined(runs: list[Summary]) -> Summary:
    """Repetitions of one cell as one summary: calls, work, time and wrong answers summed
    (so throughput is over all of them), each percentile the median of the repetitions'
    (a moment when the machine was slow moves one repetition, not the figure)."""
    if not runs:
        raise ValueError("no repetitions to combine")
    errors = [r.first_error for r in runs if r.first_error]
    return Summary(
        ops=sum(r.ops for r in runs),
        items=sum(r.items for r in runs),
        seconds=sum(r.seconds for r in runs),
        median_us=statistics.median(r.median_us for r in runs),
        p95_us=statistics.median(r.p95_us for r in runs),
        p99_us=statistics.median(r.p99_us for r in runs),
        wrong=sum(r.wrong for r in runs),
        errors=sum(r.errors for r in runs),
        first_error=errors[0] if errors else None,
    )


# -- memory ---------------------------------------------------------------------------------------


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of a process now (Linux ``/proc``); elsewhere, this process's peak
    (``ru_maxrss``), which is the closest portable figure."""
    path = Path(f"/proc/{pid or os.getpid()}/status")
    try:
        for line in path.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    if pid is not None:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux ``/proc``; just ``pid`` elsewhere): a server with
    ``--workers`` is several processes, and its memory is their sum."""
    found = [pid]
    i = 0
    while i < len(found):
        children = Path(f"/proc/{found[i]}/task/{found[i]}/children")
        with contextlib.suppress(OSError):
            found.extend(int(c) for c in children.read_text().split())
        i += 1
    return found


_SKIP = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType)


def deep_size(root: object) -> int:
    """Bytes of every object reachable from ``root`` (each counted once), shared strings
    included: what the structure costs as it stands. Classes, modules and functions are not
    counted (they exist anyway)."""
    seen: set[int] = set()
    total = 0
    stack: list[Any] = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SKIP):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def index_bytes(engine: object) -> int | None:
    """Bytes of the engine's in-memory relationship index (``Engine._head.index``), or None
    when the engine does not keep one where this looks."""
    head = getattr(engine, "_head", None)
    index = getattr(head, "index", None)
    return None if index is None else deep_size(index)


# -- engine counters --------------------------------------------------------------------------


@dataclass(frozen=True)
class Counters:
    """A reading of the engine's statistics; fields are None where the engine has no such
    counter."""

    checks: int | None
    dispatches: int | None
    cache_hits: int | None
    cache_misses: int | None

    def minus(self, before: Counters) -> Counters:
        def d(a: int | None, b: int | None) -> int | None:
            return None if a is None or b is None else a - b

        return Counters(
            d(self.checks, before.checks),
            d(self.dispatches, before.dispatches),
            d(self.cache_hits, before.cache_hits),
            d(self.cache_misses, before.cache_misses),
        )

    @property
    def dispatches_per_check(self) -> float | None:
        if self.checks is None or self.dispatches is None or not self.checks:
            return None
        return self.dispatches / self.checks

    @property
    def cache_hit_ratio(self) -> float | None:
        if self.cache_hits is None or self.cache_misses is None:
            return None
        total = self.cache_hits + self.cache_misses
        return self.cache_hits / total if total else None


def _count(stats: object, name: str) -> int | None:
    value = getattr(stats, name, None)
    return value if isinstance(value, int) else None


def read_engine_counters(engine: object) -> Counters:
    """THE HOOK for engine statistics: reads ``engine.stats`` (the engine's ``EngineStats``:
    ``checks``, ``dispatches`` -- subproblems the ``Checker`` evaluated -- and, when the
    engine grows a result cache, ``cache_hits`` / ``cache_misses``). Whatever is absent reads
    as None and is reported as "n/a"; nothing here needs changing when a counter appears."""
    stats = getattr(engine, "stats", None)
    return Counters(
        _count(stats, "checks"),
        _count(stats, "dispatches"),
        _count(stats, "cache_hits"),
        _count(stats, "cache_misses"),
    )
