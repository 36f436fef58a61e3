"""Property tests: random boolean formulas over int parameters.

With a full context, evaluate() must agree with Python. With some parameters missing, a
definite answer must be the answer of every completion, and otherwise the result is the set
of missing parameters; the exact outcome follows CEL's (Kleene) three-valued logic.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebac.caveats import CaveatEvaluationError

from .helpers import mk

PARAMS = ("a", "b", "c", "d")
DOMAIN = range(-4, 5)  # covers every outcome of a comparison with a constant in -3..3

_OPS: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class Cmp:
    param: str
    op: str
    const: int
    flipped: bool  # write it as `const op' param`

    def text(self) -> str:
        if self.flipped:
            mirror = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
            return f"{self.const} {mirror[self.op]} {self.param}"
        return f"{self.param} {self.op} {self.const}"


@dataclass(frozen=True)
class Lit:
    value: bool

    def text(self) -> str:
        return "true" if self.value else "false"


@dataclass(frozen=True)
class Not:
    inner: Formula

    def text(self) -> str:
        return f"!({self.inner.text()})"


@dataclass(frozen=True)
class BinOp:
    op: str  # && or ||
    left: Formula
    right: Formula

    def text(self) -> str:
        return f"({self.left.text()} {self.op} {self.right.text()})"


@dataclass(frozen=True)
class Cond:
    cond: Formula
    then: Formula
    otherwise: Formula

    def text(self) -> str:
        return f"({self.cond.text()} ? {self.then.text()} : {self.otherwise.text()})"


@dataclass(frozen=True)
class Boom:
    """``1 / (param - const) > 0``: a run-time error (division by zero) when param == const."""

    param: str
    const: int

    def text(self) -> str:
        return f"1 / ({self.param} - {self.const}) > 0"


Formula: TypeAlias = Cmp | Lit | Not | BinOp | Cond | Boom

leaves = st.one_of(
    st.builds(
        Cmp,
        st.sampled_from(PARAMS),
        st.sampled_from(sorted(_OPS)),
        st.integers(-3, 3),
        st.booleans(),
    ),
    st.builds(Lit, st.booleans()),
)
formulas: st.SearchStrategy[Formula] = st.recursive(
    leaves,
    lambda sub: st.one_of(
        st.builds(Not, sub),
        st.builds(BinOp, st.sampled_from(["&&", "||"]), sub, sub),
        st.builds(Cond, sub, sub, sub),
    ),
    max_leaves=12,
)


def py_eval(f: Formula, env: dict[str, int]) -> bool:
    if isinstance(f, Boom):
        raise AssertionError("not used with errors")
    if isinstance(f, Cmp):
        return _OPS[f.op](env[f.param], f.const)
    if isinstance(f, Lit):
        return f.value
    if isinstance(f, Not):
        return not py_eval(f.inner, env)
    if isinstance(f, BinOp):
        if f.op == "&&":
            return py_eval(f.left, env) and py_eval(f.right, env)
        return py_eval(f.left, env) or py_eval(f.right, env)
    return py_eval(f.then, env) if py_eval(f.cond, env) else py_eval(f.otherwise, env)


def kleene(f: Formula, env: dict[str, int]) -> bool | frozenset[str]:
    """CEL's partial evaluation: a bool, or the missing names the result depends on."""
    if isinstance(f, Boom):
        raise AssertionError("Boom is only used by four_valued")
    if isinstance(f, Cmp):
        if f.param not in env:
            return frozenset({f.param})
        return _OPS[f.op](env[f.param], f.const)
    if isinstance(f, Lit):
        return f.value
    if isinstance(f, Not):
        r = kleene(f.inner, env)
        return r if isinstance(r, frozenset) else not r
    if isinstance(f, BinOp):
        left = kleene(f.left, env)
        right = kleene(f.right, env)
        decisive = f.op == "||"  # the value that decides the operator
        if left is decisive or right is decisive:
            return decisive
        if isinstance(left, frozenset) and isinstance(right, frozenset):
            return left | right
        if isinstance(left, frozenset):
            return left
        if isinstance(right, frozenset):
            return right
        return not decisive
    c = kleene(f.cond, env)
    if isinstance(c, frozenset):
        return c
    return kleene(f.then if c else f.otherwise, env)


