"""Terminal output shared by the online commands: indented trees and a progress bar.

Why a module of its own: ``expand`` prints a tree and ``import``/``export`` draw progress, and
both must behave the same way everywhere (pipes, log files, terminals that cannot show box
characters). Nothing here imports grpc, so the offline commands can share it too.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

# -- trees ----------------------------------------------------------------------------------------

_UNICODE = ("├── ", "└── ", "│   ", "    ")
_ASCII = ("|-- ", "`-- ", "|   ", "    ")


@dataclass(slots=True)
class TreeNode:
    """One line of a tree and the lines under it."""

    label: str
    children: list[TreeNode] = field(default_factory=list)


def can_draw_boxes(stream: TextIO) -> bool:
    """Whether ``stream`` can encode the box-drawing characters.

    A Windows console or ``LANG=C`` pipe may use an encoding without them; printing would then
    fail with UnicodeEncodeError half-way through the tree, so fall back to ASCII instead.
    """
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "".join(_UNICODE).encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def render_tree(root: TreeNode, *, ascii_only: bool = False) -> list[str]:
    """The tree as lines: the root flush left, each child indented under its parent.

    Iterative, not recursive: a recursive expand of a deep hierarchy must not hit Python's
    recursion limit while printing.
    """
    branch, last, pipe, blank = _ASCII if ascii_only else _UNICODE
    lines = [root.label]
    # (node, prefix of its children, is it the last child of its parent)
    stack: list[tuple[TreeNode, str, bool]] = []
    for i, child in reversed(list(enumerate(root.children))):
        stack.append((child, "", i == len(root.children) - 1))
    while stack:
        node, prefix, is_last = stack.pop()
        lines.append(prefix + (last if is_last else branch) + node.label)
        below = prefix + (blank if is_last else pipe)
        for i, child in reversed(list(enumerate(node.children))):
            stack.append((child, below, i == len(node.children) - 1))
    return lines


# -- progress -------------------------------------------------------------------------------------

_BAR_WIDTH = 30
_REDRAW_SECONDS = 0.1


class Progress:
    """A one-line progress display on stderr, redrawn in place.

    With a ``total`` it is a bar with a percentage; without one (an export does not know how
    many relationships there are) a running count. Either way with a rate, because the question
    a user watching a long import asks is "how long will this take".

    Drawn only when ``enabled`` (the commands enable it for a terminal or when asked with
    ``--progress``): carriage-return redraws would fill a log file with garbage. Redraws are
    throttled so that drawing never costs more than the work it reports.
    """

    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        unit: str = "relationships",
        enabled: bool = True,
        stream: TextIO | None = None,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._width = 0
        self._closed = False

    def advance(self, count: int) -> None:
        """Record ``count`` more units done; redraw if the last redraw is old enough."""
        self.done += count
        now = time.monotonic()
        if now - self._last_draw >= _REDRAW_SECONDS:
            self._draw(now)

    def close(self) -> None:
        """Draw the final state and end the line (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        """The text of the display (without the carriage return)."""
        elapsed = max((now if now is not None else time.monotonic()) - self._started, 1e-9)
        rate = f"{self.done / elapsed:,.0f}/s"
        if self.total:
            fraction = min(self.done / self.total, 1.0)
            filled = round(fraction * _BAR_WIDTH)
            bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
            return (
                f"{self.label} [{bar}] {fraction:4.0%} "
                f"{self.done:,}/{self.total:,} {self.unit}  {rate}"
            )
        return f"{self.label} {self.done:,} {self.unit}  {rate}"

    def _draw(self, now: float) -> None:
        self._last_draw = now
        if not self.enabled:
            return
        text = self.line(now)
        # Pad over the previous, possibly longer, line.
        padding = " " * max(self._width - len(text), 0)
        self._width = len(text)
        self.stream.write("\r" + text + padding)
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_enabled(choice: bool | None, stream: TextIO | None = None) -> bool:
    """``--progress`` / ``--no-progress`` if given, else: is ``stream`` a terminal?"""
    if choice is not None:
        return choice
    target = stream if stream is not None else sys.stderr
    isatty = getattr(target, "isatty", None)
    return bool(isatty and isatty())
