"""Running a list of operations with some concurrency, bounded in count and in time.

``threads:N`` shares one target (one engine, or one gRPC channel) between N threads, as a
threaded service would. ``procs:N`` runs N client processes, each with its own connection:
the only way a Python client can put more than one core's worth of load on a server.
Every cell stops at ``seconds`` or ``max_ops``, whichever comes first, after an unmeasured
warm-up; a single call is bounded by :data:`benchmarks.targets.CALL_TIMEOUT`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from benchmarks.measure import Summary, summarize
from benchmarks.targets import Target
from benchmarks.workloads import Op, execute


@dataclass(frozen=True)
class Concurrency:
    kind: str  # "threads" or "procs"
    n: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.n}"

    @classmethod
    def parse(cls, text: str) -> Concurrency:
        kind, _, n = text.partition(":")
        if kind not in ("threads", "procs") or not n.isdigit() or int(n) < 1:
            raise ValueError(f"concurrency {text!r}: expected threads:N or procs:N")
        return cls(kind, int(n))


@dataclass(frozen=True)
class Budget:
    """Bounds of one cell. ``cycle=False``: each operation at most once (one pass), so
    that checks are measured on answers the engine has not cached yet; the warm-up then
    takes its calls from the end of the list, which the pass reaches last."""

    seconds: float
    max_ops: int
    warmup: int = 20
    cycle: bool = True

    def limit(self, n_ops: int, offset: int, stride: int) -> int:
        """Calls the worker taking every ``stride``-th of ``n_ops`` operations from
        ``offset`` may make."""
        per_worker = max(1, self.max_ops // stride)
        if self.cycle:
            return per_worker
        return min(per_worker, len(range(offset, n_ops, stride)))


class TargetSpec(Protocol):
    """How a child process opens its own target (must pickle)."""

    def open(self) -> Any: ...


@dataclass
class _Tally:
    latencies: list[float]
    items: int = 0
    wrong: int = 0
    errors: int = 0
    first_error: str | None = None


def error_text(exc: BaseException) -> str:
    """How a failure is reported in a row: its type and message, cut to 300 characters."""
    return f"{type(exc).__name__}: {exc}"[:300]


def _loop(
    target: Target, ops: list[Op], offset: int, stride: int, stop_at: float, max_ops: int
) -> _Tally:
    """Cycle through every ``stride``-th op from ``offset`` until ``stop_at`` or ``max_ops``."""
    tally = _Tally([])
    lat = tally.latencies
    clock = time.perf_counter_ns
    i = offset
    n = len(ops)
    while len(lat) < max_ops:
        op = ops[i % n]
        i += stride
        t0 = clock()
        try:
            items, wrong = execute(target, op)
        except Exception as exc:  # an error is a result too: counted, first one kept
            items, wrong = 0, 0
            tally.errors += 1
            if tally.first_error is None:
                tally.first_error = error_text(exc)
        t1 = clock()
        lat.append((t1 - t0) / 1000.0)
        tally.items += items
        tally.wrong += wrong
        if t1 >= stop_at:
            break
    return tally


def _merge(tallies: list[_Tally], seconds: float) -> Summary:
    latencies = [x for t in tallies for x in t.latencies]
    errors = [t.first_error for t in tallies if t.first_error]
    return summarize(
        latencies,
        seconds,
        items=sum(t.items for t in tallies),
        wrong=sum(t.wrong for t in tallies),
        errors=sum(t.errors for t in tallies),
        first_error=errors[0] if errors else None,
    )


def _warm(target: Target, ops: list[Op], budget: Budget) -> None:
    """Up to ``warmup`` calls, and no longer than a tenth of the budget (at least one call):
    connections made, caches of the process filled, nothing measured."""
    stop = time.perf_counter() + budget.seconds / 10
    n = min(budget.warmup, len(ops))
    for op in ops[:n] if budget.cycle else ops[len(ops) - n :]:
        with contextlib.suppress(Exception):  # the measured run counts errors
            execute(target, op)
        if time.perf_counter() >= stop:
            break


def run_threads(target: Target, ops: list[Op], threads: int, budget: Budget) -> Summary:
    """``threads`` threads on one shared target; wall time from a common start."""
    _warm(target, ops, budget)
    tallies: list[_Tally] = [_Tally([]) for _ in range(threads)]
    start = threading.Barrier(threads + 1)
    stop_box: list[int] = [0]

    def work(k: int) -> None:
        start.wait()
        limit = budget.limit(len(ops), k, threads)
        tallies[k] = _loop(target, ops, k, threads, stop_box[0], limit)

    workers = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(threads)]
    for w in workers:
        w.start()
    t0 = time.perf_counter_ns()
    stop_box[0] = t0 + int(budget.seconds * 1e9)
    start.wait()
    for w in workers:
        w.join()
    return _merge(tallies, (time.perf_counter_ns() - t0) / 1e9)


# -- processes ------------------------------------------------------------------------------------


def _child(conn: Connection) -> None:
    """A client process: opens a target per spec (kept for the next task), runs tasks."""
    targets: dict[Any, Any] = {}
    try:
        while True:
            task = conn.recv()
            if task is None:
                break
            spec, ops, offset, stride, budget = task
            target = targets.get(spec)
            if target is None:
                _close_others(targets, getattr(spec, "address", None))
                target = targets[spec] = spec.open()
            _warm(target, ops[offset::stride], budget)
            conn.send("ready")
            start_at = conn.recv()  # the same moment for every process
            delay = start_at - time.time()
            if delay > 0:
                time.sleep(delay)
            began = time.time()
            stop_at = time.perf_counter_ns() + int(budget.seconds * 1e9)
            limit = budget.limit(len(ops), offset, stride)
            tally = _loop(target, ops, offset, stride, stop_at, limit)
            conn.send((tally, began, time.time()))
    finally:
        _close_others(targets, None)
        conn.close()


def _close_others(targets: dict[Any, Any], address: str | None) -> None:
    """Close the targets of other servers (a stopped server's connections are no use)."""
    for spec in [s for s in targets if address is None or getattr(s, "address", None) != address]:
        close: Callable[[], None] | None = getattr(targets.pop(spec), "close", None)
        if close is not None:
            close()


class Fleet:
    """``n`` client processes (spawned, so no gRPC state is inherited), reused across cells."""

    def __init__(self, n: int):
        ctx = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[BaseProcess] = []
        for _ in range(n):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_child, args=(child,), daemon=True)
            p.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(p)

    @property
    def size(self) -> int:
        return len(self.procs)

    def run(self, spec: TargetSpec, ops: list[Op], budget: Budget) -> Summary:
        """Every process runs its share of ``ops`` from a common start time."""
        n = self.size
        for k, conn in enumerate(self.conns):
            conn.send((spec, ops, k, n, budget))
        for conn in self.conns:  # each has connected and warmed up
            conn.recv()
        start_at = time.time() + 0.02
        for conn in self.conns:
            conn.send(start_at)
        results = [conn.recv() for conn in self.conns]
        tallies = [r[0] for r in results]
        wall = max(r[2] for r in results) - min(r[1] for r in results)
        return _merge(tallies, wall)

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(None)
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.terminate()
                p.join(5)
        for conn in self.conns:
            conn.close()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
