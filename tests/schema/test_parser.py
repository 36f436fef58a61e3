"""Syntax of the schema language: what parses to what, and where syntax errors point."""

from __future__ import annotations

import pytest

from rebac.errors import SchemaError
from rebac.schema import ast, parse_schema
from rebac.schema.parser import Import, ParsedSchema, Partial, PartialRef

A, B, C = ast.RelationRef("a"), ast.RelationRef("b"), ast.RelationRef("c")


def expr_of(expression: str, *, flags: str = "") -> ast.Expr:
    schema = parse_schema(f"{flags}\ndefinition doc {{\n  permission p = {expression}\n}}")
    member = schema.definitions[0].members[0]
    assert isinstance(member, ast.Permission)
    return member.expr


def allowed_of(types: str, *, flags: str = "") -> tuple[ast.AllowedType, ...]:
    schema = parse_schema(f"{flags}\ndefinition doc {{\n  relation r: {types}\n}}")
    member = schema.definitions[0].members[0]
    assert isinstance(member, ast.Relation)
    return member.allowed


def syntax_error(text: str) -> SchemaError:
    with pytest.raises(SchemaError) as info:
        parse_schema(text, source="t.zed")
    return info.value


# -- expressions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a + b + c", ast.Union((A, B, C))),
        ("a & b & c", ast.Intersection((A, B, C))),
        ("a - b - c", ast.Exclusion(ast.Exclusion(A, B), C)),
        # SpiceDB precedence: '+' binds tightest, then '&', then '-'.
        ("a + b & c", ast.Intersection((ast.Union((A, B)), C))),
        ("a & b + c", ast.Intersection((A, ast.Union((B, C))))),
        ("a - b + c", ast.Exclusion(A, ast.Union((B, C)))),
        ("a - b & c", ast.Exclusion(A, ast.Intersection((B, C)))),
        ("(a - b) + c", ast.Union((ast.Exclusion(A, B), C))),
        ("a - (b - c)", ast.Exclusion(A, ast.Exclusion(B, C))),
        ("(a + b) + c", ast.Union((ast.Union((A, B)), C))),
        ("((a))", A),
        ("nil", ast.Nil()),
        ("a + nil", ast.Union((A, ast.Nil()))),
    ],
)
def test_expression_follows_spicedb_precedence_and_keeps_parentheses(
    text: str, tree: ast.Expr
) -> None:
    assert expr_of(text) == tree


def test_arrow_forms_parse_to_arrows_with_their_function() -> None:
    assert expr_of("parent->view") == ast.Arrow("parent", "view", "any")
    assert expr_of("parent.any(view)") == ast.Arrow("parent", "view", "any")
    assert expr_of("parent.all(view)") == ast.Arrow("parent", "view", "all")


def test_chained_arrow_keeps_the_inner_chain_as_text_for_the_compiler_to_reject() -> None:
    assert expr_of("a->b->c") == ast.Arrow("a->b", "c")
    assert expr_of("a.any(b).all(c)->d") == ast.Arrow("a->b.all(c)", "d")


def test_arrow_function_other_than_any_or_all_is_a_syntax_error() -> None:
    error = syntax_error("definition d {\n  permission v = a.foo(bar)\n}")
    assert (error.line, error.column) == (2, 20)
    assert "'foo'" in error.message


def test_arrow_to_a_parenthesised_expression_is_a_syntax_error() -> None:
    error = syntax_error("definition d {\n  permission v = a->(b)\n}")
    assert (error.line, error.column) == (2, 21)


def test_self_is_an_expression_only_under_use_self() -> None:
    assert expr_of("a + self", flags="use self") == ast.Union((A, ast.SelfRef()))
    assert expr_of("a + self") == ast.Union((A, ast.RelationRef("self")))


def test_expression_may_continue_on_the_next_line_after_an_operator() -> None:
    assert expr_of("a +\n    b") == ast.Union((A, B))


def test_line_breaks_inside_parentheses_are_ignored() -> None:
    assert expr_of("(\n    a\n    + b\n  )") == ast.Union((A, B))


def test_missing_expression_points_at_the_token_after_equals() -> None:
    error = syntax_error("definition foo {\n    permission bar = \n}")
    assert (error.line, error.column) == (3, 1)
    assert "found '}'" in error.message


# -- relations --------------------------------------------------------------------------------


def test_allowed_type_forms() -> None:
    assert allowed_of("user | user:* | group#member | group#... | org/team/user") == (
        ast.AllowedType("user"),
        ast.AllowedType("user", wildcard=True),
        ast.AllowedType("group", "member"),
        ast.AllowedType("group"),
        ast.AllowedType("org/team/user"),
    )


