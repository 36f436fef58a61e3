"""Canonical schema text: ``print_schema(schema)`` parses back to an equal schema.

Layout: ``use`` flags first, then caveats, then definitions (each group in source order), one
blank line between top-level items, tab indentation, doc comments kept. A file that still has
imports or partials (:class:`~rebac.schema.parser.ParsedSchema`) is printed in its source order
instead, so that imports stay where they were.

Expressions get the fewest parentheses that keep the tree under SpiceDB's precedence (``-``
binds loosest, then ``&``, then ``+``; ``-`` is left-associative) *and* read the same under the
usual one (``&`` tighter than ``+`` and ``-``): SpiceDB's ``a & b + c`` means ``a & (b + c)``, so
the printer writes the parentheses even though SpiceDB would not need them. A child with the
same n-ary operator as its parent keeps its parentheses: the parser only produces such nesting
from explicit parentheses, and dropping them would flatten the tree.
"""

from __future__ import annotations

from rebac.schema import ast
from rebac.schema.parser import Import, Member, ParsedSchema, Partial, PartialRef, format_arrow

_INDENT = "\t"


def print_schema(schema: ast.Schema) -> str:
    """The canonical text of ``schema``, ending with a newline (empty schema: empty text)."""
    blocks: list[str] = []
    if schema.use_flags:
        blocks.append("\n".join(f"use {flag}" for flag in schema.use_flags))
    if isinstance(schema, ParsedSchema):
        refs: dict[int, list[PartialRef]] = {}
        for index, ref in schema.partial_refs:
            refs.setdefault(index, []).append(ref)
        for kind, index in schema.layout:
            if kind == "definition":
                blocks.append(_definition(schema.definitions[index], refs.get(index, [])))
            elif kind == "caveat":
                blocks.append(_caveat(schema.caveats[index]))
            elif kind == "import":
                blocks.append(_import(schema.imports[index]))
            else:
                blocks.append(_partial(schema.partials[index]))
    else:
        blocks.extend(_caveat(caveat) for caveat in schema.caveats)
        blocks.extend(_definition(definition, []) for definition in schema.definitions)
    return "\n\n".join(blocks) + "\n" if blocks else ""


def print_expression(expr: ast.Expr) -> str:
    """An expression's text with the parentheses it needs (see the module docstring)."""
    if isinstance(expr, ast.Union):
        return " + ".join(_operand(child) for child in expr.children)
    if isinstance(expr, ast.Intersection):
        return " & ".join(_operand(child) for child in expr.children)
    if isinstance(expr, ast.Exclusion):
        # '-' binds loosest and is left-associative, so the base never needs parentheses; the
        # subtracted side does when it is another exclusion, or a union (SpiceDB reads
        # 'a - b + c' as 'a - (b + c)', which nobody else would).
        subtract = expr.subtract
        text = print_expression(subtract)
        if isinstance(subtract, ast.Exclusion | ast.Union):
            text = f"({text})"
        return f"{print_expression(expr.base)} - {text}"
    if isinstance(expr, ast.RelationRef):
        return expr.name
    if isinstance(expr, ast.Arrow):
        return format_arrow(expr)
    if isinstance(expr, ast.Nil):
        return "nil"
    return "self"


def _operand(expr: ast.Expr) -> str:
    """A child of '+' or '&': anything but a single term is parenthesized.

    Exclusions and '&' under '+' need it; a nested group of the same operator came from explicit
    parentheses; and a union under '&' is wrapped although SpiceDB would not need it
    ('a & b + c' means 'a & (b + c)' there, the opposite of the usual reading).
    """
    text = print_expression(expr)
    if isinstance(expr, ast.Union | ast.Intersection | ast.Exclusion):
        return f"({text})"
    return text


def _doc(doc: str | None, indent: str) -> list[str]:
    if not doc:
        return []
    return [indent + line if line else "" for line in doc.split("\n")]


def _definition(definition: ast.Definition, refs: list[PartialRef]) -> str:
    header = f"definition {definition.name}"
    return "\n".join([*_doc(definition.doc, ""), _body(header, definition.members, refs)])


def _partial(partial: Partial) -> str:
    header = f"partial {partial.name}"
    return "\n".join([*_doc(partial.doc, ""), _body(header, partial.members, list(partial.refs))])


def _body(header: str, members: tuple[Member, ...], refs: list[PartialRef]) -> str:
    lines: list[str] = []
    pending = sorted(refs, key=lambda ref: ref.index)
    for index, member in enumerate(members):
        while pending and pending[0].index <= index:
            lines.append(f"{_INDENT}...{pending.pop(0).name}")
        if member.doc and lines:
            lines.append("")
        lines.extend(_doc(member.doc, _INDENT))
        lines.append(_INDENT + _member(member))
    lines.extend(f"{_INDENT}...{ref.name}" for ref in pending)
    if not lines:
        return header + " {}"
    return "\n".join([header + " {", *lines, "}"])


def _member(member: Member) -> str:
    if isinstance(member, ast.Relation):
        return f"relation {member.name}: " + " | ".join(str(t) for t in member.allowed)
    annotation = f": {' | '.join(member.annotation)}" if member.annotation else ""
    return f"permission {member.name}{annotation} = {print_expression(member.expr)}"


def _caveat(caveat: ast.Caveat) -> str:
    params = ", ".join(f"{p.name} {p.type}" for p in caveat.parameters)
    # The CEL text is printed verbatim (its inner lines keep their indentation), so that it
    # parses back to exactly the same expression string.
    body = f"caveat {caveat.name}({params}) {{\n{_INDENT}{caveat.expression}\n}}"
    return "\n".join([*_doc(caveat.doc, ""), body])


def _import(item: Import) -> str:
    path = item.path
    if '"' not in path:
        return f'import "{path}"'
    if "'" not in path:
        return f"import '{path}'"
    return f'import """{path}"""'
