"""SpiceDB caveats: CEL expressions compiled once, evaluated with three-valued results.

>>> from rebac.schema.ast import Caveat, CaveatParameter, CaveatType
>>> c = compile_caveat(Caveat("c", (CaveatParameter("n", CaveatType("int")),), "n == 42"))
>>> c.evaluate(c.convert_context({"n": 42}))
True
>>> c.evaluate({})
frozenset({'n'})
"""

from __future__ import annotations

from .caveat import CompiledCaveat, compile_caveat
from .errors import CaveatEvaluationError

__all__ = ["CaveatEvaluationError", "CompiledCaveat", "compile_caveat"]
