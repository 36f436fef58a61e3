"""Type-check a parsed CEL expression and compile it into nested Python closures.

Each node becomes a :class:`_C`: its static type, its constant value when it has one (constant
sub-expressions are folded here, once), and a closure ``fn(ctx) -> value`` that evaluates it
against a context mapping (parameter name -> converted value).

Missing parameters and run-time errors are exceptions (:class:`~.runtime.Unknown`,
:class:`~.runtime.CelError` and Python's own arithmetic/lookup errors); see :mod:`.runtime`.
Strict operations therefore cost nothing extra on the happy path; ``&&``, ``||`` and the
``all``/``exists`` macros catch and absorb them the way CEL does (false wins over unknown,
unknown wins over error, unknowns merge).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from rebac.schema.ast import CaveatType

from . import runtime as rt
from .parser import (
    NBinary,
    NCall,
    NComprehension,
    NCond,
    NIdent,
    NIndex,
    NList,
    NLit,
    NMap,
    Node,
    NSelect,
    NUnary,
)

Fn = Callable[[Mapping[str, Any]], Any]

INT = CaveatType("int")
UINT = CaveatType("uint")
DOUBLE = CaveatType("double")
BOOL = CaveatType("bool")
STRING = CaveatType("string")
BYTES = CaveatType("bytes")
NULL = CaveatType("null")
TIMESTAMP = CaveatType("timestamp")
DURATION = CaveatType("duration")
IPADDRESS = CaveatType("ipaddress")
DYN = CaveatType("dyn")

_SCALARS = {
    t.name: t for t in (INT, UINT, DOUBLE, BOOL, STRING, BYTES, TIMESTAMP, DURATION, IPADDRESS)
}


def list_of(t: CaveatType) -> CaveatType:
    return CaveatType("list", (t,))


def map_of(k: CaveatType, v: CaveatType) -> CaveatType:
    return CaveatType("map", (k, v))


def from_declared(t: CaveatType) -> CaveatType | None:
    """The internal type of a declared parameter type (``map<T>`` is ``map<string, T>``,
    ``any`` is ``dyn``); None for a type SpiceDB does not have.

    SpiceDB declares ``uint`` parameters with CEL type ``int`` (values are checked to be
    non-negative on the way in), so ``count < 10`` type-checks and ``count < 10u`` does not."""
    if t.name == "uint" and not t.args:
        return INT
    if t.name in _SCALARS and not t.args:
        return _SCALARS[t.name]
    if t.name == "any" and not t.args:
        return DYN
    if t.name == "list" and len(t.args) == 1:
        e = from_declared(t.args[0])
        return None if e is None else list_of(e)
    if t.name == "map" and len(t.args) == 1:
        v = from_declared(t.args[0])
        return None if v is None else map_of(STRING, v)
    return None


def type_str(t: CaveatType) -> str:
    return str(t)


class CheckError(Exception):
    """A type-checking problem at ``pos`` (offset in the expression text)."""

    def __init__(self, message: str, pos: int):
        super().__init__(message)
        self.message = message
        self.pos = pos


_NOCONST: Any = object()
_MISSING: Any = object()


@dataclass(slots=True)
class _C:
    fn: Fn
    ty: CaveatType
    const: Any = _NOCONST
    ident: str | None = None  # a plain variable lookup (lets parents inline it)
    bound: bool = False  # ident is a comprehension variable (always present)

    @property
    def is_const(self) -> bool:
        return self.const is not _NOCONST


def _const(value: Any, ty: CaveatType) -> _C:
    def fn(ctx: Mapping[str, Any]) -> Any:
        return value

    return _C(fn, ty, value)


def _failing(exc: Exception, ty: CaveatType) -> _C:
    """A constant sub-expression whose evaluation fails: CEL reports that at run time."""

    message = rt.describe_error(exc)

    def fn(ctx: Mapping[str, Any]) -> Any:
        raise rt.CelError(message)  # a fresh exception per call: tracebacks are per raise

    return _C(fn, ty)


def _is_dyn(t: CaveatType) -> bool:
    return t == DYN


def _contains_dyn(t: CaveatType) -> bool:
    return t == DYN or any(_contains_dyn(a) for a in t.args)


def unify(a: CaveatType, b: CaveatType) -> CaveatType | None:
    """The common type of two branches/elements, or None when they are incompatible."""
    if a == b:
        return a
    if a == DYN or b == DYN:
        return DYN
    if a == NULL:
        return b
    if b == NULL:
        return a
    if a.name == b.name and a.name in ("list", "map") and len(a.args) == len(b.args):
        args = []
        for x, y in zip(a.args, b.args, strict=True):
            u = unify(x, y)
            if u is None:
                return None
            args.append(u)
        return CaveatType(a.name, tuple(args))
    return None


# --------------------------------------------------------------------------------------------
# Closure factories


def _unary(impl: Callable[[Any], Any], a: _C, ty: CaveatType) -> _C:
    if a.is_const:
        return _fold(impl, (a.const,), ty)
    if a.ident is not None and not a.bound:
        name = a.ident
        names = frozenset((name,))

        def f_ident(ctx: Mapping[str, Any]) -> Any:
            v = ctx.get(name, _MISSING)
            if v is _MISSING:
                raise rt.Unknown(names)
            return impl(v)

        return _C(f_ident, ty)
    af = a.fn

    def f(ctx: Mapping[str, Any]) -> Any:
        return impl(af(ctx))

    return _C(f, ty)


def _fold(impl: Callable[..., Any], args: tuple[Any, ...], ty: CaveatType) -> _C:
    try:
        return _const(impl(*args), ty)
    except Exception as e:
        return _failing(e, ty)


def _binary(impl: Callable[[Any, Any], Any], a: _C, b: _C, ty: CaveatType) -> _C:
    if a.is_const and b.is_const:
        return _fold(impl, (a.const, b.const), ty)
    if b.is_const:
        c = b.const
        if a.ident is not None and not a.bound:
            name = a.ident
            names = frozenset((name,))

            def f_ident_const(ctx: Mapping[str, Any]) -> Any:
                v = ctx.get(name, _MISSING)
                if v is _MISSING:
                    raise rt.Unknown(names)
                return impl(v, c)

            return _C(f_ident_const, ty)
        af = a.fn

        def f_x_const(ctx: Mapping[str, Any]) -> Any:
            return impl(af(ctx), c)

        return _C(f_x_const, ty)
    if a.is_const:
        c = a.const
        bf = b.fn

        def f_const_x(ctx: Mapping[str, Any]) -> Any:
            return impl(c, bf(ctx))

        return _C(f_const_x, ty)
    af = a.fn
    bf = b.fn
    others = (bf,)

    def f(ctx: Mapping[str, Any]) -> Any:
        try:
            x = af(ctx)
        except Exception as e:
            rt.fail_strict(e, ctx, others)
        return impl(x, bf(ctx))

    return _C(f, ty)


def _select(a: _C, field: str, ty: CaveatType) -> _C:
    """``a.field`` on a map (the common ``somemap.foo``), with the lookup inlined."""
    if a.is_const:
        return _fold(rt.select_field, (a.const, field), ty)
    select = rt.select_field
    if a.ident is not None and not a.bound:
        name = a.ident
        names = frozenset((name,))

        def f_ident(ctx: Mapping[str, Any]) -> Any:
            m = ctx.get(name, _MISSING)
            if m is _MISSING:
                raise rt.Unknown(names)
            if type(m) is dict and field in m:
                return m[field]
            return select(m, field)

        return _C(f_ident, ty)
    af = a.fn

    def f(ctx: Mapping[str, Any]) -> Any:
        m = af(ctx)
        if type(m) is dict and field in m:
            return m[field]
        return select(m, field)

    return _C(f, ty)


def _nary(impl: Callable[..., Any], args: list[_C], ty: CaveatType) -> _C:
    if len(args) == 1:
        return _unary(impl, args[0], ty)
    if len(args) == 2:
        return _binary(impl, args[0], args[1], ty)
    if all(a.is_const for a in args):
        return _fold(impl, tuple(a.const for a in args), ty)
    fns = tuple(a.fn for a in args)

    def f(ctx: Mapping[str, Any]) -> Any:
        vals = []
        for i, g in enumerate(fns):
            try:
                vals.append(g(ctx))
            except Exception as e:
                rt.fail_strict(e, ctx, fns[i + 1 :])
        return impl(*vals)

    return _C(f, ty)


def _ensure_bool(c: _C) -> _C:
    """Wrap a dyn-typed operand of a logical operator so that non-bool values are errors."""
    if c.ty == BOOL:
        return c
    return _unary(rt.require_bool, c, BOOL)


def _logical2(absorbing: bool, a: _C, b: _C) -> _C:
    """``a && b`` (``absorbing`` False) or ``a || b`` (True), CEL's commutative way: the
    absorbing value on either side decides, even when the other side is unknown or an error."""
    a = _ensure_bool(a)
    b = _ensure_bool(b)
    if (a.is_const and a.const is absorbing) or (b.is_const and b.const is absorbing):
        return _const(absorbing, BOOL)
    if a.is_const and a.const is (not absorbing):
        return b
    if b.is_const and b.const is (not absorbing):
        return a
    af = a.fn
    bf = b.fn

    def f(ctx: Mapping[str, Any]) -> Any:
        try:
            left = af(ctx)
        except Exception as e:
            failure: BaseException = e
        else:
            if left is absorbing:
                return absorbing
            return bf(ctx)
        try:
            right = bf(ctx)
        except Exception as e2:
            raise rt.merge(failure, e2) from None
        if right is absorbing:
            return absorbing
        raise failure

    return _C(f, BOOL)


def _and(a: _C, b: _C) -> _C:
    return _logical2(False, a, b)


def _or(a: _C, b: _C) -> _C:
    return _logical2(True, a, b)


def _logical_n(is_and: bool, terms: list[_C]) -> _C:
    """``t1 && t2 && ...`` (``is_and``) or ``t1 || t2 || ...``: the deciding value (false for
    &&, true for ||) wins wherever it occurs; otherwise unknowns (merged) beat errors."""
    decisive = not is_and
    kept: list[_C] = []
    for t in terms:
        t = _ensure_bool(t)
        if t.is_const:
            if t.const is decisive:
                return _const(decisive, BOOL)
            continue  # the neutral constant
        kept.append(t)
    if not kept:
        return _const(not decisive, BOOL)
    if len(kept) == 1:
        return kept[0]
    if len(kept) == 2:
        return _and(*kept) if is_and else _or(*kept)
    fns = tuple(t.fn for t in kept)
    neutral = not decisive

    def f(ctx: Mapping[str, Any]) -> Any:
        failure: BaseException | None = None
        for g in fns:
            try:
                v = g(ctx)
            except Exception as e:
                failure = rt.merge(failure, e)
                continue
            if v is decisive:
                return decisive
        if failure is not None:
            raise failure
        return neutral

    return _C(f, BOOL)


def _not(a: _C) -> _C:
    a = _ensure_bool(a)
    return _unary(operator.not_, a, BOOL)


def _cond(c: _C, t: _C, e: _C, ty: CaveatType) -> _C:
    c = _ensure_bool(c)
    if c.is_const:
        return t if c.const else e
    cf, tf, ef = c.fn, t.fn, e.fn

    def f(ctx: Mapping[str, Any]) -> Any:
        return tf(ctx) if cf(ctx) else ef(ctx)

    return _C(f, ty)


# --------------------------------------------------------------------------------------------
# Operator tables

_ORDERED = frozenset({"int", "uint", "double", "string", "bytes", "bool", "timestamp", "duration"})

_CMP_STATIC: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_CMP_DYN: dict[str, Callable[[Any, Any], bool]] = {
    "<": rt.dyn_lt,
    "<=": rt.dyn_le,
    ">": rt.dyn_gt,
    ">=": rt.dyn_ge,
}

_ARITH: dict[tuple[str, str, str], tuple[Callable[[Any, Any], Any], CaveatType]] = {
    ("+", "int", "int"): (rt.int_add, INT),
    ("+", "uint", "uint"): (rt.uint_add, UINT),
    ("+", "double", "double"): (rt.double_add, DOUBLE),
    ("+", "string", "string"): (rt.concat, STRING),
    ("+", "bytes", "bytes"): (rt.concat, BYTES),
    ("+", "timestamp", "duration"): (rt.time_add, TIMESTAMP),
    ("+", "duration", "timestamp"): (rt.time_add, TIMESTAMP),
    ("+", "duration", "duration"): (rt.time_add, DURATION),
    ("-", "int", "int"): (rt.int_sub, INT),
    ("-", "uint", "uint"): (rt.uint_sub, UINT),
    ("-", "double", "double"): (rt.double_sub, DOUBLE),
    ("-", "timestamp", "timestamp"): (rt.time_sub, DURATION),
    ("-", "timestamp", "duration"): (rt.time_sub, TIMESTAMP),
    ("-", "duration", "duration"): (rt.time_sub, DURATION),
    ("*", "int", "int"): (rt.int_mul, INT),
    ("*", "uint", "uint"): (rt.uint_mul, UINT),
    ("*", "double", "double"): (rt.double_mul, DOUBLE),
    ("/", "int", "int"): (rt.int_div, INT),
    ("/", "uint", "uint"): (rt.uint_div, UINT),
    ("/", "double", "double"): (rt.double_div, DOUBLE),
    ("%", "int", "int"): (rt.int_mod, INT),
    ("%", "uint", "uint"): (rt.uint_mod, UINT),
}

_CONVERSIONS: dict[str, tuple[Callable[[Any], Any], CaveatType, frozenset[str]]] = {
    # name: (implementation, result type, accepted argument types)
    "int": (rt.to_int, INT, frozenset({"int", "uint", "double", "string", "timestamp"})),
    "uint": (rt.to_uint, UINT, frozenset({"int", "uint", "double", "string"})),
    "double": (rt.to_double, DOUBLE, frozenset({"int", "uint", "double", "string"})),
    "string": (
        rt.to_string,
        STRING,
        frozenset({"int", "uint", "double", "string", "bytes", "bool", "timestamp", "duration"}),
    ),
    "bytes": (rt.to_bytes, BYTES, frozenset({"bytes", "string"})),
    "bool": (rt.to_bool, BOOL, frozenset({"bool", "string"})),
    "timestamp": (rt.to_timestamp, TIMESTAMP, frozenset({"timestamp", "string", "int"})),
    "duration": (rt.to_duration, DURATION, frozenset({"duration", "string"})),
}

_STRING_METHODS: dict[str, Callable[[Any, Any], bool]] = {
    "contains": rt.str_contains,
    "startsWith": rt.str_starts,
    "endsWith": rt.str_ends,
    "matches": rt.str_matches,
}

_TS_ACCESSORS: dict[str, Callable[..., int]] = {
    "getFullYear": rt.ts_full_year,
    "getMonth": rt.ts_month,
    "getDate": rt.ts_date,
    "getDayOfMonth": rt.ts_day_of_month,
    "getDayOfYear": rt.ts_day_of_year,
    "getDayOfWeek": rt.ts_day_of_week,
    "getHours": rt.time_hours,
    "getMinutes": rt.time_minutes,
    "getSeconds": rt.time_seconds,
    "getMilliseconds": rt.time_milliseconds,
}
_DURATION_ACCESSORS = frozenset({"getHours", "getMinutes", "getSeconds", "getMilliseconds"})

_KNOWN_FUNCTIONS = frozenset({"size", "dyn", "matches", "now", *_CONVERSIONS})
_KNOWN_METHODS = frozenset({"size", "in_cidr", *_STRING_METHODS, *_TS_ACCESSORS})

_MAX_DEPTH = 100


# --------------------------------------------------------------------------------------------
# The checker/compiler


class Compiler:
    def __init__(self, params: Mapping[str, CaveatType]):
        self.scope: dict[str, CaveatType] = dict(params)
        self.bound: set[str] = set()  # names currently bound by a comprehension
        self.depth = 0

    def compile(self, node: Node) -> _C:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise CheckError("expression nested too deeply", node.pos)
        try:
            return self._compile(node)
        finally:
            self.depth -= 1

    def _err(self, message: str, pos: int) -> NoReturn:
        raise CheckError(message, pos)

    def _compile(self, node: Node) -> _C:
        if isinstance(node, NLit):
            return self.literal(node)
        if isinstance(node, NIdent):
            return self.ident(node)
        if isinstance(node, NBinary):
            return self.binary(node)
        if isinstance(node, NUnary):
            return self.unary(node)
        if isinstance(node, NSelect):
            return self.select(node)
        if isinstance(node, NIndex):
            return self.index(node)
        if isinstance(node, NCall):
            return self.call(node)
        if isinstance(node, NCond):
            return self.cond(node)
        if isinstance(node, NList):
            return self.list_lit(node)
        if isinstance(node, NMap):
            return self.map_lit(node)
        if isinstance(node, NComprehension):
            return self.comprehension(node)
        raise AssertionError(f"unexpected node {node!r}")  # pragma: no cover

    # leaves --------------------------------------------------------------------------------
    def literal(self, n: NLit) -> _C:
        if n.kind == "int" and not (rt.INT_MIN <= n.value <= rt.INT_MAX):
            self._err(f"integer literal out of range: {n.value}", n.pos)
        if n.kind == "uint" and not (0 <= n.value <= rt.UINT_MAX):
            self._err(f"unsigned integer literal out of range: {n.value}u", n.pos)
        return _const(n.value, NULL if n.kind == "null" else _SCALARS[n.kind])

    def ident(self, n: NIdent) -> _C:
        ty = self.scope.get(n.name)
        if ty is None:
            if n.name in _KNOWN_FUNCTIONS:
                self._err(f"'{n.name}' is a function, not a value", n.pos)
            self._err(f"unknown identifier '{n.name}' (not a parameter of the caveat)", n.pos)
        name = n.name
        if name in self.bound:

            def bound_var(ctx: Mapping[str, Any]) -> Any:
                return ctx[name]

            return _C(bound_var, ty, ident=name, bound=True)
        names = frozenset((name,))

        def param(ctx: Mapping[str, Any]) -> Any:
            v = ctx.get(name, _MISSING)
            if v is _MISSING:
                raise rt.Unknown(names)
            return v

        return _C(param, ty, ident=name)

    # operators -----------------------------------------------------------------------------
    def unary(self, n: NUnary) -> _C:
        a = self.compile(n.operand)
        if n.op == "!":
            if a.ty not in (BOOL, DYN):
                self._err(f"'!' expects bool, got {type_str(a.ty)}", n.pos)
            return _not(a)
        impl: Callable[[Any], Any]
        if a.ty == INT:
            impl, ty = rt.int_neg, INT
        elif a.ty == DOUBLE:
            impl, ty = rt.double_neg, DOUBLE
        elif a.ty == DURATION:
            impl, ty = rt.duration_neg, DURATION
        elif a.ty == DYN:
            impl, ty = rt.dyn_neg, DYN
        else:
            self._err(f"'-' cannot negate {type_str(a.ty)}", n.pos)
        return _unary(impl, a, ty)

    def logical(self, n: NBinary) -> _C:
        """A chain ``a && b && c ...`` (or ``||``) compiled as one n-ary node, so long chains
        cost no nesting depth; the 4-valued logic is associative, so this changes nothing."""
        op = n.op
        operands: list[Node] = []
        stack: list[Node] = [n]
        while stack:
            x = stack.pop()
            if isinstance(x, NBinary) and x.op == op:
                stack.append(x.right)
                stack.append(x.left)
            else:
                operands.append(x)
        terms: list[_C] = []
        for i, operand in enumerate(operands):
            t = self.compile(operand)
            if t.ty not in (BOOL, DYN):
                side = "left" if i == 0 else "right"
                self._err(f"'{op}' expects bool operands, {side} side is {type_str(t.ty)}", n.pos)
            terms.append(t)
        return _logical_n(op == "&&", terms)

    def binary(self, n: NBinary) -> _C:
        op = n.op
        if op in ("&&", "||"):
            return self.logical(n)
        a = self.compile(n.left)
        b = self.compile(n.right)
        lt, rtype = a.ty, b.ty
        if op in ("==", "!="):
            if unify(lt, rtype) is None:
                self._err(
                    f"type mismatch: '{op}' cannot compare {type_str(lt)} with {type_str(rtype)}",
                    n.pos,
                )
            plain = lt == rtype and not _contains_dyn(lt) and lt != NULL
            if op == "==":
                return _binary(operator.eq if plain else rt.cel_eq, a, b, BOOL)
            return _binary(operator.ne if plain else rt.cel_ne, a, b, BOOL)
        if op in _CMP_STATIC:
            if lt == DYN or rtype == DYN:
                if (lt != DYN and lt.name not in _ORDERED) or (
                    rtype != DYN and rtype.name not in _ORDERED
                ):
                    self._mismatch(op, lt, rtype, n.pos)
                return _binary(_CMP_DYN[op], a, b, BOOL)
            if lt != rtype or lt.name not in _ORDERED:
                self._mismatch(op, lt, rtype, n.pos)
            return _binary(_CMP_STATIC[op], a, b, BOOL)
        if op == "in":
            if rtype.name == "list":
                if unify(lt, rtype.args[0]) is None:
                    self._mismatch(op, lt, rtype, n.pos)
                plain = lt == rtype.args[0] and not _contains_dyn(lt) and lt != DOUBLE
                return _binary(_in_impl(plain), a, b, BOOL)
            if rtype.name == "map":
                if unify(lt, rtype.args[0]) is None:
                    self._mismatch(op, lt, rtype, n.pos)
                return _binary(_in_map, a, b, BOOL)
            if rtype == DYN:
                return _binary(rt.dyn_in, a, b, BOOL)
            self._mismatch(op, lt, rtype, n.pos)
        # arithmetic
        if lt == DYN or rtype == DYN:
            other = rtype if lt == DYN else lt
            if (
                other != DYN
                and not any(k[0] == op and other.name in (k[1], k[2]) for k in _ARITH)
                and not (op == "+" and other.name == "list")
            ):
                self._mismatch(op, lt, rtype, n.pos)
            return _binary(rt.dyn_arith(op), a, b, DYN)
        if op == "+" and lt.name == "list" and rtype.name == "list":
            elem = unify(lt.args[0], rtype.args[0]) or DYN
            return _binary(rt.list_concat, a, b, list_of(elem))
        entry = _ARITH.get((op, lt.name, rtype.name))
        if entry is None or lt.args or rtype.args:
            self._mismatch(op, lt, rtype, n.pos)
        return _binary(entry[0], a, b, entry[1])

    def _mismatch(self, op: str, lt: CaveatType, rtype: CaveatType, pos: int) -> NoReturn:
        self._err(
            f"type mismatch: no operator '{op}' for {type_str(lt)} and {type_str(rtype)}", pos
        )

    def cond(self, n: NCond) -> _C:
        c = self.compile(n.cond)
        if c.ty not in (BOOL, DYN):
            self._err(f"'?:' condition must be bool, got {type_str(c.ty)}", n.pos)
        t = self.compile(n.then)
        e = self.compile(n.otherwise)
        ty = unify(t.ty, e.ty)
        if ty is None:
            self._err(
                f"type mismatch: '?:' branches have types {type_str(t.ty)} and {type_str(e.ty)}",
                n.pos,
            )
        return _cond(c, t, e, ty)

    # member access -------------------------------------------------------------------------
    def select(self, n: NSelect) -> _C:
        a = self.compile(n.operand)
        field = n.field
        if a.ty.name == "map":
            if a.ty.args[0] not in (STRING, DYN):
                self._err(
                    f"field selection '.{field}' on a map with {type_str(a.ty.args[0])} keys",
                    n.pos,
                )
            vty = a.ty.args[1]
        elif a.ty == DYN:
            vty = DYN
        else:
            what = "has()" if n.test_only else "field selection"
            self._err(f"type {type_str(a.ty)} does not support {what} ('.{field}')", n.pos)
        if n.test_only:
            return _unary(lambda m: rt.has_field(m, field), a, BOOL)
        return _select(a, field, vty)

    def index(self, n: NIndex) -> _C:
        a = self.compile(n.operand)
        i = self.compile(n.index)
        t = a.ty
        if t.name == "list":
            if i.ty not in (INT, UINT, DYN):
                self._err(f"list index must be int, got {type_str(i.ty)}", n.pos)
            return _binary(rt.list_index, a, i, t.args[0])
        if t.name == "map":
            if unify(i.ty, t.args[0]) is None:
                self._err(f"map key must be {type_str(t.args[0])}, got {type_str(i.ty)}", n.pos)
            return _binary(rt.map_index, a, i, t.args[1])
        if t == DYN:
            return _binary(rt.list_index, a, i, DYN)
        self._err(f"type {type_str(t)} does not support indexing", n.pos)

    # calls ---------------------------------------------------------------------------------
    def call(self, n: NCall) -> _C:
        fn = n.function
        if n.target is None:
            if fn not in _KNOWN_FUNCTIONS:
                if fn in _KNOWN_METHODS:
                    self._err(f"'{fn}' is a method: call it as value.{fn}(...)", n.pos)
                self._err(f"unknown function '{fn}'", n.pos)
            args = [self.compile(x) for x in n.args]
            if fn == "size":
                self._arity(n, args, 1)
                return self._size(n, args[0])
            if fn == "dyn":
                self._arity(n, args, 1)
                a = args[0]
                return _C(a.fn, DYN, a.const, a.ident, a.bound)
            if fn == "now":  # SpiceDB extension: the current time, read at evaluation
                self._arity(n, args, 0)
                return _C(_now, TIMESTAMP)
            if fn == "matches":
                self._arity(n, args, 2)
                return self._string_method(n, "matches", args[0], args[1:])
            impl, ty, accepted = _CONVERSIONS[fn]
            self._arity(n, args, 1)
            at = args[0].ty
            if at != DYN and at.name not in accepted:
                self._err(f"no conversion {fn}() from {type_str(at)}", n.pos)
            if at == ty:
                return args[0]
            return _unary(impl, args[0], ty)
        # method call
        target = self.compile(n.target)
        args = [self.compile(x) for x in n.args]
        tt = target.ty
        if fn not in _KNOWN_METHODS:
            self._err(f"unknown method '{fn}' on {type_str(tt)}", n.pos)
        if fn == "size":
            self._arity(n, args, 0)
            return self._size(n, target)
        if fn in _STRING_METHODS:
            return self._string_method(n, fn, target, args)
        if fn == "in_cidr":
            if tt not in (IPADDRESS, DYN):
                self._err(f"unknown method 'in_cidr' on {type_str(tt)} (needs ipaddress)", n.pos)
            self._arity(n, args, 1)
            if args[0].ty not in (STRING, DYN):
                self._err(f"in_cidr() expects a string CIDR, got {type_str(args[0].ty)}", n.pos)
            if args[0].is_const and isinstance(args[0].const, str):
                try:
                    rt.parse_cidr(args[0].const)
                except rt.CelError as e:
                    self._err(e.message, n.args[0].pos)
                return _unary(rt.cidr_matcher(args[0].const), target, BOOL)
            return _binary(rt.in_cidr, target, args[0], BOOL)
        # timestamp / duration accessors
        impl = _TS_ACCESSORS[fn]
        if tt == DURATION and fn in _DURATION_ACCESSORS:
            self._arity(n, args, 0)
            return _unary(impl, target, INT)
        if tt not in (TIMESTAMP, DYN):
            self._err(f"unknown method '{fn}' on {type_str(tt)}", n.pos)
        if len(args) > 1:
            self._err(f"'{fn}' takes at most one argument (a timezone)", n.pos)
        if args:
            if args[0].ty not in (STRING, DYN):
                self._err(f"timezone argument must be a string, got {type_str(args[0].ty)}", n.pos)
            if args[0].is_const:
                try:
                    rt.zone(args[0].const)
                except rt.CelError as e:
                    self._err(e.message, n.args[0].pos)
            return _binary(impl, target, args[0], INT)
        return _unary(impl, target, INT)

    def _arity(self, n: NCall, args: list[_C], count: int) -> None:
        if len(args) != count:
            self._err(
                f"'{n.function}' takes {count} argument{'s' if count != 1 else ''}, "
                f"got {len(args)}",
                n.pos,
            )

    def _size(self, n: NCall, a: _C) -> _C:
        if a.ty.name not in ("string", "bytes", "list", "map", "dyn"):
            self._err(f"size() is not defined for {type_str(a.ty)}", n.pos)
        return _unary(rt.cel_size if a.ty == DYN else len, a, INT)

    def _string_method(self, n: NCall, fn: str, target: _C, args: list[_C]) -> _C:
        if target.ty not in (STRING, DYN):
            self._err(f"unknown method '{fn}' on {type_str(target.ty)}", n.pos)
        if len(args) != 1:
            self._err(f"'{fn}' takes 1 argument, got {len(args)}", n.pos)
        arg = args[0]
        if arg.ty not in (STRING, DYN):
            self._err(f"'{fn}' expects a string argument, got {type_str(arg.ty)}", n.pos)
        if fn == "matches" and arg.is_const and isinstance(arg.const, str):
            try:
                rx = rt.compile_regex(arg.const)
            except rt.CelError as e:
                self._err(e.message, n.args[-1].pos)
            search = rx.search
            return _unary(lambda s: _regex_search(search, s), target, BOOL)
        return _binary(_STRING_METHODS[fn], target, arg, BOOL)

    # literals ------------------------------------------------------------------------------
    def list_lit(self, n: NList) -> _C:
        items = [self.compile(x) for x in n.items]
        elem: CaveatType | None = None
        for it in items:
            elem = it.ty if elem is None else (unify(elem, it.ty) or DYN)
        ty = list_of(elem or DYN)
        if all(it.is_const for it in items):
            return _const([it.const for it in items], ty)
        return _nary(lambda *vals: list(vals), items, ty)

    def map_lit(self, n: NMap) -> _C:
        keys: list[_C] = []
        vals: list[_C] = []
        kt: CaveatType | None = None
        vt: CaveatType | None = None
        seen: set[Any] = set()
        for kn, vn in n.entries:
            k = self.compile(kn)
            v = self.compile(vn)
            if k.ty.name not in ("int", "uint", "bool", "string", "dyn"):
                self._err(
                    f"map keys must be int, uint, bool or string, got {type_str(k.ty)}", kn.pos
                )
            if k.is_const:
                marker = (type(k.const), k.const)
                if marker in seen:
                    self._err(f"duplicate map key {k.const!r}", kn.pos)
                seen.add(marker)
            kt = k.ty if kt is None else (unify(kt, k.ty) or DYN)
            vt = v.ty if vt is None else (unify(vt, v.ty) or DYN)
            keys.append(k)
            vals.append(v)
        ty = map_of(kt or DYN, vt or DYN)
        count = len(keys)
        parts = [*keys, *vals]
        if all(p.is_const for p in parts):
            return _const({k.const: v.const for k, v in zip(keys, vals, strict=True)}, ty)

        def build(*xs: Any) -> dict[Any, Any]:
            out: dict[Any, Any] = {}
            for i in range(count):
                k = xs[i]
                if k in out:
                    raise rt.CelError(f"duplicate map key {k!r}")
                out[k] = xs[count + i]
            return out

        return _nary(build, parts, ty)

    # macros --------------------------------------------------------------------------------
    def comprehension(self, n: NComprehension) -> _C:
        target = self.compile(n.target)
        tt = target.ty
        if tt.name in ("list", "map"):
            var_ty = tt.args[0]
        elif tt == DYN:
            var_ty = DYN
        else:
            self._err(f"'{n.kind}' needs a list or map, got {type_str(tt)}", n.pos)
        var = n.var
        if var in _KNOWN_FUNCTIONS or var in ("true", "false", "null"):
            self._err(f"invalid iteration variable name '{var}'", n.var_pos)
        saved_ty = self.scope.get(var)
        saved_bound = var in self.bound
        self.scope[var] = var_ty
        self.bound.add(var)
        try:
            body = self.compile(n.body)
            pred = self.compile(n.pred) if n.pred is not None else None
        finally:
            if saved_ty is None:
                del self.scope[var]
            else:
                self.scope[var] = saved_ty
            if not saved_bound:
                self.bound.discard(var)
        kind = n.kind
        if kind in ("all", "exists", "exists_one", "filter") or pred is not None:
            check = body if kind != "map" else pred
            assert check is not None
            if check.ty not in (BOOL, DYN):
                self._err(
                    f"the predicate of '{kind}' must be bool, got {type_str(check.ty)}", n.pos
                )
        tf = target.fn
        if tt == DYN:  # statically a list or map otherwise: no run-time check needed
            tf = _checked_range(tf)
        if kind == "all":
            return _C(_make_all(tf, var, _ensure_bool(body).fn), BOOL)
        if kind == "exists":
            return _C(_make_exists(tf, var, _ensure_bool(body).fn), BOOL)
        if kind == "exists_one":
            return _C(_make_exists_one(tf, var, _ensure_bool(body).fn), BOOL)
        if kind == "filter":
            return _C(_make_filter(tf, var, _ensure_bool(body).fn), list_of(var_ty))
        predf = _ensure_bool(pred).fn if pred is not None else None
        return _C(_make_map(tf, var, body.fn, predf), list_of(body.ty))


def _now(ctx: Mapping[str, Any]) -> datetime:
    return datetime.now(UTC)


def _in_impl(plain: bool) -> Callable[[Any, Any], bool]:
    if plain:
        return _in_list_plain
    return rt.in_list


def _in_list_plain(x: Any, lst: list[Any]) -> bool:
    return x in lst


def _in_map(x: Any, m: dict[Any, Any]) -> bool:
    try:
        return x in m
    except TypeError:
        return False


def _regex_search(search: Callable[[str], Any], s: Any) -> bool:
    if type(s) is not str:
        raise rt.CelError(f"no matching overload for 'matches' applied to ({rt.kind(s)})")
    return search(s) is not None


def _checked_range(tf: Fn) -> Fn:
    def f(ctx: Mapping[str, Any]) -> Any:
        return rt.iter_range(tf(ctx))

    return f


def _scope(ctx: Mapping[str, Any]) -> dict[str, Any]:
    return dict(ctx) if type(ctx) is not dict else ctx.copy()


def _make_quantifier(absorbing: bool, tf: Fn, var: str, pf: Fn) -> Fn:
    """``l.all(x, p)`` (``absorbing`` False) or ``l.exists(x, p)`` (True): one element giving
    the absorbing value decides, even when others are unknown or errors (CEL's rule)."""

    def f(ctx: Mapping[str, Any]) -> Any:
        coll = tf(ctx)
        local = _scope(ctx)
        failure: BaseException | None = None
        for x in coll:
            local[var] = x
            try:
                r = pf(local)
            except Exception as e:
                failure = rt.merge(failure, e)
                continue
            if r is absorbing:
                return absorbing
        if failure is not None:
            raise failure
        return not absorbing

    return f


def _make_all(tf: Fn, var: str, pf: Fn) -> Fn:
    return _make_quantifier(False, tf, var, pf)


def _make_exists(tf: Fn, var: str, pf: Fn) -> Fn:
    return _make_quantifier(True, tf, var, pf)


def _make_exists_one(tf: Fn, var: str, pf: Fn) -> Fn:
    def f(ctx: Mapping[str, Any]) -> Any:
        coll = tf(ctx)
        local = _scope(ctx)
        failure: BaseException | None = None
        count = 0
        for x in coll:
            local[var] = x
            try:
                if pf(local):
                    count += 1
            except Exception as e:
                failure = rt.merge(failure, e)
        if failure is not None:
            raise failure
        return count == 1

    return f


def _make_filter(tf: Fn, var: str, pf: Fn) -> Fn:
    def f(ctx: Mapping[str, Any]) -> Any:
        coll = tf(ctx)
        local = _scope(ctx)
        out = []
        for x in coll:
            local[var] = x
            if pf(local):
                out.append(x)
        return out

    return f


def _make_map(tf: Fn, var: str, bf: Fn, pf: Fn | None) -> Fn:
    def f(ctx: Mapping[str, Any]) -> Any:
        coll = tf(ctx)
        local = _scope(ctx)
        out = []
        for x in coll:
            local[var] = x
            if pf is None or pf(local):
                out.append(bf(local))
        return out

    return f