def test_caveat_and_expiration_traits() -> None:
    allowed = allowed_of(
        "user with c1 | user:* with c2 | user with expiration | user with p/c3 and expiration",
        flags="use expiration",
    )
    assert allowed == (
        ast.AllowedType("user", caveat="c1"),
        ast.AllowedType("user", wildcard=True, caveat="c2"),
        ast.AllowedType("user", expiration=True),
        ast.AllowedType("user", caveat="p/c3", expiration=True),
    )


def test_without_use_expiration_the_word_expiration_is_a_caveat_name() -> None:
    assert allowed_of("user with expiration") == (ast.AllowedType("user", caveat="expiration"),)


def test_expiration_before_caveat_is_a_syntax_error() -> None:
    error = syntax_error(
        "use expiration\ndefinition r {\n  relation e: user with expiration and somecaveat\n}"
    )
    assert (error.line, error.column) == (3, 36)
    assert "caveat must come before expiration" in error.message


def test_missing_colon_error_quotes_the_whole_type_path() -> None:
    error = syntax_error("definition p {\n  relation owner example/user\n}")
    assert error.message == "expected ':' after relation name 'owner', found 'example/user'"
    assert (error.line, error.column) == (2, 18)
    assert error.format() == "t.zed:2:18: expected ':' after relation name 'owner', found " + (
        "'example/user'"
    )


def test_broken_wildcard_is_a_syntax_error() -> None:
    error = syntax_error("definition r {\n  relation v: user | user: | other\n}")
    assert (error.line, error.column) == (2, 28)


def test_keyword_cannot_name_a_relation() -> None:
    error = syntax_error("definition r {\n  relation nil: user\n}")
    assert error.message == "expected a relation name after 'relation', found keyword 'nil'"


# -- statements and terminators ---------------------------------------------------------------


def test_members_end_with_newline_semicolon_or_closing_brace() -> None:
    schema = parse_schema("definition d { relation a: user; relation b: user }")
    assert [m.name for m in schema.definitions[0].members] == ["a", "b"]


def test_two_members_on_one_line_without_separator_is_an_error() -> None:
    error = syntax_error("definition d {\n  relation a: user relation b: user\n}")
    assert (error.line, error.column) == (2, 20)
    assert "found keyword 'relation'" in error.message


def test_top_level_items_need_no_terminator() -> None:
    schema = parse_schema("use self definition user {\n  permission me = self\n}")
    assert schema.use_flags == ("self",)
    assert schema.definitions[0].name == "user"


def test_unclosed_definition_reports_end_of_input() -> None:
    error = syntax_error("definition foo {\n\n")
    assert (error.line, error.column) == (3, 1)
    assert "found end of input" in error.message


def test_unknown_character_is_a_syntax_error() -> None:
    error = syntax_error("definition d {\n  relation a: user @\n}")
    assert (error.line, error.column) == (2, 20)


# -- use flags --------------------------------------------------------------------------------


def test_use_flags_are_recorded_once_in_order() -> None:
    schema = parse_schema("use typechecking\nuse expiration\nuse typechecking\n")
    assert schema.use_flags == ("typechecking", "expiration")


def test_unknown_use_flag_is_an_error_naming_the_options() -> None:
    error = syntax_error("use something\n")
    assert (error.line, error.column) == (1, 5)
    assert "'something'" in error.message
    assert "expiration, import, partial, self, typechecking" in error.message


def test_use_after_a_definition_is_an_error() -> None:
    error = syntax_error("definition resource {}\n\nuse expiration")
    assert (error.line, error.column) == (3, 1)


def test_use_expiration_makes_expiration_a_keyword() -> None:
    parse_schema("caveat expiration(p int) {\n  p == 1\n}")
    error = syntax_error("use expiration\ncaveat expiration(p int) {\n  p == 1\n}")
    assert (error.line, error.column) == (2, 8)


# -- caveats ----------------------------------------------------------------------------------


def test_caveat_parameters_types_and_raw_expression() -> None:
    schema = parse_schema(
        "caveat c(a int, b list<string>, m map<any>) {\n"
        "  a == 1 && 'x}' in b && {\"k\": {1: 2}}.size() > 0\n"
        "}\n"
    )
    caveat = schema.caveats[0]
    assert [(p.name, str(p.type)) for p in caveat.parameters] == [
        ("a", "int"),
        ("b", "list<string>"),
        ("m", "map<any>"),
    ]
    assert caveat.expression == "a == 1 && 'x}' in b && {\"k\": {1: 2}}.size() > 0"
    assert caveat.expression_pos == ast.Position(2, 3)
    assert caveat.pos == ast.Position(1, 8)


