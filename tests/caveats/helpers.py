"""Helpers for the caveat tests: build a caveat from ``name type`` pairs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rebac.caveats import CompiledCaveat, compile_caveat
from rebac.schema.ast import Caveat, CaveatParameter, CaveatType, Position


def parse_type(text: str) -> CaveatType:
    """``int``, ``list<string>``, ``map<any>`` -> CaveatType."""
    text = text.strip()
    if "<" in text:
        name, rest = text.split("<", 1)
        assert rest.endswith(">"), text
        return CaveatType(name.strip(), (parse_type(rest[:-1]),))
    return CaveatType(text)


def make_caveat(
    expression: str,
    params: Mapping[str, str] | None = None,
    name: str = "c",
    pos: Position | None = None,
) -> Caveat:
    return Caveat(
        name,
        tuple(CaveatParameter(k, parse_type(v)) for k, v in (params or {}).items()),
        expression,
        expression_pos=pos,
    )


def mk(expression: str, **params: str) -> CompiledCaveat:
    return compile_caveat(make_caveat(expression, params))


def run(expression: str, context: dict[str, Any] | None = None, **params: str) -> Any:
    """Compile, convert ``context`` and evaluate."""
    c = mk(expression, **params)
    return c.evaluate(c.convert_context(context or {}))
