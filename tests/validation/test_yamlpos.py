"""Mapping positions inside YAML string values back to lines and columns of the YAML file."""

from __future__ import annotations

import yaml

from rebac.validation._yamlpos import ScalarPositions


def _positions(text: str, key: str) -> tuple[ScalarPositions, str, list[str]]:
    loader = yaml.SafeLoader(text)
    root = loader.get_single_node()
    data = loader.construct_document(root)
    loader.dispose()
    assert isinstance(root, yaml.MappingNode)
    for k, v in root.value:
        if k.value == key:
            return (
                ScalarPositions(text.split("\n"), v, k.start_mark.column),
                data[key],
                text.split("\n"),
            )
    raise KeyError(key)


def _char_at(lines: list[str], line: int, column: int | None) -> str:
    assert column is not None
    return lines[line - 1][column - 1]


def test_every_character_of_a_folded_block_maps_to_itself() -> None:
    text = "k: >-\n  alpha beta\n  gamma\n\n  delta\n    indented\n  omega\n"
    pos, value, lines = _positions(text, "k")
    assert value == "alpha beta gamma\ndelta\n  indented\nomega"
    for n, out_line in enumerate(value.split("\n")):
        for c, ch in enumerate(out_line):
            if not ch.isspace():
                assert _char_at(lines, *pos.locate(n, c)) == ch


def test_folded_lines_joined_by_a_space_keep_their_own_source_line() -> None:
    pos, value, _ = _positions("k: >\n  first\n  second\n", "k")
    assert value == "first second\n"
    assert pos.locate(0, 0) == (2, 3)
    assert pos.locate(0, 6) == (3, 3)


def test_literal_block_maps_line_for_line() -> None:
    pos, value, lines = _positions("a: 1\nk: |\n  one\n\n  three\n", "k")
    assert value == "one\n\nthree\n"
    assert pos.locate(2, 1) == (5, 4)
    assert _char_at(lines, *pos.locate(2, 1)) == "h"


def test_explicit_indentation_indicator_keeps_extra_spaces() -> None:
    pos, value, lines = _positions("k: |2+\n    two\n", "k")
    assert value == "  two\n"
    assert _char_at(lines, *pos.locate(0, 2)) == "t"


def test_tab_indented_content_inside_a_block_maps_exactly() -> None:
    pos, value, lines = _positions("k: |\n  x {\n  \trel\n  }\n", "k")
    assert value.split("\n")[1] == "\trel"
    assert _char_at(lines, *pos.locate(1, 1)) == "r"


def test_single_line_quoted_scalar_has_a_column_multi_line_plain_does_not() -> None:
    pos, _, lines = _positions('k: "definition x"\n', "k")
    assert _char_at(lines, *pos.locate(0, 0)) == "d"
    plain, _, _ = _positions("k: one\n  two\n", "k")
    assert plain.locate(0, 0) == (1, None)
