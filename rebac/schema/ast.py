"""The schema's syntax tree, which is also what the compiler hands to the evaluator.

The parser builds these nodes (with source positions); the compiler checks names and types and
wraps them in a :class:`~rebac.schema.compiler.CompiledSchema`. Positions never take part in
equality, so two schemas that print the same compare equal (the print/parse round-trip relies
on it).

Permission expressions form a small algebra::

    Union(children)          a + b + c
    Intersection(children)   a & b & c
    Exclusion(base, subtract) a - b        (left-associative: a - b - c == (a - b) - c)
    RelationRef(name)        a relation or permission of the same definition
    Arrow(tupleset, target, function)   parent->view, parent.any(view), parent.all(view)
    Nil()                    the empty set
    SelfRef()                the resource itself (``use self``)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias


@dataclass(frozen=True, slots=True)
class Position:
    """1-based line and column of a token in the schema text."""

    line: int
    column: int


# Every ``pos`` below is ``field(default=None, compare=False, repr=False)`` written out: a Field
# object must not be shared between fields, because dataclasses store their name in it.


@dataclass(frozen=True, slots=True)
class Union:
    children: tuple[Expr, ...]
    pos: Position | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Intersection:
    children: tuple[Expr, ...]
    pos: Position | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Exclusion:
    base: Expr
    subtract: Expr
    pos: Position | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class RelationRef:
    name: str
    pos: Position | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Arrow:
    tupleset: str
    target: str
    function: Literal["any", "all"] = "any"
    pos: Position | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Nil:
    pos: Position | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SelfRef:
    pos: Position | None = field(default=None, compare=False, repr=False)


Expr: TypeAlias = Union | Intersection | Exclusion | RelationRef | Arrow | Nil | SelfRef


@dataclass(frozen=True, slots=True)
class AllowedType:
    """One allowed subject type of a relation: ``user``, ``user:*``, ``group#member``,
    ``user with some_caveat``, ``user with expiration``, ``user with c and expiration``."""

    type: str
    relation: str | None = None  # subject relation; None = the object itself ("...")
    wildcard: bool = False
    caveat: str | None = None
    expiration: bool = False
    pos: Position | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        text = self.type + (":*" if self.wildcard else "")
        if self.relation is not None:
            text += f"#{self.relation}"
        traits = [t for t in (self.caveat, "expiration" if self.expiration else None) if t]
        if traits:
            text += " with " + " and ".join(traits)
        return text


@dataclass(frozen=True, slots=True)
class Relation:
    name: str
    allowed: tuple[AllowedType, ...]
    doc: str | None = field(default=None, compare=False)
    pos: Position | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Permission:
    name: str
    expr: Expr
    # Optional type annotation (``permission view: user | group = ...``): the subject types the
    # author says this permission yields. Recorded and printed; not enforced by evaluation.
    annotation: tuple[str, ...] = ()
    doc: str | None = field(default=None, compare=False)
    pos: Position | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Definition:
    """An object type. ``members`` keeps relations and permissions in source order."""

    name: str
    members: tuple[Relation | Permission, ...]
    doc: str | None = field(default=None, compare=False)
    pos: Position | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class CaveatType:
    """A CEL parameter type: ``int``, ``list<string>``, ``map<any>``, ``ipaddress``, ..."""

    name: str
    args: tuple[CaveatType, ...] = ()

    def __str__(self) -> str:
        if not self.args:
            return self.name
        return f"{self.name}<{', '.join(str(a) for a in self.args)}>"


@dataclass(frozen=True, slots=True)
class CaveatParameter:
    name: str
    type: CaveatType
    pos: Position | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Caveat:
    """``caveat name(params) { expression }``. ``expression`` is the CEL source text, trimmed;
    ``expression_pos`` is where it starts, so CEL errors can point into the schema."""

    name: str
    parameters: tuple[CaveatParameter, ...]
    expression: str
    doc: str | None = field(default=None, compare=False)
    pos: Position | None = field(default=None, compare=False, repr=False)
    expression_pos: Position | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Schema:
    """A whole schema file: ``use`` flags, definitions and caveats, each in source order."""

    definitions: tuple[Definition, ...]
    caveats: tuple[Caveat, ...] = ()
    use_flags: tuple[str, ...] = ()
