"""Attacker-supplied text made safe for logs: escaped, and cut short.

Whatever arrives in a token header, a claim or metadata may contain newlines, ANSI escapes or
megabytes of text meant to forge or flood log lines. Everything that came from a caller goes
through :func:`quote` before it reaches the server log, and through :func:`clip` before it
reaches the audit log (whose JSON encoding does the escaping).
"""

from __future__ import annotations

MAX_SHOWN = 128


def clip(value: object, limit: int = MAX_SHOWN) -> str:
    """``value`` as text of at most ``limit`` characters (longer ones end in ``...``)."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quote(value: object, limit: int = MAX_SHOWN) -> str:
    """A printable, ASCII-only, quoted rendering of ``value`` for one log line."""
    return ascii(clip(value, limit))
