"""A progress bar on stderr, so stdout stays the report (and can be redirected whole).

On a terminal the bar redraws in place; elsewhere (CI logs, pipes) each step is one line.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 24


class Progress:
    def __init__(self, total: int, *, enabled: bool = True, stream: TextIO | None = None):
        self.total = max(1, total)
        self.done = 0
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._last_len = 0

    def _emit(self, label: str) -> None:
        if not self.enabled:
            return
        filled = round(WIDTH * self.done / self.total)
        bar = "#" * filled + "." * (WIDTH - filled)
        elapsed = time.monotonic() - self.started
        text = f"[{bar}] {self.done}/{self.total} {elapsed:5.0f}s  {label}"
        if self.tty:
            pad = max(0, self._last_len - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._last_len = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def say(self, label: str) -> None:
        """What is happening now (loading, starting a server), without advancing."""
        self._emit(label)

    def step(self, label: str) -> None:
        """One measured cell starts."""
        self._emit(label)
        self.done = min(self.total, self.done + 1)

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\r" + " " * self._last_len + "\r")
            self.stream.flush()
