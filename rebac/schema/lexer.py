"""Tokenizer for the SpiceDB schema language.

The lexer follows SpiceDB's own (``pkg/schemadsl/lexer``) where it matters for which inputs are
accepted:

* Words are runs of letters, digits and ``_`` (so ``42`` is a word too). Keywords are *not*
  decided here: which words are reserved depends on the ``use`` flags seen so far, so the parser
  decides in context.
* A line break is a statement terminator (:attr:`TokenKind.NEWLINE`) only when the previous
  significant token can end a statement (a word, ``}``, ``)`` or ``*``); otherwise it is
  whitespace. That is what lets expressions and type lists continue on the next line after an
  operator or ``|``.
* Comments are not tokens: each significant token carries the comments that precede it, which
  is how doc comments reach definitions, relations, permissions and caveats.
* Any character SpiceDB does not know (a backtick, ``@``, ``$``...) is an error, even inside a
  caveat body, because the caveat body is tokenized too (so that braces inside CEL strings do not
  end it).

Tokens are produced lazily, so the first error reported is always the first error in the text.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

from rebac.errors import SchemaError


class TokenKind(enum.Enum):
    WORD = "word"
    STRING = "string"
    NEWLINE = "end of line"
    EOF = "end of input"
    PUNCT = "punctuation"


@dataclass(frozen=True, slots=True)
class Token:
    """One significant token. ``offset`` is a 0-based character index into the text."""

    kind: TokenKind
    value: str
    line: int
    column: int
    offset: int
    comments: tuple[str, ...] = ()

    @property
    def end(self) -> int:
        """Character index just past the token."""
        return self.offset + len(self.value)

    def is_punct(self, value: str) -> bool:
        return self.kind is TokenKind.PUNCT and self.value == value

    def describe(self) -> str:
        """The token as error messages show it: quoted text, or a name for line ends and EOF."""
        if self.kind is TokenKind.NEWLINE:
            return "end of line"
        if self.kind is TokenKind.EOF:
            return "end of input"
        return f"'{self.value}'"


# Longest first, so that "..." wins over "." and "->" over "-".
_PUNCTUATION = (
    "...",
    "->",
    "||",
    "&&",
    "==",
    "!=",
    "<=",
    ">=",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "+",
    "-",
    "&",
    "|",
    "/",
    "=",
    ":",
    ";",
    "#",
    "*",
    ".",
    ",",
    "?",
    "!",
    "%",
    "<",
    ">",
)

# After these a line break ends the statement (SpiceDB's "synthetic semicolon").
_STATEMENT_ENDERS = frozenset({"}", ")", "*"})


def _is_word_char(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or ch.isdecimal()


class Lexer:
    """Pull-based tokenizer: call :meth:`next` until it returns an EOF token."""

    def __init__(self, text: str, *, source: str | None = None) -> None:
        self.text = text
        self.source = source
        self._pos = 0
        self._line = 1
        self._col = 1
        self._can_end_statement = False
        self._comments: list[str] = []

    def __iter__(self) -> Iterator[Token]:
        while True:
            token = self.next()
            yield token
            if token.kind is TokenKind.EOF:
                return

    def error(self, message: str, line: int, column: int) -> SchemaError:
        return SchemaError(message, line, column, source=self.source)

    def _advance(self, count: int) -> None:
        for ch in self.text[self._pos : self._pos + count]:
            if ch == "\n":
                self._line += 1
                self._col = 1
            else:
                self._col += 1
        self._pos += count

    def _make(self, kind: TokenKind, start: int, line: int, column: int) -> Token:
        comments = tuple(self._comments)
        self._comments.clear()
        value = self.text[start : self._pos]
        if kind is TokenKind.WORD:
            self._can_end_statement = True
        elif kind is TokenKind.PUNCT:
            self._can_end_statement = value in _STATEMENT_ENDERS
        else:
            self._can_end_statement = False
        return Token(kind, value, line, column, start, comments)

    def next(self) -> Token:
        """The next significant token (comments attached, insignificant line breaks skipped)."""
        text = self.text
        while True:
            start, line, column = self._pos, self._line, self._col
            if start >= len(text):
                return self._make(TokenKind.EOF, start, line, column)
            ch = text[start]
            if ch in " \t":
                self._advance(1)
            elif ch in "\r\n":
                self._advance(1)
                if self._can_end_statement:
                    return self._make(TokenKind.NEWLINE, start, line, column)
            elif text.startswith("//", start):
                end = start
                while end < len(text) and text[end] not in "\r\n":
                    end += 1
                self._comments.append(text[start:end].rstrip())
                self._advance(end - start)
            elif text.startswith("/*", start):
                end = text.find("*/", start + 2)
                if end < 0:
                    raise self.error("unterminated comment: '/*' has no closing '*/'", line, column)
                self._comments.append(text[start : end + 2])
                self._advance(end + 2 - start)
            elif _is_word_char(ch):
                end = start + 1
                while end < len(text) and _is_word_char(text[end]):
                    end += 1
                self._advance(end - start)
                return self._make(TokenKind.WORD, start, line, column)
            elif ch in "'\"":
                self._advance(self._string_length(start, line, column))
                return self._make(TokenKind.STRING, start, line, column)
            else:
                for punct in _PUNCTUATION:
                    if text.startswith(punct, start):
                        self._advance(len(punct))
                        return self._make(TokenKind.PUNCT, start, line, column)
                raise self.error(f"unexpected character {ch!r}", line, column)

    def _string_length(self, start: int, line: int, column: int) -> int:
        """Length of the string literal at ``start``: '...', "...", or triple-quoted (multi-line).

        A backslash escapes the next character, as in CEL.
        """
        text = self.text
        quote = text[start]
        delimiter = quote * 3 if text.startswith(quote * 3, start) else quote
        pos = start + len(delimiter)
        while pos < len(text):
            if text.startswith(delimiter, pos):
                return pos + len(delimiter) - start
            ch = text[pos]
            if ch in "\r\n" and len(delimiter) == 1:
                break
            pos += 2 if ch == "\\" else 1
        raise self.error(f"unterminated string starting with {quote!r}", line, column)
