"""The SpiceDB schema language: parse, print, compile.

::

    from rebac.schema import compile_schema
    compiled = compile_schema(text, source="schema.zed")
    compiled.member("document", "view")      # -> ast.Permission
    compiled.text()                          # canonical text

``parse_schema`` checks syntax only; ``compile_schema`` also resolves imports and partials and
type-checks names. Both raise :class:`rebac.errors.SchemaError` (``SchemaTypeError`` for type
errors) with the line and column of the offending token.
"""

from rebac.schema.compiler import CompiledSchema, compile_schema
from rebac.schema.parser import parse_schema
from rebac.schema.printer import print_expression, print_schema

__all__ = [
    "CompiledSchema",
    "compile_schema",
    "parse_schema",
    "print_expression",
    "print_schema",
]