def params_of(f: Formula) -> set[str]:
    if isinstance(f, Cmp | Boom):
        return {f.param}
    if isinstance(f, Lit):
        return set()
    if isinstance(f, Not):
        return params_of(f.inner)
    if isinstance(f, BinOp):
        return params_of(f.left) | params_of(f.right)
    return params_of(f.cond) | params_of(f.then) | params_of(f.otherwise)


ALL_INT = {p: "int" for p in PARAMS}


@settings(max_examples=300)
@given(formulas, st.fixed_dictionaries({p: st.integers(-4, 4) for p in PARAMS}))
def test_full_context_matches_python(f: Formula, env: dict[str, int]) -> None:
    c = mk(f.text(), **ALL_INT)
    assert c.evaluate(env) is py_eval(f, env), f.text()


@settings(max_examples=300)
@given(
    formulas,
    st.fixed_dictionaries({p: st.integers(-4, 4) for p in PARAMS}),
    st.sets(st.sampled_from(PARAMS), min_size=1),
)
def test_partial_context_is_sound(f: Formula, full: dict[str, int], missing: set[str]) -> None:
    c = mk(f.text(), **ALL_INT)
    env = {k: v for k, v in full.items() if k not in missing}
    result = c.evaluate(env)
    absent = sorted(missing & params_of(f))
    completions = [
        py_eval(f, {**env, **dict(zip(absent, values, strict=True))})
        for values in itertools.product(DOMAIN, repeat=len(absent))
    ]
    if isinstance(result, bool):
        # a definite answer must be the answer of every completion
        assert all(r is result for r in completions), f.text()
    else:
        assert result, f.text()
        assert result <= missing & params_of(f), f.text()
    # and exactly CEL's three-valued result, including which names are reported
    assert result == kleene(f, env), f.text()


@given(formulas)
def test_constant_formulas_fold(f: Formula) -> None:
    # with every parameter missing, formulas that do not use any parameter still evaluate
    c = mk(f.text(), **ALL_INT)
    result = c.evaluate({})
    expected: Any = kleene(f, {})
    assert result == expected


ERR = "error"


def four_valued(f: Formula, env: dict[str, int]) -> bool | frozenset[str] | str:
    """CEL's logic with errors: for && false beats unknown beats error beats true (dually
    for ||); every other operator is strict (unknown beats error)."""
    if isinstance(f, Boom):
        if f.param not in env:
            return frozenset({f.param})
        d = env[f.param] - f.const
        if d == 0:
            return ERR
        q = abs(1) // abs(d)
        return (q if d > 0 else -q) > 0
    if isinstance(f, Cmp | Lit):
        return kleene(f, env)
    if isinstance(f, Not):
        r = four_valued(f.inner, env)
        return r if not isinstance(r, bool) else not r
    if isinstance(f, BinOp):
        vals = [four_valued(f.left, env), four_valued(f.right, env)]
        decisive = f.op == "||"
        if decisive in vals:
            return decisive
        unknowns = [v for v in vals if isinstance(v, frozenset)]
        if unknowns:
            return frozenset().union(*unknowns)
        if ERR in vals:
            return ERR
        return not decisive
    c = four_valued(f.cond, env)
    if not isinstance(c, bool):
        return c
    return four_valued(f.then if c else f.otherwise, env)


boom_leaves = st.one_of(leaves, st.builds(Boom, st.sampled_from(PARAMS), st.integers(-1, 1)))
boom_formulas: st.SearchStrategy[Formula] = st.recursive(
    boom_leaves,
    lambda sub: st.one_of(
        st.builds(Not, sub),
        st.builds(BinOp, st.sampled_from(["&&", "||"]), sub, sub),
        st.builds(Cond, sub, sub, sub),
    ),
    max_leaves=12,
)


@settings(max_examples=500)
@given(
    boom_formulas,
    st.fixed_dictionaries({p: st.integers(-1, 1) for p in PARAMS}),
    st.sets(st.sampled_from(PARAMS), max_size=2),
)
def test_errors_follow_cel_absorption(f: Formula, full: dict[str, int], missing: set[str]) -> None:
    c = mk(f.text(), **ALL_INT)
    env = {k: v for k, v in full.items() if k not in missing}
    expected = four_valued(f, env)
    if expected == ERR:
        with pytest.raises(CaveatEvaluationError):
            c.evaluate(env)
    else:
        assert c.evaluate(env) == expected, f.text()