def test_multiline_caveat_expression_is_kept_verbatim_between_first_and_last_token() -> None:
    schema = parse_schema("caveat c(a int) {\n  // why\n  a == 1 &&\n    a != 2  \n}")
    assert schema.caveats[0].expression == "a == 1 &&\n    a != 2"


def test_caveat_parameter_list_may_span_lines() -> None:
    schema = parse_schema("caveat c(\n  a int,\n  b string\n) {\n  a == 1\n}")
    assert [p.name for p in schema.caveats[0].parameters] == ["a", "b"]


def test_empty_caveat_body_is_an_error() -> None:
    error = syntax_error("caveat c(a int) {\n}")
    assert (error.line, error.column) == (2, 1)
    assert "empty expression" in error.message


def test_unclosed_caveat_body_is_an_error() -> None:
    error = syntax_error("caveat c(a int) {\n  a{\n\n}\n")
    assert "not closed" in error.message


def test_caveat_name_may_have_prefixes() -> None:
    schema = parse_schema("caveat foo/bar/only_on_tuesday(day string) {\n  day == 'tue'\n}")
    assert schema.caveats[0].name == "foo/bar/only_on_tuesday"


# -- permissions with type annotations ---------------------------------------------------------


def test_permission_type_annotation_is_recorded() -> None:
    schema = parse_schema("definition d {\n  permission view: user | org/group = viewer\n}")
    member = schema.definitions[0].members[0]
    assert isinstance(member, ast.Permission)
    assert member.annotation == ("user", "org/group")


@pytest.mark.parametrize("annotation", [":: user", ": =", ": | user", ": user | =", ":\n ="])
def test_malformed_type_annotation_is_a_syntax_error(annotation: str) -> None:
    syntax_error(f"definition d {{\n  permission view{annotation} = viewer\n}}")


# -- doc comments -----------------------------------------------------------------------------


def test_doc_comments_attach_to_the_following_item() -> None:
    schema = parse_schema(
        "/**\n * the user\n */\ndefinition user {}\n\n"
        "definition doc {\n"
        "  relation a: user // trailing comments are not docs\n"
        "  // first line\n  // second line\n  permission p = a\n}\n"
        "// about c\ncaveat c(x int) {\n  x == 1\n}\n"
    )
    user, doc = schema.definitions
    assert user.doc == "/**\n * the user\n */"
    relation, permission = doc.members
    assert relation.doc is None
    assert permission.doc == "// first line\n// second line"
    assert schema.caveats[0].doc == "// about c"


def test_indented_block_comment_is_reindented() -> None:
    schema = parse_schema("\t\t/**\n\t\t * indented\n\t\t */\n\t\tdefinition user {}")
    assert schema.definitions[0].doc == "/**\n * indented\n */"


def test_docs_and_positions_do_not_affect_equality() -> None:
    assert parse_schema("// a\ndefinition user {}") == parse_schema("\n\ndefinition   user{}")


# -- imports and partials ---------------------------------------------------------------------


def test_imports_and_partials_are_recorded_in_a_parsed_schema() -> None:
    schema = parse_schema(
        "use import\nuse partial\n"
        'import "a/b.zed"\n'
        "partial p {\n  relation x: user\n}\n"
        "definition user {}\n"
        "definition d {\n  relation y: user\n  ...p\n}\n"
    )
    assert isinstance(schema, ParsedSchema)
    assert schema.imports == (Import("a/b.zed"),)
    assert schema.partials == (Partial("p", (ast.Relation("x", (ast.AllowedType("user"),)),)),)
    assert schema.partial_refs == ((1, PartialRef("p", 1)),)
    assert schema.layout == (("import", 0), ("partial", 0), ("definition", 0), ("definition", 1))


@pytest.mark.parametrize(
    ("literal", "path"),
    [('"x/y.zed"', "x/y.zed"), ("'x/y.zed'", "x/y.zed"), ('"""x/\'"y.zed"""', "x/'\"y.zed")],
)
def test_import_path_quotes(literal: str, path: str) -> None:
    schema = parse_schema(f"use import\nimport {literal}\n")
    assert isinstance(schema, ParsedSchema)
    assert schema.imports[0].path == path


def test_import_needs_use_import() -> None:
    error = syntax_error('import "x.zed"\n')
    assert error.message == "'import' needs 'use import' at the top of the schema"


def test_unterminated_import_path_is_an_error() -> None:
    error = syntax_error('use import\nimport "x.zed\n')
    assert (error.line, error.column) == (2, 8)


def test_deeply_nested_parentheses_are_refused_with_a_schema_error() -> None:
    deep = "(" * 500 + "a" + ")" * 500
    error = syntax_error(f"definition d {{\n  permission p = {deep}\n}}")
    assert "nested more than 64 parentheses" in error.message
    assert expr_of("(" * 64 + "a" + ")" * 64) == A
