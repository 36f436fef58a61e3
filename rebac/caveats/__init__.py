"""SpiceDB caveats: CEL expressions compiled once, evaluated with three-valued results.

>>> from rebac.schema.ast import Caveat, CaveatParameter, CaveatType
>>> c = compile_caveat(Caveat("c", (CaveatParameter("n", CaveatType("int")),), "n == 42"))
>>> c.evaluate(c.convert_context({"n": 42}))
True
>>> c.evaluate({})
frozenset({'n'})

Pipeline: :mod:`.parser` (lexer + precedence-climbing parser, macros expanded) ->
:mod:`.compiler` (static type check, constant folding, nested closures) -> :mod:`.runtime`
(value model, operators, conversions). Missing parameters and CEL errors travel as exceptions,
so strict operators cost nothing extra; ``&&``/``||``/``all``/``exists`` absorb them the way
CEL does (the deciding value wins on either side, unknowns win over errors and merge).

Supported CEL: int/uint/double/string/bytes/bool/null literals (hex, ``u`` suffix, raw and
triple-quoted strings, all escapes), lists and maps, ``! - * / % + - < <= > >= == != in && ||
?:``, field selection and indexing, ``has``, ``all``, ``exists``, ``exists_one``, ``map``
(2 and 3 arguments), ``filter``, ``size``, ``int uint double string bytes bool timestamp
duration dyn`` conversions, ``contains startsWith endsWith matches``, timestamp and duration
arithmetic and accessors (``getFullYear`` ... ``getMilliseconds``, optional timezone), and
SpiceDB's extensions: ``ipaddress`` with ``in_cidr`` and ``now()``. As in SpiceDB, ``uint``
parameters have the CEL type ``int`` and the expression must be statically ``bool``.
"""

from __future__ import annotations

from rebac.errors import CaveatEvaluationError

from .caveat import CompiledCaveat, compile_caveat

__all__ = ["CaveatEvaluationError", "CompiledCaveat", "compile_caveat"]
