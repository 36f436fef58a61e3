"""The values a (sub)check can produce, and how they combine.

A check answers with one of four values:

* ``True`` / ``False`` -- definitely a member / definitely not;
* :class:`Conditional` -- depends on caveat parameters that were not supplied (SpiceDB's
  CONDITIONAL_PERMISSION); it carries the names of the missing parameters;
* :class:`Cyclic` -- depends on a cycle in the data that cannot be resolved soundly (a cycle
  through the subtracted side of an exclusion). It only survives to the top when the answer
  really depends on it; there it becomes a :class:`~rebac.errors.CycleDetected` error.

Combination is Kleene's three-valued logic (a definite ``False`` beats an unknown under AND, a
definite ``True`` beats it under OR), with ``Cyclic`` ranking above ``Conditional`` so that a
cycle is never hidden behind a caveat.
"""

from __future__ import annotations

from typing import TypeAlias


class Conditional:
    __slots__ = ("missing",)

    def __init__(self, missing: frozenset[str]):
        self.missing = missing

    def __repr__(self) -> str:
        return f"Conditional({sorted(self.missing)})"


class Cyclic:
    __slots__ = ("path",)

    def __init__(self, path: tuple[str, ...]):
        self.path = path

    def __repr__(self) -> str:
        return f"Cyclic({' -> '.join(self.path)})"


Value: TypeAlias = bool | Conditional | Cyclic


def v_or(a: Value, b: Value) -> Value:
    if a is True or b is True:
        return True
    if a is False:
        return b
    if b is False:
        return a
    if isinstance(a, Cyclic):
        return a
    if isinstance(b, Cyclic):
        return b
    assert isinstance(a, Conditional) and isinstance(b, Conditional)
    return Conditional(a.missing | b.missing)


def v_and(a: Value, b: Value) -> Value:
    if a is False or b is False:
        return False
    if a is True:
        return b
    if b is True:
        return a
    if isinstance(a, Cyclic):
        return a
    if isinstance(b, Cyclic):
        return b
    assert isinstance(a, Conditional) and isinstance(b, Conditional)
    return Conditional(a.missing | b.missing)


def v_not(a: Value) -> Value:
    if a is True:
        return False
    if a is False:
        return True
    return a


def caveat_value(result: bool | frozenset[str]) -> Value:
    """Turn a caveat's evaluation (bool or the missing parameter names) into a Value."""
    if result is True or result is False:
        return result
    assert isinstance(result, frozenset)
    return Conditional(result)
