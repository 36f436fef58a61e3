"""DiffSchema's comparison of two compiled schemas."""

from __future__ import annotations

from rebac.schema import compile_schema
from rebac.schema.diff import SchemaChange, diff_schemas

OLD = """
definition user {}
caveat cav(a int, b string) { a > 1 }
/** documents */
definition doc {
    relation viewer: user
    relation editor: user
    permission view = viewer + editor
}
definition gone {}
"""

NEW = """
definition user {}
caveat cav(a uint, d string) { a > 2 }
caveat fresh(x int) { x == 1 }
/** documents, renamed */
definition doc {
    relation viewer: user | user:*
    permission editor = viewer
    permission view = viewer
    relation owner: user
}
"""


def test_every_kind_of_change_in_a_stable_order() -> None:
    changes = diff_schemas(compile_schema(OLD), compile_schema(NEW))
    assert changes == [
        SchemaChange("definition_doc_changed", "doc"),
        SchemaChange("relation_subject_type_added", "doc", "viewer", "user:*"),
        SchemaChange("member_kind_changed", "doc", "editor", "relation->permission"),
        SchemaChange("permission_expr_changed", "doc", "view"),
        SchemaChange("relation_added", "doc", "owner"),
        SchemaChange("definition_removed", "gone"),
        SchemaChange("caveat_expr_changed", "cav"),
        SchemaChange("caveat_parameter_type_changed", "cav", "a", "int->uint"),
        SchemaChange("caveat_parameter_added", "cav", "d", "string"),
        SchemaChange("caveat_parameter_removed", "cav", "b", "string"),
        SchemaChange("caveat_added", "fresh"),
    ]


def test_no_schema_yet_means_everything_is_added() -> None:
    changes = diff_schemas(None, compile_schema("definition user {}"))
    assert changes == [SchemaChange("definition_added", "user")]
    assert diff_schemas(compile_schema(OLD), compile_schema(OLD)) == []
