"""Per-call budgets: deadlines, cancellation and shutdown, checked between results.

The engine evaluates a query without knowing about gRPC, so the server stops work at the
seams it controls: between chunks of a lookup, between items of a bulk check, between stream
messages and between Watch polls. A :class:`Budget` is created by the servicer for each call
from the shared :class:`CallControl`, which is handed to every servicer explicitly (not through
a request-context side channel).

Why a server-side default deadline: a client that sets none must not be able to keep a worker
thread busy forever with a huge lookup by accident. A client that sets a deadline gets exactly
that one, longer or shorter (a big import may legitimately need minutes); endless streams
(Watch) are bounded by the client's deadline only.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from server.errors import DeadlineExceeded, ServerStopping

#: grpc reports "no deadline" as a time far in the future; anything beyond this is none.
_NO_DEADLINE = 10 * 365 * 24 * 3600.0


class CallCancelled(Exception):
    """The client went away; the handler stops quietly (nobody reads the status)."""


class CallControl:
    """State shared by all servicers of one server: default deadline, shutdown, open streams."""

    def __init__(self, default_deadline: float):
        self.default_deadline = default_deadline
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._open_streams = 0

    @property
    def open_streams(self) -> int:
        """Server-streaming calls whose handler is still running (tests watch this drop)."""
        with self._lock:
            return self._open_streams

    def budget(self, context: grpc.ServicerContext, *, endless: bool = False) -> Budget:
        """``endless`` streams (Watch) are bounded by the client's deadline only."""
        return Budget(self, context, None if endless else self.default_deadline)

    @contextmanager
    def stream(self, context: grpc.ServicerContext, *, endless: bool = False) -> Iterator[Budget]:
        """Count a streaming call as open until its handler returns, however it ends."""
        with self._lock:
            self._open_streams += 1
        try:
            yield self.budget(context, endless=endless)
        finally:
            with self._lock:
                self._open_streams -= 1


class Budget:
    """How long one call may still run; :meth:`check` raises once it may not."""

    __slots__ = ("_context", "_control", "_end")

    def __init__(self, control: CallControl, context: grpc.ServicerContext, default: float | None):
        self._control = control
        self._context = context
        remaining = context.time_remaining()
        if remaining is not None and remaining < _NO_DEADLINE:
            allowed = remaining  # the client's own deadline, whatever its length
        else:
            allowed = math.inf if default is None else default
        self._end = time.monotonic() + allowed

    def remaining(self) -> float:
        return self._end - time.monotonic()

    @property
    def end(self) -> float | None:
        """The deadline as a ``time.monotonic()`` value for the engine (None: unbounded)."""
        return None if math.isinf(self._end) else self._end

    def check(self) -> None:
        """Raise if the call should stop: client gone, deadline passed, or server stopping."""
        if not self._context.is_active():
            raise CallCancelled()
        if time.monotonic() >= self._end:
            raise DeadlineExceeded("deadline exceeded: the call was stopped before it finished")

    def check_stopping(self) -> None:
        """For endless streams (Watch): end them when the server shuts down."""
        self.check()
        if self._control.stopping.is_set():
            raise ServerStopping(
                "the server is shutting down; resume from the last changes_through token"
            )

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking early when the server begins to shut down."""
        self._control.stopping.wait(max(0.0, min(seconds, self.remaining())))
