"""Lexer and parser for the CEL subset SpiceDB caveats use.

The output is a small untyped syntax tree (the ``N*`` classes below). Every node records
``pos``, the offset of its token in the expression text, so the compiler can turn checking
errors into schema line/column positions. Macros (``has``, ``all``, ``exists``,
``exists_one``, ``map``, ``filter``) are recognised here, as CEL's own parser does.

Grammar (CEL spec, precedence from loosest to tightest)::

    Expr     = Or ["?" Or ":" Expr]
    Or       = And {"||" And}
    And      = Rel {"&&" Rel}
    Rel      = Add {("<" | "<=" | ">" | ">=" | "==" | "!=" | "in") Add}
    Add      = Mul {("+" | "-") Mul}
    Mul      = Unary {("*" | "/" | "%") Unary}
    Unary    = Member | "!" {"!"} Member | "-" {"-"} Member
    Member   = Primary {"." IDENT ["(" [Args] ")"] | "[" Expr "]"}
    Primary  = IDENT ["(" [Args] ")"] | "(" Expr ")" | "[" [Args] [","] "]"
             | "{" [Entries] [","] "}" | literal
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = ["CelSyntaxError", "Node", "parse"]


class CelSyntaxError(Exception):
    """A lexing/parsing problem at ``pos`` (offset in the expression text)."""

    def __init__(self, message: str, pos: int):
        super().__init__(message)
        self.message = message
        self.pos = pos


# --------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True, slots=True)
class NLit:
    """A literal. ``kind`` is the CEL type name: int, uint, double, string, bytes, bool, null."""

    pos: int
    kind: str
    value: Any


@dataclass(frozen=True, slots=True)
class NIdent:
    pos: int
    name: str


@dataclass(frozen=True, slots=True)
class NSelect:
    """``operand.field``; with ``test_only`` it is the ``has(operand.field)`` macro."""

    pos: int
    operand: Node
    field: str
    test_only: bool = False


@dataclass(frozen=True, slots=True)
class NIndex:
    pos: int
    operand: Node
    index: Node


@dataclass(frozen=True, slots=True)
class NCall:
    """A global function call (``target`` is None) or a method call ``target.function(args)``."""

    pos: int
    function: str
    target: Node | None
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class NList:
    pos: int
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class NMap:
    pos: int
    entries: tuple[tuple[Node, Node], ...]


@dataclass(frozen=True, slots=True)
class NUnary:
    pos: int
    op: str  # "!" or "-"
    operand: Node


@dataclass(frozen=True, slots=True)
class NBinary:
    pos: int
    op: str  # "||" "&&" "<" "<=" ">" ">=" "==" "!=" "in" "+" "-" "*" "/" "%"
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class NCond:
    pos: int
    cond: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True, slots=True)
class NComprehension:
    """``target.kind(var, body)``; ``map`` with a filter is ``target.map(var, pred, body)``."""

    pos: int
    kind: str  # all, exists, exists_one, map, filter
    target: Node
    var: str
    var_pos: int
    body: Node
    pred: Node | None = None  # only for the 3-argument map


Node: TypeAlias = (
    NLit
    | NIdent
    | NSelect
    | NIndex
    | NCall
    | NList
    | NMap
    | NUnary
    | NBinary
    | NCond
    | NComprehension
)


# --------------------------------------------------------------------------------------------
# Lexer

_RESERVED = frozenset(
    {
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    }
)

_PUNCT2 = ("<=", ">=", "==", "!=", "&&", "||", "?.")
_PUNCT1 = "<>!+-*/%?:.,()[]{}"

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
    "?": "?",
}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "int" "uint" "double" "string" "bytes" "ident" "punct" "eof"
    text: str  # source text (identifier name, punctuation)
    value: Any
    pos: int


def _is_ident_start(c: str) -> bool:
    return c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z")


def _is_ident_char(c: str) -> bool:
    return _is_ident_start(c) or ("0" <= c <= "9")


def _lex(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    n = len(src)
    while i < n:
        c = src[i]
        if c in " \t\n\r\f\v":
            i += 1
            continue
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        start = i
        # string / bytes literals, with optional r/b prefixes
        if c in "'\"" or (
            c in "rRbB"
            and i + 1 < n
            and (
                src[i + 1] in "'\""
                or (
                    src[i + 1] in "rRbB"
                    and src[i + 1].lower() != c.lower()
                    and i + 2 < n
                    and src[i + 2] in "'\""
                )
            )
        ):
            raw = is_bytes = False
            while src[i] in "rRbB":
                if src[i] in "rR":
                    raw = True
                else:
                    is_bytes = True
                i += 1
            tok, i = _lex_string(src, i, raw, is_bytes, start)
            toks.append(tok)
            continue
        if c.isdigit() or (c == "." and i + 1 < n and src[i + 1].isdigit()):
            tok, i = _lex_number(src, i)
            toks.append(tok)
            continue
        if _is_ident_start(c):
            j = i + 1
            while j < n and _is_ident_char(src[j]):
                j += 1
            word = src[i:j]
            if word in ("true", "false"):
                toks.append(_Tok("bool", word, word == "true", i))
            elif word == "null":
                toks.append(_Tok("null", word, None, i))
            elif word == "in":
                toks.append(_Tok("punct", word, None, i))
            else:
                if word in _RESERVED:
                    raise CelSyntaxError(f"reserved identifier '{word}'", i)
                toks.append(_Tok("ident", word, word, i))
            i = j
            continue
        two = src[i : i + 2]
        if two in _PUNCT2:
            if two == "?.":
                raise CelSyntaxError("optional field selection '?.' is not supported", i)
            toks.append(_Tok("punct", two, None, i))
            i += 2
            continue
        if c in _PUNCT1:
            toks.append(_Tok("punct", c, None, i))
            i += 1
            continue
        if c in "=&|":
            raise CelSyntaxError(f"unexpected character '{c}' (did you mean '{c}{c}'?)", i)
        raise CelSyntaxError(f"unexpected character '{c}'", i)
    toks.append(_Tok("eof", "", None, n))
    return toks


def _lex_number(src: str, i: int) -> tuple[_Tok, int]:
    n = len(src)
    start = i
    if src.startswith(("0x", "0X"), i):
        j = i + 2
        while j < n and src[j] in "0123456789abcdefABCDEF":
            j += 1
        if j == i + 2:
            raise CelSyntaxError(f"malformed hex literal '{src[i:j]}'", i)
        value = int(src[i + 2 : j], 16)
        if j < n and src[j] in "uU":
            return _Tok("uint", src[start : j + 1], value, start), _check_num_end(src, j + 1)
        return _Tok("int", src[start:j], value, start), _check_num_end(src, j)
    j = i
    while j < n and src[j].isdigit():
        j += 1
    is_float = False
    if j < n and src[j] == "." and j + 1 < n and src[j + 1].isdigit():
        is_float = True
        j += 1
        while j < n and src[j].isdigit():
            j += 1
    if j < n and src[j] in "eE":
        k = j + 1
        if k < n and src[k] in "+-":
            k += 1
        if k < n and src[k].isdigit():
            is_float = True
            j = k
            while j < n and src[j].isdigit():
                j += 1
        else:
            raise CelSyntaxError(f"malformed number '{src[start:k]}'", start)
    text = src[start:j]
    if is_float:
        return _Tok("double", text, float(text), start), _check_num_end(src, j)
    if j < n and src[j] in "uU":
        return _Tok("uint", src[start : j + 1], int(text), start), _check_num_end(src, j + 1)
    return _Tok("int", text, int(text), start), _check_num_end(src, j)


def _check_num_end(src: str, j: int) -> int:
    if j < len(src) and (_is_ident_char(src[j])):
        k = j
        while k < len(src) and _is_ident_char(src[k]):
            k += 1
        raise CelSyntaxError(f"malformed number near '{src[j:k]}'", j)
    return j


def _lex_string(src: str, i: int, raw: bool, is_bytes: bool, start: int) -> tuple[_Tok, int]:
    n = len(src)
    quote = src[i]
    triple = src.startswith(quote * 3, i)
    delim = quote * 3 if triple else quote
    i += len(delim)
    chars: list[str] = []  # for bytes: latin-1 code units for \x/octal escapes
    out_bytes = bytearray()

    def emit_text(s: str) -> None:
        if is_bytes:
            out_bytes.extend(s.encode("utf-8"))
        else:
            chars.append(s)

    while True:
        if i >= n:
            raise CelSyntaxError("unterminated string literal", start)
        if src.startswith(delim, i):
            i += len(delim)
            break
        c = src[i]
        if not triple and c in "\r\n":
            raise CelSyntaxError("newline in string literal (use a triple-quoted string)", start)
        if c != "\\" or raw:
            emit_text(c)
            i += 1
            continue
        # escape sequence
        if i + 1 >= n:
            raise CelSyntaxError("unterminated string literal", start)
        e = src[i + 1]
        if e in _SIMPLE_ESCAPES:
            emit_text(_SIMPLE_ESCAPES[e])
            i += 2
        elif e in "xX":
            hexd = src[i + 2 : i + 4]
            if len(hexd) != 2 or not all(h in "0123456789abcdefABCDEF" for h in hexd):
                raise CelSyntaxError(f"invalid escape sequence '{src[i : i + 4]}'", i)
            v = int(hexd, 16)
            if is_bytes:
                out_bytes.append(v)
            else:
                chars.append(chr(v))
            i += 4
        elif e in "uU":
            width = 4 if e == "u" else 8
            hexd = src[i + 2 : i + 2 + width]
            if (
                is_bytes
                or len(hexd) != width
                or not all(h in "0123456789abcdefABCDEF" for h in hexd)
            ):
                raise CelSyntaxError(f"invalid escape sequence '{src[i : i + 2 + width]}'", i)
            v = int(hexd, 16)
            if v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
                raise CelSyntaxError(f"invalid unicode escape '{src[i : i + 2 + width]}'", i)
            chars.append(chr(v))
            i += 2 + width
        elif e in "0123":
            octd = src[i + 1 : i + 4]
            if len(octd) != 3 or not all(o in "01234567" for o in octd):
                raise CelSyntaxError(f"invalid escape sequence '{src[i : i + 4]}'", i)
            v = int(octd, 8)
            if is_bytes:
                out_bytes.append(v)
            else:
                chars.append(chr(v))
            i += 4
        else:
            raise CelSyntaxError(f"invalid escape sequence '\\{e}'", i)
    if is_bytes:
        return _Tok("bytes", src[start:i], bytes(out_bytes), start), i
    return _Tok("string", src[start:i], "".join(chars), start), i


# --------------------------------------------------------------------------------------------
# Parser

_MAX_DEPTH = 60
_REL_OPS = frozenset({"<", "<=", ">", ">=", "==", "!=", "in"})
_MACROS_1 = frozenset({"all", "exists", "exists_one", "filter", "map"})


class _Parser:
    def __init__(self, src: str):
        self.src = src
        self.toks = _lex(src)
        self.i = 0
        self.depth = 0

    # token helpers -------------------------------------------------------------------------
    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def at(self, text: str) -> bool:
        t = self.toks[self.i]
        return t.kind == "punct" and t.text == text

    def expect(self, text: str, what: str | None = None) -> _Tok:
        t = self.peek()
        if t.kind == "punct" and t.text == text:
            self.i += 1
            return t
        raise CelSyntaxError(f"expected '{text}'{what or ''}, found {_describe(t)}", t.pos)

    # grammar -------------------------------------------------------------------------------
    def parse(self) -> Node:
        if self.peek().kind == "eof":
            raise CelSyntaxError("empty caveat expression", 0)
        node = self.expr()
        t = self.peek()
        if t.kind != "eof":
            raise CelSyntaxError(f"unexpected {_describe(t)}", t.pos)
        return node

    def expr(self) -> Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise CelSyntaxError("expression nested too deeply", self.peek().pos)
        try:
            cond = self.or_()
            if self.at("?"):
                q = self.next()
                then = self.or_()
                self.expect(":", " in conditional expression")
                otherwise = self.expr()
                return NCond(q.pos, cond, then, otherwise)
            return cond
        finally:
            self.depth -= 1

    def or_(self) -> Node:
        left = self.and_()
        while self.at("||"):
            op = self.next()
            left = NBinary(op.pos, "||", left, self.and_())
        return left

    def and_(self) -> Node:
        left = self.rel()
        while self.at("&&"):
            op = self.next()
            left = NBinary(op.pos, "&&", left, self.rel())
        return left

    def rel(self) -> Node:
        left = self.add()
        while True:
            t = self.peek()
            if t.kind == "punct" and t.text in _REL_OPS:
                self.i += 1
                left = NBinary(t.pos, t.text, left, self.add())
            else:
                return left

    def add(self) -> Node:
        left = self.mul()
        while self.at("+") or self.at("-"):
            op = self.next()
            left = NBinary(op.pos, op.text, left, self.mul())
        return left

    def mul(self) -> Node:
        left = self.unary()
        while self.at("*") or self.at("/") or self.at("%"):
            op = self.next()
            left = NBinary(op.pos, op.text, left, self.unary())
        return left

    def unary(self) -> Node:
        ops: list[_Tok] = []
        while self.at("!") or self.at("-"):
            ops.append(self.next())
        if len(ops) > _MAX_DEPTH:
            raise CelSyntaxError("expression nested too deeply", ops[_MAX_DEPTH].pos)
        node: Node | None = None
        if ops and ops[-1].text == "-":
            t = self.peek()
            if t.kind in ("int", "double") and not self._followed_by_member(self.i + 1):
                # fold the sign into the literal so that -9223372036854775808 is in range
                self.i += 1
                node = NLit(ops.pop().pos, t.kind, -t.value)
        if node is None:
            node = self.member()
        for op in reversed(ops):
            node = NUnary(op.pos, op.text, node)
        return node

    def _followed_by_member(self, idx: int) -> bool:
        t = self.toks[idx]
        return t.kind == "punct" and t.text in (".", "[")

    def member(self) -> Node:
        node = self.primary()
        while True:
            if self.at("."):
                dot = self.next()
                name = self.next()
                if name.kind != "ident":
                    raise CelSyntaxError(
                        f"expected a field or method name after '.', found {_describe(name)}",
                        name.pos,
                    )
                if self.at("("):
                    self.next()
                    args = self.args(")")
                    node = self.method(node, name, args, dot.pos)
                else:
                    node = NSelect(name.pos, node, name.text)
            elif self.at("["):
                br = self.next()
                index = self.expr()
                self.expect("]", " to close the index")
                node = NIndex(br.pos, node, index)
            else:
                return node

    def method(self, target: Node, name: _Tok, args: tuple[Node, ...], dot_pos: int) -> Node:
        fn = name.text
        if fn in _MACROS_1 and len(args) in (2, 3):
            var = args[0]
            if not isinstance(var, NIdent):
                raise CelSyntaxError(
                    f"the first argument of '{fn}' must be a variable name", _node_pos(var)
                )
            if len(args) == 3:
                if fn != "map":
                    raise CelSyntaxError(f"'{fn}' takes 2 arguments, got 3", name.pos)
                return NComprehension(name.pos, fn, target, var.name, var.pos, args[2], args[1])
            return NComprehension(name.pos, fn, target, var.name, var.pos, args[1])
        return NCall(name.pos, fn, target, args)

    def args(self, close: str) -> tuple[Node, ...]:
        items: list[Node] = []
        if self.at(close):
            self.next()
            return ()
        while True:
            items.append(self.expr())
            if self.at(","):
                self.next()
                if close == "]" and self.at(close):  # trailing comma in list literals
                    self.next()
                    return tuple(items)
                continue
            self.expect(close, " or ','")
            return tuple(items)

    def primary(self) -> Node:
        t = self.next()
        k = t.kind
        if k in ("int", "uint", "double", "string", "bytes", "bool", "null"):
            return NLit(t.pos, k, t.value)
        if k == "ident":
            if self.at("("):
                self.next()
                args = self.args(")")
                if t.text == "has":
                    if len(args) != 1 or not isinstance(args[0], NSelect):
                        raise CelSyntaxError(
                            "has() takes a single field selection, e.g. has(m.f)", t.pos
                        )
                    sel = args[0]
                    return NSelect(sel.pos, sel.operand, sel.field, test_only=True)
                return NCall(t.pos, t.text, None, args)
            return NIdent(t.pos, t.text)
        if k == "punct":
            if t.text == "(":
                e = self.expr()
                self.expect(")", " to close '('")
                return e
            if t.text == "[":
                return NList(t.pos, self.args("]"))
            if t.text == "{":
                return self.map_lit(t)
            if t.text == ".":
                raise CelSyntaxError("leading '.' (qualified names) is not supported", t.pos)
        raise CelSyntaxError(f"unexpected {_describe(t)}", t.pos)

    def map_lit(self, open_tok: _Tok) -> Node:
        entries: list[tuple[Node, Node]] = []
        if self.at("}"):
            self.next()
            return NMap(open_tok.pos, ())
        while True:
            key = self.expr()
            self.expect(":", " after map key")
            entries.append((key, self.expr()))
            if self.at(","):
                self.next()
                if self.at("}"):
                    self.next()
                    break
                continue
            self.expect("}", " or ','")
            break
        return NMap(open_tok.pos, tuple(entries))


def _describe(t: _Tok) -> str:
    if t.kind == "eof":
        return "end of expression"
    return f"'{t.text}'"


def _node_pos(n: Node) -> int:
    return n.pos


def parse(src: str) -> Node:
    """Parse CEL source text; raises :class:`CelSyntaxError`."""
    return _Parser(src).parse()
