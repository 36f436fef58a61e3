"""The compiler's type checks (one test per error, position asserted) and its lookup tables."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from rebac.errors import SchemaError, SchemaTypeError
from rebac.schema import CompiledSchema, ast, compile_schema, parse_schema
from tests.conftest import SHARED_DIR


def type_error(text: str) -> SchemaTypeError:
    with pytest.raises(SchemaTypeError) as info:
        compile_schema(text, source="t.zed")
    return info.value


def assert_error(text: str, line: int, column: int, message: str) -> None:
    error = type_error(text)
    assert (error.line, error.column, error.message) == (line, column, message)
    assert error.source == "t.zed"


# -- a valid schema and its tables ------------------------------------------------------------

DOCS = """\
use expiration

caveat only_on(day string) {
  day == 'tue'
}

definition user {}

definition group {
  relation member: user | group#member
}

definition document {
  relation parent: document
  relation viewer: user | user:* | group#member | user with only_on | user with expiration
  permission view = viewer + parent->view
}
"""


def test_compiled_schema_indexes_definitions_members_and_caveats() -> None:
    compiled = compile_schema(DOCS)
    assert isinstance(compiled, CompiledSchema)
    assert list(compiled.definitions) == ["user", "group", "document"]
    assert list(compiled.caveats) == ["only_on"]
    assert set(compiled.relations) == {
        ("group", "member"),
        ("document", "parent"),
        ("document", "viewer"),
    }
    assert set(compiled.permissions) == {("document", "view")}
    assert compiled.use_flags == frozenset({"expiration"})
    assert compiled.member("document", "view") is compiled.permissions["document", "view"]
    assert compiled.member("document", "parent") is compiled.relations["document", "parent"]
    assert compiled.member("document", "nope") is None
    assert compiled.member("nope", "view") is None


def test_compiled_tables_are_read_only() -> None:
    compiled = compile_schema(DOCS)
    with pytest.raises(TypeError):
        compiled.definitions["x"] = compiled.definitions["user"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        compiled.schema = compiled.schema  # type: ignore[misc]


def test_compiled_text_parses_back_to_the_same_schema() -> None:
    compiled = compile_schema(DOCS)
    assert parse_schema(compiled.text()) == compiled.schema
    assert compile_schema(compiled.text()).text() == compiled.text()


def test_compile_accepts_an_already_parsed_schema() -> None:
    assert compile_schema(parse_schema(DOCS)).schema == parse_schema(DOCS)


def test_syntax_errors_are_plain_schema_errors() -> None:
    with pytest.raises(SchemaError) as info:
        compile_schema("definition {}")
    assert not isinstance(info.value, SchemaTypeError)


def test_arrow_target_may_exist_on_only_some_subject_types() -> None:
    # conformance file spicedb/arrowsublr.yaml: special_user exists on user, not on group.
    compile_schema(
        "definition special_user {}\n"
        "definition user {\n  relation mapping: special_user\n"
        "  permission special_user = mapping\n}\n"
        "definition group {\n  relation member: user\n  permission membership = member\n}\n"
        "definition system {\n"
        "  relation viewer: user | group#membership\n"
        "  permission view = viewer + viewer->special_user\n}\n"
    )


def test_self_and_type_annotations_compile_when_declared() -> None:
    compile_schema(
        "use self\ndefinition user {\n  relation friend: user\n"
        "  permission myself: user = self + friend\n}"
    )


# -- names ------------------------------------------------------------------------------------


def test_invalid_definition_name() -> None:
    assert_error(
        "definition User {}",
        1,
        12,
        "invalid definition name 'User': expected lowercase letters, digits and '_' "
        "(3 to 64 characters per '/'-separated segment)",
    )


def test_invalid_relation_name() -> None:
    assert_error(
        "definition user {}\ndefinition doc {\n  relation vi: user\n}",
        3,
        12,
        "invalid relation name 'vi' on definition 'doc': expected 3 to 64 lowercase letters, "
        "digits and '_', starting with a letter",
    )


def test_invalid_permission_name() -> None:
    error = type_error("definition doc {\n  relation viewer: doc\n  permission View_ = viewer\n}")
    assert (error.line, error.column) == (3, 14)
    assert "invalid permission name 'View_'" in error.message


def test_invalid_caveat_name() -> None:
    error = type_error("caveat Only(a int) {\n  a == 1\n}")
    assert (error.line, error.column) == (1, 8)
    assert "invalid caveat name 'Only'" in error.message


def test_invalid_caveat_parameter_name() -> None:
    assert_error(
        "caveat only_on(null int) {\n  1 == 1\n}",
        1,
        16,
        "invalid parameter name 'null' in caveat 'only_on'",
    )


def test_duplicate_definition() -> None:
    assert_error(
        "definition user {}\n\ndefinition user {}",
        3,
        12,
        "found name reused between multiple definitions and/or caveats: 'user' "
        "(first defined at line 1, column 12)",
    )


def test_definition_and_caveat_share_one_namespace() -> None:
    error = type_error("caveat user_name(a int) {\n  a == 1\n}\ndefinition user_name {}")
    assert (error.line, error.column) == (4, 12)
    assert "'user_name'" in error.message


def test_duplicate_relation_or_permission() -> None:
    assert_error(
        "definition user {}\ndefinition doc {\n  relation viewer: user\n"
        "  permission viewer = viewer\n}",
        4,
        14,
        "duplicate relation or permission 'viewer' on definition 'doc'",
    )


def test_duplicate_caveat_parameter() -> None:
    assert_error(
        "caveat only_on(day string, day int) {\n  day == 1\n}",
        1,
        28,
        "duplicate parameter 'day' in caveat 'only_on'",
    )


# -- allowed types ----------------------------------------------------------------------------


def test_unknown_definition_in_allowed_type() -> None:
    assert_error(
        "definition doc {\n  relation viewer: doc | usr\n}",
        2,
        26,
        "unknown definition 'usr' in relation 'viewer' of definition 'doc'",
    )


def test_unknown_subject_relation() -> None:
    assert_error(
        "definition group {\n  relation member: group\n}\n"
        "definition doc {\n  relation viewer: group#membr\n}",
        5,
        20,
        "unknown relation or permission 'membr' on definition 'group' "
        "(in relation 'viewer' of definition 'doc')",
    )


def test_unknown_caveat() -> None:
    assert_error(
        "definition user {}\ndefinition doc {\n  relation viewer: user with on_tuesday\n}",
        3,
        20,
        "unknown caveat 'on_tuesday' in relation 'viewer' of definition 'doc'",
    )


def test_with_expiration_needs_use_expiration() -> None:
    assert_error(
        "definition user {}\ndefinition doc {\n  relation viewer: user | user with expiration\n}",
        3,
        27,
        "'with expiration' in relation 'viewer' of definition 'doc' needs 'use expiration' "
        "at the top of the schema",
    )


def test_expiration_trait_in_a_tree_without_the_flag_is_rejected() -> None:
    user = ast.Definition("user", ())
    relation = ast.Relation("viewer", (ast.AllowedType("user", expiration=True),))
    schema = ast.Schema((user, ast.Definition("doc", (relation,))))
    with pytest.raises(SchemaTypeError) as info:
        compile_schema(schema)
    # Trees built in code have no positions: the error says (0, 0).
    assert (info.value.line, info.value.column) == (0, 0)
    assert "needs 'use expiration'" in info.value.message


def test_duplicate_allowed_type() -> None:
    assert_error(
        "definition user {}\ndefinition doc {\n  relation viewer: user | user\n}",
        3,
        27,
        "duplicate allowed type 'user' in relation 'viewer' of definition 'doc'",
    )


# -- expressions ------------------------------------------------------------------------------


def test_unknown_relation_in_expression() -> None:
    assert_error(
        "definition user {}\ndefinition document {\n  relation viewer: user\n"
        "  permission view = viewer + viewr\n}",
        4,
        30,
        "unknown relation or permission 'viewr' on definition 'document'",
    )


def test_self_needs_use_self() -> None:
    assert_error(
        "definition user {\n  relation friend: user\n  permission myself = friend + self\n}",
        3,
        32,
        "'self' needs 'use self' at the top of the schema",
    )


def test_self_node_in_a_tree_without_the_flag_is_rejected() -> None:
    permission = ast.Permission("myself", ast.SelfRef(ast.Position(3, 4)))
    with pytest.raises(SchemaTypeError) as info:
        compile_schema(ast.Schema((ast.Definition("user", (permission,)),)))
    assert (info.value.line, info.value.column) == (3, 4)
    assert "needs 'use self'" in info.value.message


def test_arrow_from_unknown_relation() -> None:
    assert_error(
        "definition doc {\n  relation parent: doc\n  permission view = parnt->view\n}",
        3,
        21,
        "unknown relation 'parnt' on definition 'doc' (left side of arrow 'parnt->view')",
    )


def test_arrow_from_a_permission() -> None:
    assert_error(
        "definition doc {\n  relation parent: doc\n  permission upper = parent\n"
        "  permission view = upper->view\n}",
        4,
        21,
        "the left side of arrow 'upper->view' must be a relation, but 'upper' is a permission on "
        "definition 'doc'",
    )


def test_arrow_from_a_relation_with_a_wildcard() -> None:
    assert_error(
        "definition user {\n  relation self_view: user\n}\n"
        "definition doc {\n  relation viewer: user:*\n  permission view = viewer->self_view\n}",
        6,
        21,
        "relation 'viewer' of definition 'doc' reaches the wildcard 'user:*' (via "
        "'doc#viewer'), so it cannot be used on the left side of arrow 'viewer->self_view'",
    )


def test_arrow_from_a_relation_reaching_a_wildcard_through_a_subject_relation() -> None:
    error = type_error(
        "definition user {\n  relation owner: user\n}\n"
        "definition group {\n  relation member: user:*\n}\n"
        "definition doc {\n  relation viewer: group#member\n"
        "  permission view = viewer.all(owner)\n}"
    )
    assert (error.line, error.column) == (9, 21)
    assert "via 'group#member'" in error.message


def test_arrow_target_on_none_of_the_subject_types() -> None:
    assert_error(
        "definition user {}\ndefinition group {\n  relation member: user\n}\n"
        "definition doc {\n  relation viewer: user | group\n"
        "  permission view = viewer->owner\n}",
        7,
        21,
        "'owner' (target of arrow 'viewer->owner') is a relation or permission on none of the "
        "subject types of relation 'viewer': user, group",
    )


def test_nested_arrows_are_rejected() -> None:
    assert_error(
        "definition doc {\n  relation parent: doc\n  permission view = parent->parent->view\n}",
        3,
        21,
        "nested arrows are not supported: 'parent->parent->view' in permission 'view'",
    )


def test_unknown_type_in_permission_annotation() -> None:
    assert_error(
        "definition doc {\n  relation viewer: doc\n  permission view: usr = viewer\n}",
        3,
        14,
        "unknown definition 'usr' in the type annotation of permission 'view' on definition 'doc'",
    )


# -- caveat parameter types -------------------------------------------------------------------


@pytest.mark.parametrize(
    "ptype",
    [
        "int",
        "uint",
        "bool",
        "string",
        "double",
        "bytes",
        "duration",
        "timestamp",
        "ipaddress",
        "any",
        "list<int>",
        "map<any>",
        "list<map<list<string>>>",
    ],
)
def test_known_caveat_parameter_types_compile(ptype: str) -> None:
    compile_schema(f"caveat c_name(p {ptype}) {{\n  true\n}}")


def test_unknown_caveat_parameter_type() -> None:
    error = type_error("caveat only_on(day str) {\n  day == 'x'\n}")
    assert (error.line, error.column) == (1, 16)
    assert error.message.startswith("unknown type 'str' for parameter 'day' of caveat 'only_on'")


@pytest.mark.parametrize(
    ("ptype", "fragment"),
    [
        ("list", "needs exactly one type argument"),
        ("map<string, int>", "needs exactly one type argument"),
        ("int<string>", "takes no type arguments"),
        ("list<strin>", "unknown type 'strin'"),
    ],
)
def test_caveat_type_arguments_are_checked(ptype: str, fragment: str) -> None:
    error = type_error(f"caveat c_name(p {ptype}) {{\n  true\n}}")
    assert (error.line, error.column) == (1, 15)
    assert fragment in error.message


# -- every conformance schema compiles --------------------------------------------------------


def _conformance_schemas() -> list[Any]:
    folders = [
        SHARED_DIR / "conformance" / "spicedb",
        SHARED_DIR / "conformance" / "spicedb-steelthread" / "testdata",
    ]
    files = sorted(p for folder in folders if folder.exists() for p in folder.glob("*.yaml*"))
    if not files:
        return [pytest.param(None, id="corpus-missing")]
    return [pytest.param(path, id=path.name) for path in files]


@pytest.mark.parametrize("path", _conformance_schemas())
def test_conformance_schema_compiles_and_round_trips(path: Path | None) -> None:
    if path is None:
        pytest.skip("../shared/conformance not present (validation files missing)")
    text = yaml.safe_load(path.read_text(encoding="utf-8"))["schema"]
    compiled = compile_schema(text, source=path.name)
    assert compiled.definitions
    assert parse_schema(compiled.text()) == compiled.schema
    assert parse_schema(text) == compiled.schema


def test_relations_are_checked_before_permissions_that_use_them() -> None:
    # The arrow comes first in the text, but the root cause is the relation's unknown type.
    assert_error(
        "definition doc {\n  permission view = parent->view\n  relation parent: folder\n}",
        3,
        20,
        "unknown definition 'folder' in relation 'parent' of definition 'doc'",
    )


@pytest.mark.parametrize("name", ["nil", "permission", "org/with"])
def test_keyword_names_in_trees_built_in_code_are_rejected(name: str) -> None:
    # The parser never produces these, but their printed text would not parse back.
    with pytest.raises(SchemaTypeError, match=f"keyword '{name.split('/')[-1]}' cannot be used"):
        compile_schema(ast.Schema((ast.Definition(name, ()),)))


def test_flag_keywords_are_reserved_only_under_their_flag() -> None:
    relation = ast.Relation("expiration", (ast.AllowedType("doc"),))
    compile_schema(ast.Schema((ast.Definition("doc", (relation,)),)))
    with pytest.raises(SchemaTypeError, match="keyword 'expiration'"):
        compile_schema(ast.Schema((ast.Definition("doc", (relation,)),), (), ("expiration",)))
