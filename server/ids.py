"""Ids of calls and audit events: unique, cheap, and not secrets.

An id is a random prefix drawn once per process (again in a forked child) followed by a
counter, 32 hex digits in all like a random UUID's. They correlate a call's log lines, audit
line and error details; nothing is authorised by knowing one. Drawing 16 random bytes per id
instead costs a system call per call, and on a busy server every system call is a moment the
handler lets go of the GIL and may wait to get it back behind other threads.
"""

from __future__ import annotations

import itertools
import os


class _Ids:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.next = itertools.count(1).__next__  # atomic under the GIL

    def new(self) -> str:
        return f"{self.prefix}{self.next():016x}"


_ids = _Ids()
os.register_at_fork(after_in_child=_ids.reset)


def new_id() -> str:
    """A fresh id, unique across processes and restarts (64 random bits per process)."""
    return _ids.new()
