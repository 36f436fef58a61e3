"""Recursive-descent parser: schema text -> :class:`rebac.schema.ast.Schema`.

Grammar (SpiceDB's, ``pkg/schemadsl/parser``)::

    file        := (use | definition | caveat | import | partial | ';' | NEWLINE)* EOF
    use         := 'use' FLAG                      before any definition or caveat
    definition  := 'definition' path block
    partial     := 'partial' path block            needs `use partial`
    import      := 'import' STRING                 needs `use import`
    block       := '{' ((relation | permission | '...' path) (NEWLINE | ';' | &'}'))* '}'
    relation    := 'relation' NAME ':' allowed ('|' allowed)*
    allowed     := path (':' '*' | '#' (NAME | '...'))? ('with' traits)?
    traits      := path | path 'and' 'expiration' | 'expiration'    (expiration: `use expiration`)
    permission  := 'permission' NAME (':' path ('|' path)*)? '=' expr
    expr        := inter ('-' inter)*              lowest precedence, left-associative
    inter       := union ('&' union)*
    union       := operand ('+' operand)*          highest precedence
    operand     := '(' expr ')' | 'nil' | 'self' | arrows
    arrows      := NAME ('->' NAME | '.' ('any' | 'all') '(' NAME ')')*
    caveat      := 'caveat' path '(' param (',' param)* ')' '{' CEL '}'
    param       := NAME ctype
    ctype       := WORD ('<' ctype (',' ctype)* '>')?
    path        := NAME ('/' NAME)*

Precedence is SpiceDB's, which is not the usual one: ``a - b + c`` is ``a - (b + c)`` and
``a + b & c`` is ``(a + b) & c`` (see the ``associativity`` parser fixture). A chain of one
operator becomes one n-ary node; parentheses are kept as nesting, so the printer can give the
text back unchanged.

Parsing stops at the first error with a :class:`~rebac.errors.SchemaError` that points at the
offending token and quotes it.

Two things the plain syntax tree cannot hold are recorded in :class:`ParsedSchema` (a subclass
of :class:`~rebac.schema.ast.Schema`, returned only when a file uses them) for the compiler to
resolve: ``import`` statements and ``partial`` blocks with their ``...name`` references. A chained
arrow (``a->b->c``, which SpiceDB parses but refuses to compile) is kept as an ``Arrow`` whose
``tupleset`` is the printed inner chain (``'a->b'``), so that it round-trips through the printer
and the compiler can reject it with a position.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Literal

from rebac.errors import SchemaError
from rebac.schema import ast
from rebac.schema.lexer import Lexer, Token, TokenKind

USE_FLAGS = ("expiration", "import", "partial", "self", "typechecking")

# Parentheses deeper than this are refused with a SchemaError: the parser recurses per level,
# and hostile input must not end in a RecursionError.
MAX_NESTING = 64

# Words that can never name anything (SpiceDB lexes them as keywords).
_BASE_KEYWORDS = frozenset(
    {"definition", "caveat", "relation", "permission", "nil", "with", "any", "all"}
)
# Words that become keywords after ``use FLAG``.
_FLAG_KEYWORDS: dict[str, frozenset[str]] = {
    "expiration": frozenset({"expiration", "and"}),
    "import": frozenset({"import"}),
    "partial": frozenset({"partial"}),
    "self": frozenset({"self"}),
    "typechecking": frozenset({"typechecking"}),
}


def reserved_words(flags: tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    """Words that cannot name anything in a schema with these ``use`` flags."""
    words = set(_BASE_KEYWORDS)
    for flag in flags:
        words |= _FLAG_KEYWORDS.get(flag, frozenset())
    return frozenset(words)


Member = ast.Relation | ast.Permission
LayoutKind = Literal["definition", "caveat", "import", "partial"]


@dataclass(frozen=True, slots=True)
class Import:
    """``import "path"``: the path as written, without quotes."""

    path: str
    pos: ast.Position | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class PartialRef:
    """``...name`` in a definition or partial: splice the partial in before member ``index``."""

    name: str
    index: int
    pos: ast.Position | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Partial:
    """``partial name { ... }``: members to splice into definitions that reference it."""

    name: str
    members: tuple[Member, ...]
    refs: tuple[PartialRef, ...] = ()
    doc: str | None = field(default=None, compare=False)
    pos: ast.Position | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ParsedSchema(ast.Schema):
    """A schema file that still has imports or partials to resolve.

    ``layout`` lists the top-level items in source order as ``(kind, index)`` pairs, indexes into
    ``definitions``, ``caveats``, ``imports`` or ``partials``: the compiler splices imported
    files in where their ``import`` stood, and the printer reproduces the order.
    ``partial_refs`` pairs a definition index with a ``...name`` reference inside it.
    """

    imports: tuple[Import, ...] = ()
    partials: tuple[Partial, ...] = ()
    partial_refs: tuple[tuple[int, PartialRef], ...] = ()
    layout: tuple[tuple[LayoutKind, int], ...] = ()


def parse_schema(text: str, *, source: str | None = None) -> ast.Schema:
    """Parse schema text. Raises :class:`~rebac.errors.SchemaError` at the first syntax error.

    Returns a :class:`ParsedSchema` when the text has imports or partials, else a plain
    :class:`~rebac.schema.ast.Schema`.
    """
    return _Parser(text, source).parse_file()


def format_arrow(arrow: ast.Arrow) -> str:
    """Canonical text of an arrow: ``rel->target`` or ``rel.all(target)``."""
    if arrow.function == "all":
        return f"{arrow.tupleset}.all({arrow.target})"
    return f"{arrow.tupleset}->{arrow.target}"


def normalize_doc(comments: tuple[str, ...]) -> str | None:
    """Doc text from the comments before an item: one comment per line group, re-indented.

    Continuation lines of block comments lose their source indentation (`` * text`` style is
    kept aligned under ``/**``), so the printer can indent the doc at any depth.
    """
    if not comments:
        return None
    parts: list[str] = []
    for comment in comments:
        lines = comment.splitlines() or [""]
        rest = [line.rstrip() for line in lines[1:]]
        if all(line.lstrip().startswith("*") or not line.strip() for line in rest):
            rest = [" " + line.lstrip() if line.strip() else "" for line in rest]
        else:
            indents = [len(line) - len(line.lstrip()) for line in rest if line.strip()]
            cut = min(indents, default=0)
            rest = [line[cut:] for line in rest]
        parts.append("\n".join([lines[0].strip(), *rest]))
    return "\n".join(parts)


def unquote(literal: str) -> str:
    """The text of a string literal, as SpiceDB reads import paths (quotes trimmed off)."""
    return literal.strip("'") if literal.startswith("'") else literal.strip('"')


def _pos(token: Token) -> ast.Position:
    return ast.Position(token.line, token.column)


class _Parser:
    """One parse of one text. Keyword-ness depends on the ``use`` flags seen so far, so the
    parser, not the lexer, decides which words are reserved (``self.reserved``)."""

    def __init__(self, text: str, source: str | None) -> None:
        self.text = text
        self.source = source
        self.lexer = Lexer(text, source=source)
        self.buffer: list[Token] = []
        self.paren_depth = 0
        self.tok = self.lexer.next()
        self.flags: list[str] = []
        self.reserved = _BASE_KEYWORDS
        self.seen_definition = False

    # -- token plumbing ---------------------------------------------------------------------

    def advance(self) -> Token:
        """Consume the current token and return it. Line ends inside parentheses are skipped."""
        token = self.tok
        while True:
            self.tok = self.buffer.pop(0) if self.buffer else self.lexer.next()
            if self.paren_depth == 0 or self.tok.kind is not TokenKind.NEWLINE:
                return token

    def peek(self, distance: int) -> Token:
        """The token ``distance`` places after the current one (1 = the next)."""
        while len(self.buffer) < distance:
            self.buffer.append(self.lexer.next())
        return self.buffer[distance - 1]

    def error(self, message: str, token: Token | None = None) -> SchemaError:
        token = token or self.tok
        return SchemaError(message, token.line, token.column, source=self.source)

    def describe(self, token: Token | None = None) -> str:
        """The offending token quoted; a type path (``'org/user'``) is shown whole."""
        token = token or self.tok
        if token.kind is TokenKind.WORD and token.value in self.reserved:
            return f"keyword '{token.value}'"
        if token is self.tok and token.kind is TokenKind.WORD:
            text, distance = token.value, 1
            try:
                while self.peek(distance).is_punct("/") and (
                    self.peek(distance + 1).kind is TokenKind.WORD
                ):
                    text += "/" + self.peek(distance + 1).value
                    distance += 2
            except SchemaError:
                pass  # a later lexing error is not this error
            return f"'{text}'"
        return token.describe()

    def is_keyword(self, word: str) -> bool:
        return self.tok.kind is TokenKind.WORD and self.tok.value == word and word in self.reserved

    def at_terminator(self) -> bool:
        return self.tok.kind is TokenKind.NEWLINE or self.tok.is_punct(";")

    def expect(self, punct: str, context: str) -> Token:
        if not self.tok.is_punct(punct):
            raise self.error(f"expected '{punct}' {context}, found {self.describe()}")
        return self.advance()

    def open_paren(self, context: str) -> None:
        if not self.tok.is_punct("("):
            raise self.error(f"expected '(' {context}, found {self.describe()}")
        self.paren_depth += 1
        self.advance()

    def close_paren(self, context: str) -> None:
        if not self.tok.is_punct(")"):
            raise self.error(f"expected ')' {context}, found {self.describe()}")
        self.paren_depth -= 1
        self.advance()

    def name(self, what: str) -> str:
        """A single identifier that is not a keyword."""
        token = self.tok
        if token.kind is not TokenKind.WORD or token.value in self.reserved:
            raise self.error(f"expected {what}, found {self.describe()}")
        self.advance()
        return sys.intern(token.value)

    def path(self, what: str) -> str:
        """``name('/'name)*``: definition and caveat names may carry prefixes."""
        segments = [self.name(what)]
        while self.tok.is_punct("/"):
            self.advance()
            segments.append(self.name(f"a name after '{'/'.join(segments)}/'"))
        # Interned, like the index's names and the check path's (rebac.engine.refs): the
        # evaluator's tuple keys then compare by identity.
        return sys.intern("/".join(segments))

    # -- top level --------------------------------------------------------------------------

    def parse_file(self) -> ast.Schema:
        definitions: list[ast.Definition] = []
        caveats: list[ast.Caveat] = []
        imports: list[Import] = []
        partials: list[Partial] = []
        partial_refs: list[tuple[int, PartialRef]] = []
        layout: list[tuple[LayoutKind, int]] = []
        while True:
            while self.at_terminator():
                self.advance()
            token = self.tok
            if token.kind is TokenKind.EOF:
                break
            if token.kind is TokenKind.WORD and token.value == "use":
                self.use_statement()
            elif self.is_keyword("definition"):
                self.seen_definition = True
                definition, refs = self.definition()
                partial_refs.extend((len(definitions), ref) for ref in refs)
                layout.append(("definition", len(definitions)))
                definitions.append(definition)
            elif self.is_keyword("caveat"):
                self.seen_definition = True
                layout.append(("caveat", len(caveats)))
                caveats.append(self.caveat())
            elif self.is_keyword("import"):
                layout.append(("import", len(imports)))
                imports.append(self.import_statement())
            elif self.is_keyword("partial"):
                layout.append(("partial", len(partials)))
                partials.append(self.partial())
            elif token.kind is TokenKind.WORD and token.value in ("import", "partial"):
                raise self.error(
                    f"'{token.value}' needs 'use {token.value}' at the top of the schema"
                )
            else:
                raise self.error(
                    "expected 'definition', 'caveat' or 'use' at the top level, "
                    f"found {self.describe()}"
                )
        flags = tuple(self.flags)
        if imports or partials or partial_refs:
            return ParsedSchema(
                tuple(definitions),
                tuple(caveats),
                flags,
                imports=tuple(imports),
                partials=tuple(partials),
                partial_refs=tuple(partial_refs),
                layout=tuple(layout),
            )
        return ast.Schema(tuple(definitions), tuple(caveats), flags)

    def use_statement(self) -> None:
        use = self.advance()
        token = self.tok
        if token.kind is not TokenKind.WORD:
            raise self.error(f"expected a flag name after 'use', found {self.describe()}")
        if token.value not in USE_FLAGS:
            raise self.error(
                f"unknown use flag '{token.value}'; options are: {', '.join(USE_FLAGS)}"
            )
        if self.seen_definition:
            raise self.error("'use' must come before any definition or caveat", use)
        self.advance()
        if token.value not in self.flags:
            self.flags.append(token.value)
            self.reserved = self.reserved | _FLAG_KEYWORDS[token.value]

    def import_statement(self) -> Import:
        keyword = self.advance()
        token = self.tok
        if token.kind is not TokenKind.STRING:
            raise self.error(f"expected a quoted path after 'import', found {self.describe()}")
        self.advance()
        path = unquote(token.value)
        if not path:
            raise self.error("empty import path", token)
        return Import(path, _pos(keyword))

    def definition(self) -> tuple[ast.Definition, tuple[PartialRef, ...]]:
        keyword = self.advance()
        name_token = self.tok
        name = self.path("a definition name after 'definition'")
        members, refs = self.block(f"definition '{name}'", f"after definition name '{name}'")
        doc = normalize_doc(keyword.comments)
        return ast.Definition(name, members, doc, _pos(name_token)), refs

    def partial(self) -> Partial:
        keyword = self.advance()
        name_token = self.tok
        name = self.path("a partial name after 'partial'")
        members, refs = self.block(f"partial '{name}'", f"after partial name '{name}'")
        return Partial(name, members, refs, normalize_doc(keyword.comments), _pos(name_token))

    def block(self, owner: str, context: str) -> tuple[tuple[Member, ...], tuple[PartialRef, ...]]:
        """``{ members }`` of a definition or partial."""
        self.expect("{", context)
        members: list[Member] = []
        refs: list[PartialRef] = []
        while True:
            while self.at_terminator():
                self.advance()
            token = self.tok
            if token.is_punct("}"):
                self.advance()
                return tuple(members), tuple(refs)
            if self.is_keyword("relation"):
                members.append(self.relation())
                what = f"relation '{members[-1].name}'"
            elif self.is_keyword("permission"):
                members.append(self.permission())
                what = f"permission '{members[-1].name}'"
            elif token.is_punct("..."):
                self.advance()
                refs.append(PartialRef(self.path("a partial name after '...'"), len(members)))
                refs[-1] = PartialRef(refs[-1].name, refs[-1].index, _pos(token))
                what = f"'...{refs[-1].name}'"
            elif token.kind is TokenKind.EOF:
                raise self.error(f"{owner} is not closed: expected '}}', found end of input")
            else:
                raise self.error(
                    f"expected 'relation', 'permission' or '}}' in {owner}, found {self.describe()}"
                )
            if self.at_terminator():
                self.advance()
            elif not self.tok.is_punct("}"):
                raise self.error(
                    f"expected end of line, ';' or '}}' after {what}, found {self.describe()}"
                )

    # -- relations --------------------------------------------------------------------------

    def relation(self) -> ast.Relation:
        keyword = self.advance()
        name_token = self.tok
        name = self.name("a relation name after 'relation'")
        self.expect(":", f"after relation name '{name}'")
        allowed = [self.allowed_type(name)]
        while self.tok.is_punct("|"):
            self.advance()
            allowed.append(self.allowed_type(name))
        return ast.Relation(name, tuple(allowed), normalize_doc(keyword.comments), _pos(name_token))

    def allowed_type(self, relation: str) -> ast.AllowedType:
        start = self.tok
        type_name = self.path(f"a subject type for relation '{relation}'")
        wildcard = False
        subject_relation: str | None = None
        if self.tok.is_punct(":"):
            self.advance()
            self.expect("*", f"after '{type_name}:' (a wildcard is written '{type_name}:*')")
            wildcard = True
        elif self.tok.is_punct("#"):
            self.advance()
            if self.tok.is_punct("..."):
                self.advance()
            else:
                subject_relation = self.name(f"a relation name or '...' after '{type_name}#'")
        caveat: str | None = None
        expiration = False
        if self.is_keyword("with"):
            self.advance()
            if self.is_keyword("expiration"):
                self.advance()
                expiration = True
                if self.is_keyword("and"):
                    raise self.error(
                        "the caveat must come before expiration: "
                        "write 'with <caveat> and expiration'"
                    )
            else:
                caveat = self.path(f"a caveat name after 'with' in relation '{relation}'")
                if self.is_keyword("and"):
                    self.advance()
                    if not self.is_keyword("expiration"):
                        raise self.error(
                            f"expected 'expiration' after 'and', found {self.describe()}"
                        )
                    self.advance()
                    expiration = True
        return ast.AllowedType(
            type_name, subject_relation, wildcard, caveat, expiration, pos=_pos(start)
        )

    # -- permissions ------------------------------------------------------------------------

    def permission(self) -> ast.Permission:
        keyword = self.advance()
        name_token = self.tok
        name = self.name("a permission name after 'permission'")
        annotation: list[str] = []
        context = f"after permission name '{name}'"
        if self.tok.is_punct(":"):
            self.advance()
            what = f"a type in the annotation of permission '{name}'"
            annotation.append(self.path(what))
            while self.tok.is_punct("|"):
                self.advance()
                annotation.append(self.path(what))
            context = f"after the type annotation of permission '{name}'"
        self.expect("=", context)
        expr = self.expression(name)
        return ast.Permission(
            name, expr, tuple(annotation), normalize_doc(keyword.comments), _pos(name_token)
        )

    def expression(self, permission: str) -> ast.Expr:
        left = self.intersection(permission)
        while self.tok.is_punct("-"):
            self.advance()
            left = ast.Exclusion(left, self.intersection(permission), left.pos)
        return left

    def intersection(self, permission: str) -> ast.Expr:
        children = [self.union(permission)]
        while self.tok.is_punct("&"):
            self.advance()
            children.append(self.union(permission))
        if len(children) == 1:
            return children[0]
        return ast.Intersection(tuple(children), children[0].pos)

    def union(self, permission: str) -> ast.Expr:
        children = [self.operand(permission)]
        while self.tok.is_punct("+"):
            self.advance()
            children.append(self.operand(permission))
        if len(children) == 1:
            return children[0]
        return ast.Union(tuple(children), children[0].pos)

    def operand(self, permission: str) -> ast.Expr:
        token = self.tok
        if token.is_punct("("):
            if self.paren_depth >= MAX_NESTING:
                raise self.error(f"expression nested more than {MAX_NESTING} parentheses deep")
            self.open_paren("")
            inner = self.expression(permission)
            self.close_paren(f"to close the '(' at line {token.line}, column {token.column}")
            return inner
        if self.is_keyword("nil"):
            self.advance()
            return ast.Nil(_pos(token))
        if self.is_keyword("self"):
            self.advance()
            return ast.SelfRef(_pos(token))
        if token.kind is TokenKind.WORD and token.value not in self.reserved:
            return self.arrows()
        raise self.error(
            f"expected a relation, permission, 'nil' or '(' in the expression of permission "
            f"'{permission}', found {self.describe()}"
        )

    def arrows(self) -> ast.Expr:
        """``name``, ``name->target``, ``name.any(target)``, ``name.all(target)`` (chainable)."""
        start = self.tok
        name = self.name("a relation name")
        result: ast.RelationRef | ast.Arrow = ast.RelationRef(name, _pos(start))
        while True:
            function: Literal["any", "all"]
            if self.tok.is_punct("->"):
                self.advance()
                function = "any"
                target = self.name("a relation or permission name after '->'")
            elif self.tok.is_punct("."):
                self.advance()
                if self.is_keyword("any"):
                    function = "any"
                elif self.is_keyword("all"):
                    function = "all"
                else:
                    raise self.error(
                        f"expected 'any' or 'all' for an arrow function, found {self.describe()}"
                    )
                self.advance()
                self.open_paren(f"after '.{function}'")
                target = self.name(f"a relation or permission name in '.{function}(...)'")
                self.close_paren(f"after '.{function}({target}'")
            else:
                return result
            tupleset = result.name if isinstance(result, ast.RelationRef) else format_arrow(result)
            result = ast.Arrow(tupleset, target, function, _pos(start))

    # -- caveats ----------------------------------------------------------------------------

    def caveat(self) -> ast.Caveat:
        keyword = self.advance()
        name_token = self.tok
        name = self.path("a caveat name after 'caveat'")
        self.open_paren(f"after caveat name '{name}'")
        parameters = [self.caveat_parameter(name)]
        while self.tok.is_punct(","):
            self.advance()
            parameters.append(self.caveat_parameter(name))
        self.close_paren(f"after the parameters of caveat '{name}'")
        brace = self.expect("{", f"after the parameters of caveat '{name}'")
        expression, expression_pos = self.caveat_body(name, brace)
        return ast.Caveat(
            name,
            tuple(parameters),
            expression,
            normalize_doc(keyword.comments),
            _pos(name_token),
            expression_pos,
        )

    def caveat_parameter(self, caveat: str) -> ast.CaveatParameter:
        token = self.tok
        name = self.name(f"a parameter name in caveat '{caveat}'")
        return ast.CaveatParameter(name, self.caveat_type(name), _pos(token))

    def caveat_type(self, parameter: str) -> ast.CaveatType:
        token = self.tok
        if token.kind is not TokenKind.WORD:
            found = self.describe()
            raise self.error(f"expected a type for parameter '{parameter}', found {found}")
        self.advance()
        args: list[ast.CaveatType] = []
        if self.tok.is_punct("<"):
            self.advance()
            args.append(self.caveat_type(parameter))
            while self.tok.is_punct(","):
                self.advance()
                args.append(self.caveat_type(parameter))
            self.expect(">", f"to close '{token.value}<'")
        return ast.CaveatType(token.value, tuple(args))

    def caveat_body(self, caveat: str, brace: Token) -> tuple[str, ast.Position | None]:
        """The CEL text up to the matching ``}``: tokenized, so braces in strings don't count."""
        depth = 1
        first: Token | None = None
        last: Token | None = None
        while True:
            token = self.tok
            if token.kind is TokenKind.EOF:
                raise self.error(
                    f"the body of caveat '{caveat}' (opened at line {brace.line}, column "
                    f"{brace.column}) is not closed: expected '}}', found end of input"
                )
            if token.is_punct("{"):
                depth += 1
            elif token.is_punct("}"):
                depth -= 1
                if depth == 0:
                    break
            if token.kind is not TokenKind.NEWLINE:
                first = first or token
                last = token
            self.advance()
        if first is None or last is None:
            raise self.error(f"caveat '{caveat}' has an empty expression")
        self.advance()
        return self.text[first.offset : last.end], _pos(first)
