"""SpiceDB's own parser fixtures: ``parse_schema`` succeeds exactly on the valid ones.

The corpus (``../shared/conformance/spicedb-schema/parser``) pairs each input with SpiceDB's parse
tree; ``parser-index.yaml`` says whether the tree has an error node. We don't mirror SpiceDB's
trees or messages, only the accept/reject decision, plus the structure of a few trees whose
shape is the point of the fixture (precedence, associativity).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from rebac.errors import SchemaError
from rebac.schema import ast, parse_schema, print_schema
from tests.conftest import SHARED_DIR, shared_path

CORPUS = SHARED_DIR / "conformance" / "spicedb-schema"


def _entries(*, valid_only: bool = False) -> list[Any]:
    index = CORPUS / "parser-index.yaml"
    if not index.exists():
        return [pytest.param(None, id="corpus-missing")]
    entries = yaml.safe_load(index.read_text(encoding="utf-8"))["entries"]
    return [
        pytest.param(entry, id=entry["file"])
        for entry in entries
        if entry["syntax_valid"] or not valid_only
    ]


def _read(name: str) -> str:
    return (shared_path("conformance", "spicedb-schema", "parser") / name).read_text("utf-8")


@pytest.mark.parametrize("entry", _entries())
def test_parse_succeeds_exactly_when_spicedb_finds_no_syntax_error(
    entry: dict[str, Any] | None,
) -> None:
    if entry is None:
        pytest.skip("../shared/conformance not present (parser corpus missing)")
    text = _read(entry["file"])
    if entry["syntax_valid"]:
        parse_schema(text, source=entry["file"])
    else:
        with pytest.raises(SchemaError) as info:
            parse_schema(text, source=entry["file"])
        assert info.value.line >= 1
        assert info.value.column >= 1


@pytest.mark.parametrize("entry", _entries(valid_only=True))
def test_valid_corpus_schema_survives_print_and_parse(entry: dict[str, Any] | None) -> None:
    if entry is None:
        pytest.skip("../shared/conformance not present (parser corpus missing)")
    schema = parse_schema(_read(entry["file"]))
    printed = print_schema(schema)
    assert parse_schema(printed) == schema
    assert print_schema(parse_schema(printed)) == printed


def _permission(schema: ast.Schema, name: str) -> ast.Expr:
    for definition in schema.definitions:
        for member in definition.members:
            if isinstance(member, ast.Permission) and member.name == name:
                return member.expr
    raise AssertionError(f"no permission {name!r}")


def test_associativity_fixture_matches_spicedb_trees() -> None:
    schema = parse_schema(_read("associativity.zed"))
    a, b, c = (ast.RelationRef(n) for n in "abc")
    assert _permission(schema, "union") == ast.Union((a, b, c))
    assert _permission(schema, "intersection") == ast.Intersection((a, b, c))
    assert _permission(schema, "exclusion") == ast.Exclusion(ast.Exclusion(a, b), c)
    # SpiceDB: '-' binds loosest, so a + b - c == (a + b) - c and a - b + c == a - (b + c).
    assert _permission(schema, "combined1") == ast.Exclusion(ast.Union((a, b)), c)
    assert _permission(schema, "combined2") == ast.Exclusion(a, ast.Union((b, c)))


def test_multiparen_fixture_keeps_parenthesised_groups() -> None:
    expr = _permission(parse_schema(_read("multiparen.zed")), "bar")
    assert expr == ast.Union(
        (
            ast.RelationRef("baz"),
            ast.RelationRef("meh"),
            ast.Exclusion(ast.Arrow("a", "b"), ast.Arrow("c", "d")),
            ast.Intersection((ast.RelationRef("maz"), ast.RelationRef("beh"))),
        )
    )
