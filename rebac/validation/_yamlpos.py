"""Where a line of a YAML string value came from in the YAML file.

Validation files keep schemas and relationships in block scalars (``|``, ``|-``, ``|+``,
``|2+``, ``>-``). An error found in line 7 of the *value* is useless to a user editing the file:
they need the line of the *file*. Literal blocks map one to one; folded blocks (``>``) join
adjacent lines with a space and turn ``n`` blank lines into ``n`` line breaks, so the mapping is
computed with the YAML 1.2 folding rules (spec 8.1.3) rather than guessed.

PyYAML only records where a whole scalar starts and ends, hence this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml


@dataclass(frozen=True, slots=True)
class _Piece:
    """One source line of a block scalar and where its text lands in the value."""

    out_line: int  # 0-based line of the value
    out_col: int  # 0-based column in that value line where this source line's text starts
    yaml_line: int  # 1-based line in the YAML file
    yaml_col: int  # 1-based column in the YAML file where the text starts


class ScalarPositions:
    """Maps (line, column) positions inside a scalar's value back into the YAML file."""

    def __init__(self, source_lines: list[str], node: yaml.Node, parent_indent: int = 0):
        self._start_line = node.start_mark.line + 1
        self._start_col = node.start_mark.column + 1
        self._pieces: list[_Piece] = []
        self._quoted = False
        style = getattr(node, "style", None)
        if style in ("|", ">"):
            self._pieces = _block_pieces(source_lines, node, parent_indent, folded=style == ">")
        else:
            self._quoted = style in ('"', "'")

    @property
    def start_line(self) -> int:
        """1-based line of the scalar (its block indicator for block scalars)."""
        return self._start_line

    def locate(self, line: int, column: int = 0) -> tuple[int, int | None]:
        """1-based YAML ``(line, column)`` of 0-based ``(line, column)`` in the value.

        The column is ``None`` when it cannot be known (plain or quoted multi-line scalars,
        whose folding depends on escapes this module does not replay).
        """
        if not self._pieces:
            if line == 0 and self._quoted:
                return self._start_line, self._start_col + 1 + column
            return self._start_line, None
        best: _Piece | None = None
        for piece in self._pieces:
            if piece.out_line == line and piece.out_col <= column:
                if best is None or piece.out_col >= best.out_col:
                    best = piece
            elif piece.out_line > line:
                break
        if best is None:
            # A blank line of the value: report the nearest following source line.
            following = [p for p in self._pieces if p.out_line >= line]
            anchor = following[0] if following else self._pieces[-1]
            return anchor.yaml_line, None
        return best.yaml_line, best.yaml_col + (column - best.out_col)


def _block_pieces(
    source_lines: list[str], node: yaml.Node, parent_indent: int, *, folded: bool
) -> list[_Piece]:
    header_line = node.start_mark.line
    header = source_lines[header_line][node.start_mark.column :].split("#", 1)[0].strip()
    digits = "".join(ch for ch in header if ch.isdigit())
    end = node.end_mark.line + (1 if node.end_mark.column > 0 else 0)
    end = min(end, len(source_lines))
    body = list(range(header_line + 1, end))
    if digits:
        indent = parent_indent + int(digits)
    else:
        first = next((i for i in body if source_lines[i].strip()), None)
        if first is None:
            return []
        text = source_lines[first]
        indent = len(text) - len(text.lstrip(" "))
    if not folded:
        return [_Piece(n, 0, i + 1, indent + 1) for n, i in enumerate(body)]
    pieces: list[_Piece] = []
    out_line = 0
    out_col = 0
    prev_text: str | None = None
    prev_normal = False
    blanks = 0
    for i in body:
        raw = source_lines[i]
        if not raw.strip():
            blanks += 1
            continue
        text = raw[indent:]
        normal = not text[:1].isspace()
        if prev_text is None:
            out_line, out_col = blanks, 0  # leading blank lines are kept as line breaks
        elif prev_normal and normal and blanks == 0:
            out_col = out_col + len(prev_text) + 1  # joined with a space
        else:
            # A blank run between two normal lines drops its first break; breaks around
            # more-indented lines are all kept.
            out_line += blanks if (prev_normal and normal) else blanks + 1
            out_col = 0
        pieces.append(_Piece(out_line, out_col, i + 1, indent + 1))
        prev_text, prev_normal, blanks = text, normal, 0
    return pieces
