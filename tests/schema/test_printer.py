"""The printer: canonical text, minimal readable parentheses, and print -> parse round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebac.schema import ast, parse_schema, print_expression, print_schema
from rebac.schema.parser import USE_FLAGS

SOURCE = """\
use expiration
// on tuesdays only
caveat on_day(day string, tags list<string>) {
    day == 'tue' && 'x' in tags
}
definition user {}
/** a document */
definition document {
    relation parent: document
    relation viewer: user | user:* | document#viewer | user with on_day and expiration
    /* who can view */
    permission view: user = viewer + parent->view - nil
    permission all_view = parent.all(view)
}
"""

CANONICAL = """\
use expiration

// on tuesdays only
caveat on_day(day string, tags list<string>) {
\tday == 'tue' && 'x' in tags
}

definition user {}

/** a document */
definition document {
\trelation parent: document
\trelation viewer: user | user:* | document#viewer | user with on_day and expiration

\t/* who can view */
\tpermission view: user = viewer + parent->view - nil
\tpermission all_view = parent.all(view)
}
"""


def test_canonical_layout_flags_caveats_definitions_tabs_and_docs() -> None:
    assert print_schema(parse_schema(SOURCE)) == CANONICAL


def test_printing_is_idempotent_and_keeps_docs() -> None:
    schema = parse_schema(CANONICAL)
    assert print_schema(schema) == CANONICAL
    assert [d.doc for d in schema.definitions] == [None, "/** a document */"]
    assert schema.caveats[0].doc == "// on tuesdays only"


def test_empty_schema_prints_as_empty_text() -> None:
    assert print_schema(ast.Schema(())) == ""


@pytest.mark.parametrize(
    ("source", "printed"),
    [
        ("a + b + c", "a + b + c"),
        ("(a + b) + c", "(a + b) + c"),
        ("a + (b + c)", "a + (b + c)"),
        ("a - b - c", "a - b - c"),
        ("a - (b - c)", "a - (b - c)"),
        ("(a & b) + c", "(a & b) + c"),
        ("a + b - c", "a + b - c"),
        ("a & b - c", "a & b - c"),
        ("a - b & c", "a - b & c"),
        ("(a - b) & c", "(a - b) & c"),
        # SpiceDB reads 'a & b + c' as 'a & (b + c)' and 'a - b + c' as 'a - (b + c)': the
        # printer writes those parentheses so that nobody misreads the tree.
        ("a & b + c", "a & (b + c)"),
        ("a + b & c", "(a + b) & c"),
        ("a - b + c", "a - (b + c)"),
        ("((a))", "a"),
        ("a.any(b) + c.all(d)", "a->b + c.all(d)"),
    ],
)
def test_expression_parentheses(source: str, printed: str) -> None:
    schema = parse_schema(f"definition doc {{\n  permission p = {source}\n}}")
    permission = schema.definitions[0].members[0]
    assert isinstance(permission, ast.Permission)
    assert print_expression(permission.expr) == printed
    reparsed = parse_schema(f"definition doc {{\n  permission p = {printed}\n}}")
    assert reparsed == schema


def test_file_with_imports_and_partials_prints_in_source_order() -> None:
    text = (
        "use import\nuse partial\n\n"
        "definition first {}\n\n"
        'import "lib/x.zed"\n\n'
        "partial part {\n\trelation rel_a: first\n}\n\n"
        "definition second {\n\trelation rel_b: first\n\t...part\n}\n"
    )
    schema = parse_schema(text)
    assert print_schema(schema) == text
    assert parse_schema(print_schema(schema)) == schema


def test_multiline_caveat_expression_round_trips_exactly() -> None:
    text = 'caveat c_name(a int) {\n  a == 1 &&\n      """x\n{y"""  != ""\n}\n'
    schema = parse_schema(text)
    assert parse_schema(print_schema(schema)) == schema


# -- property: any tree the parser can produce prints back to itself ---------------------------

_RESERVED = {
    "definition",
    "caveat",
    "relation",
    "permission",
    "nil",
    "with",
    "any",
    "all",
    "and",
    "use",
    *USE_FLAGS,
}
names = st.builds(
    lambda first, middle, last: first + middle + last,
    st.sampled_from("abcnrsuvw"),
    st.text("aelnrsw_19", min_size=1, max_size=5),
    st.sampled_from("eilnst09"),
).filter(lambda n: n not in _RESERVED)
type_names = st.lists(names, min_size=1, max_size=3).map("/".join)

leaves: st.SearchStrategy[ast.Expr] = st.one_of(
    names.map(ast.RelationRef),
    st.builds(ast.Arrow, names, names, st.sampled_from(["any", "all"])),
    st.just(ast.Nil()),
    st.just(ast.SelfRef()),
)


def _compound(children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    many = st.lists(children, min_size=2, max_size=4).map(tuple)
    return st.one_of(
        many.map(ast.Union),
        many.map(ast.Intersection),
        st.builds(ast.Exclusion, children, children),
    )


expressions = st.recursive(leaves, _compound, max_leaves=8)

allowed_types = st.builds(
    ast.AllowedType,
    type_names,
    st.none() | names,
    st.just(False),
    st.none() | type_names,
    st.booleans(),
) | st.builds(lambda t: ast.AllowedType(t, wildcard=True), type_names)

members: st.SearchStrategy[ast.Relation | ast.Permission] = st.one_of(
    st.builds(ast.Relation, names, st.lists(allowed_types, min_size=1, max_size=3).map(tuple)),
    st.builds(
        ast.Permission,
        names,
        expressions,
        st.lists(type_names, max_size=2).map(tuple),
    ),
)

caveat_types = st.recursive(
    st.sampled_from(["int", "string", "any", "timestamp"]).map(ast.CaveatType),
    lambda inner: st.builds(
        ast.CaveatType, st.sampled_from(["list", "map"]), inner.map(lambda t: (t,))
    ),
    max_leaves=3,
)

caveats = st.builds(
    ast.Caveat,
    type_names,
    st.lists(st.builds(ast.CaveatParameter, names, caveat_types), min_size=1, max_size=3).map(
        tuple
    ),
    st.sampled_from(["a == 1", "x in {'k': [1, 2]}", "a &&\n  b || c"]),
)

schemas = st.builds(
    ast.Schema,
    st.lists(
        st.builds(ast.Definition, type_names, st.lists(members, max_size=4).map(tuple)),
        max_size=4,
    ).map(tuple),
    st.lists(caveats, max_size=2).map(tuple),
    st.just(("expiration", "self")),
)


@settings(deadline=None)
@given(schemas)
def test_printed_schema_parses_back_to_the_same_tree(schema: ast.Schema) -> None:
    printed = print_schema(schema)
    assert parse_schema(printed) == schema
    assert print_schema(parse_schema(printed)) == printed
