"""Several server processes sharing one port, to use every core.

CPython runs one thread of Python at a time, so one process cannot use more than a core for
evaluation. ``rebac serve --workers N`` starts N processes that all bind the port with
``SO_REUSEPORT`` (the kernel spreads connections across them). Each opens its own
:class:`~rebac.datastore.Datastore` on the same SQLite file; their in-memory indexes catch up
from the store's changelog (``minimize_latency`` at most every ``quantum`` seconds,
``at_least_as_fresh`` and ``fully_consistent`` always), so a token from a write on one worker
is honoured by every other.

The parent creates the default store before starting workers (no race between them), then
forwards SIGTERM/SIGINT to every worker and waits for each to drain.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from server.app import (
    check_exposure,
    configure_logging,
    ensure_default_store,
    open_datastore,
    serve,
)
from server.settings import Settings

#: How long a shutdown signal waits for workers still starting before stopping them anyway.
STARTUP_WAIT = 30.0

#: Builds one worker's interceptors (must be a module-level function: it is pickled).
InterceptorFactory = Callable[[Settings], Any]


def _worker(settings_data: dict[str, Any], factory: InterceptorFactory | None, ready: Any) -> None:
    # Ctrl-C reaches every process of the terminal's group; only the parent acts on it (and
    # forwards SIGTERM), so a worker never mistakes one key press for two signals.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = Settings(**settings_data)
    configure_logging(settings)
    interceptors = factory(settings) if factory is not None else ()
    try:
        serve(
            settings,
            interceptors=interceptors,
            authenticated=factory is not None,
            signals=(signal.SIGTERM,),
            on_ready=lambda _server: ready.set(),
        )
    finally:
        # What the interceptors still hold (the audit lines waiting to be written) goes out
        # before the process does: a worker ends with os._exit, which runs no atexit hooks.
        for interceptor in interceptors:
            close = getattr(interceptor, "close", None)
            if callable(close):
                close()


def run_workers(
    settings: Settings,
    *,
    interceptor_factory: InterceptorFactory | None = None,
    on_ready: Callable[[list[BaseProcess]], None] | None = None,
) -> int:
    """Start ``settings.workers`` processes and wait for them; returns the worst exit code."""
    check_exposure(settings, authenticated=interceptor_factory is not None)
    datastore = open_datastore(settings)
    try:
        ensure_default_store(datastore, settings.default_store)
    finally:
        datastore.close()
    ctx = multiprocessing.get_context("spawn")
    data = settings.model_dump(mode="json")
    ready = [ctx.Event() for _ in range(settings.workers)]
    procs: list[BaseProcess] = [
        ctx.Process(
            target=_worker, args=(data, interceptor_factory, ready[i]), name=f"rebac-worker-{i}"
        )
        for i in range(settings.workers)
    ]
    for p in procs:
        p.start()

    def forward(signum: int, frame: FrameType | None) -> None:
        # SIGTERM to each worker: the first drains it, a second one stops it at once. A worker
        # still starting has no handler yet (the signal would kill it mid-start): wait until
        # it serves, or has died, first (bounded: a worker stuck in start-up is stopped anyway).
        give_up = time.monotonic() + STARTUP_WAIT
        for p, up in zip(procs, ready, strict=True):
            while p.is_alive() and not up.wait(0.1) and time.monotonic() < give_up:
                pass
            if p.is_alive():
                p.terminate()

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if on_ready is not None:
            on_ready(procs)
        for p in procs:
            p.join()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return max((p.exitcode or 0 for p in procs), default=0)
