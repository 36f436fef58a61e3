"""``compile_caveat`` and :class:`CompiledCaveat`, the public face of the package."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from rebac.errors import CaveatEvaluationError, InvalidCaveatContext, SchemaError
from rebac.schema.ast import Caveat, CaveatType, Position

from . import runtime as rt
from .compiler import BOOL, CheckError, Compiler, Fn, from_declared, type_str
from .context import ConversionError, Converter, conversion_message, converter_for
from .parser import CelSyntaxError, parse

__all__ = ["CompiledCaveat", "compile_caveat"]

_Unknown = rt.Unknown

MAX_EXPRESSION_SIZE = 100_000  # characters, as SpiceDB


class CompiledCaveat:
    """A caveat whose CEL expression has been parsed, type-checked and compiled.

    Immutable and thread-safe: :meth:`evaluate` keeps no state between calls.
    """

    __slots__ = ("_converters", "_fn", "expression", "name", "parameters")

    name: str
    parameters: Mapping[str, CaveatType]
    expression: str

    def __init__(
        self,
        name: str,
        parameters: Mapping[str, CaveatType],
        expression: str,
        fn: Fn,
        converters: dict[str, Converter],
    ):
        self.name = name
        self.parameters = MappingProxyType(dict(parameters))
        self.expression = expression
        self._fn = fn
        self._converters = converters

    def __repr__(self) -> str:
        params = ", ".join(f"{k} {v}" for k, v in self.parameters.items())
        return f"<CompiledCaveat {self.name}({params}) {{ {self.expression} }}>"

    def convert_context(self, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """Typed values for the declared parameters found in ``raw``; other keys are dropped.

        Raises :class:`~rebac.errors.InvalidCaveatContext` naming the parameter, the expected
        type and the offending value when a value does not fit its declared type.
        """
        out: dict[str, Any] = {}
        if not raw:
            return out
        for key, conv in self._converters.items():
            if key in raw:
                value = raw[key]
                try:
                    out[key] = conv(value)
                except ConversionError as e:
                    raise InvalidCaveatContext(
                        conversion_message(self.name, key, e, value)
                    ) from None
        return out

    def evaluate(self, context: Mapping[str, Any]) -> bool | frozenset[str]:
        """True / False, or the names of the missing parameters the result depends on.

        ``context`` holds converted values (see :meth:`convert_context`), already merged.
        Raises :class:`~rebac.errors.CaveatEvaluationError` when the expression fails
        at run time and the failure is not absorbed by ``&&`` / ``||``.
        """
        try:
            result = self._fn(context)
        except _Unknown as u:
            return u.names
        except Exception as e:
            raise CaveatEvaluationError(self.name, rt.describe_error(e)) from e
        if result is True or result is False:
            return result
        raise CaveatEvaluationError(
            self.name, f"expression evaluated to {rt.kind(result)}, not bool"
        )


def _position(caveat: Caveat, offset: int) -> tuple[int, int]:
    base = caveat.expression_pos or Position(1, 1)
    text = caveat.expression
    offset = max(0, min(offset, len(text)))
    before = text[:offset]
    newlines = before.count("\n")
    if newlines == 0:
        return base.line, base.column + offset
    return base.line + newlines, offset - before.rfind("\n")


def compile_caveat(caveat: Caveat) -> CompiledCaveat:
    """Parse and type-check ``caveat.expression`` against the declared parameters.

    Raises :class:`~rebac.errors.SchemaError` with the schema line/column of the offending
    token for syntax errors, unknown identifiers/functions/methods and type mismatches.
    """
    name = caveat.name
    params: dict[str, CaveatType] = {}
    converters: dict[str, Converter] = {}
    for p in caveat.parameters:
        internal = from_declared(p.type)
        pos = p.pos or caveat.pos or Position(1, 1)
        if internal is None:
            raise SchemaError(
                f"caveat '{name}': parameter '{p.name}' has unknown type '{p.type}'",
                pos.line,
                pos.column,
            )
        if p.name in params:
            raise SchemaError(
                f"caveat '{name}': duplicate parameter '{p.name}'", pos.line, pos.column
            )
        params[p.name] = internal
        converters[p.name] = converter_for(p.type)
    if len(caveat.expression) > MAX_EXPRESSION_SIZE:
        line, col = _position(caveat, 0)
        raise SchemaError(
            f"caveat '{name}': expression exceeds the maximum size of "
            f"{MAX_EXPRESSION_SIZE} characters",
            line,
            col,
        )
    try:
        tree = parse(caveat.expression)
        compiled = Compiler(params).compile(tree)
        if compiled.ty != BOOL:  # like SpiceDB, a dyn result is rejected too
            raise CheckError(
                f"caveat expression must evaluate to bool, got {type_str(compiled.ty)}", 0
            )
    except CelSyntaxError as e:
        line, col = _position(caveat, e.pos)
        raise SchemaError(f"caveat '{name}': syntax error: {e.message}", line, col) from None
    except CheckError as e:
        line, col = _position(caveat, e.pos)
        raise SchemaError(f"caveat '{name}': {e.message}", line, col) from None
    except RecursionError:
        line, col = _position(caveat, 0)
        raise SchemaError(f"caveat '{name}': expression nested too deeply", line, col) from None
    declared = {p.name: p.type for p in caveat.parameters}
    return CompiledCaveat(name, declared, caveat.expression, compiled.fn, converters)
