"""Imports and partials: SpiceDB's importer cases, plus partial expansion and its errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rebac.errors import SchemaError, SchemaTypeError
from rebac.schema import ast, compile_schema, parse_schema
from tests.conftest import SHARED_DIR

IMPORTER = SHARED_DIR / "conformance" / "spicedb-schema" / "importer"

COMPILING = [
    "simple-local",
    "simple-local-with-hop",
    "nested-local",
    "nested-local-with-hop",
    "nested-two-layer-local",
    "diamond-shaped",
    "multiple-use-directives",
    "many-imports",
]
FAILING = {
    "circular-import": ("circular import", "user.zed", 3, 1),
    "conflicting-definitions": (
        "found name reused between multiple definitions and/or caveats",
        "right.zed",
        1,
        12,
    ),
    "escape-attempt": ("must stay within", "root.zed", 3, 1),
    "missing-import": ('failed to read import "doesnotexist.zed"', "root.zed", 5, 1),
}


def _case(name: str) -> Path:
    folder = IMPORTER / name
    if not folder.exists():
        pytest.skip("../shared/conformance not present (importer cases missing)")
    return folder


def _compile_root(folder: Path) -> Any:
    root = folder / "root.zed"
    return compile_schema(root.read_text(encoding="utf-8"), source="root.zed", base_dir=folder)


@pytest.mark.parametrize("name", COMPILING)
def test_importer_case_merges_to_the_expected_definitions(name: str) -> None:
    folder = _case(name)
    compiled = _compile_root(folder)
    expected = parse_schema((folder / "expected.zed").read_text(encoding="utf-8"))
    assert compiled.schema.definitions == expected.definitions
    assert compiled.schema.caveats == expected.caveats
    assert set(expected.use_flags) <= compiled.use_flags


@pytest.mark.parametrize("name", sorted(FAILING))
def test_importer_case_fails_with_spicedb_message(name: str) -> None:
    fragment, source, line, column = FAILING[name]
    with pytest.raises(SchemaError) as info:
        _compile_root(_case(name))
    assert fragment in info.value.message
    assert (info.value.source, info.value.line, info.value.column) == (source, line, column)


# -- imports in temporary folders -------------------------------------------------------------


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_imported_definitions_are_spliced_in_where_the_import_stands(tmp_path: Path) -> None:
    write(tmp_path, {"lib.zed": "definition lib_one {}\ndefinition lib_two {}\n"})
    compiled = compile_schema(
        'use import\ndefinition first {}\nimport "lib.zed"\ndefinition last {}\n',
        base_dir=tmp_path,
    )
    assert list(compiled.definitions) == ["first", "lib_one", "lib_two", "last"]


def test_imports_resolve_relative_to_the_importing_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "sub/mid.zed": 'use import\nimport "deeper/user.zed"\n',
            "sub/deeper/user.zed": "definition user {}\n",
        },
    )
    compiled = compile_schema('use import\nimport "sub/mid.zed"\n', base_dir=tmp_path)
    assert list(compiled.definitions) == ["user"]


def test_type_errors_in_an_imported_file_name_that_file(tmp_path: Path) -> None:
    write(tmp_path, {"lib/doc.zed": "definition doc {\n  relation viewer: usr\n}\n"})
    with pytest.raises(SchemaTypeError) as info:
        compile_schema('use import\nimport "lib/doc.zed"\n', source="root.zed", base_dir=tmp_path)
    error = info.value
    assert (error.source, error.line, error.column) == ("lib/doc.zed", 2, 20)
    assert error.format() == "lib/doc.zed:2:20: " + error.message


def test_syntax_errors_in_an_imported_file_name_that_file(tmp_path: Path) -> None:
    write(tmp_path, {"bad.zed": "definition doc {\n"})
    with pytest.raises(SchemaError) as info:
        compile_schema('use import\nimport "bad.zed"\n', base_dir=tmp_path)
    assert (info.value.source, info.value.line) == ("bad.zed", 2)


def test_caveats_and_use_flags_of_imported_files_are_merged(tmp_path: Path) -> None:
    write(tmp_path, {"cav.zed": "use typechecking\ncaveat on_day(day string) {\n  day == 'x'\n}\n"})
    # Flags are per file (each file is lexed on its own): the root needs its own expiration.
    compiled = compile_schema(
        'use import\nuse expiration\nimport "cav.zed"\ndefinition user {}\n'
        "definition doc {\n  relation viewer: user with on_day and expiration\n}\n",
        base_dir=tmp_path,
    )
    assert list(compiled.caveats) == ["on_day"]
    assert compiled.schema.use_flags == ("import", "expiration", "typechecking")


def test_absolute_import_path_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, {"user.zed": "definition user {}\n"})
    with pytest.raises(SchemaError, match="must stay within"):
        compile_schema(f'use import\nimport "{tmp_path / "user.zed"}"\n', base_dir=tmp_path)


def test_import_without_a_base_directory_is_an_error() -> None:
    with pytest.raises(SchemaError) as info:
        compile_schema('use import\n\nimport "user.zed"\n')
    assert (info.value.line, info.value.column) == (3, 1)
    assert "no base directory" in info.value.message


# -- partials ---------------------------------------------------------------------------------

PARTIALS = """\
use partial

partial viewable {
  relation viewer: user
  permission view = viewer + editable_edit
}

partial editable {
  relation editor: user
  permission editable_edit = editor
}

definition user {}

definition doc {
  relation owner: user
  ...viewable
  ...editable
  permission admin = owner
}
"""


def test_partials_are_spliced_in_place_of_their_references() -> None:
    compiled = compile_schema(PARTIALS)
    doc = compiled.definitions["doc"]
    assert [m.name for m in doc.members] == [
        "owner",
        "viewer",
        "view",
        "editor",
        "editable_edit",
        "admin",
    ]
    assert compiled.member("doc", "view") is not None


def test_expanded_schema_is_a_plain_schema_that_prints_without_partials() -> None:
    compiled = compile_schema(PARTIALS)
    assert type(compiled.schema) is ast.Schema
    assert "partial" not in compiled.text().replace("use partial", "")
    assert parse_schema(compiled.text()) == compiled.schema


def test_partial_may_reference_another_partial() -> None:
    compiled = compile_schema(
        "use partial\npartial inner {\n  relation inner_rel: user\n}\n"
        "partial outer {\n  ...inner\n  relation outer_rel: user\n}\n"
        "definition user {}\ndefinition doc {\n  ...outer\n}\n"
    )
    assert [m.name for m in compiled.definitions["doc"].members] == ["inner_rel", "outer_rel"]


def test_unknown_partial_is_a_type_error() -> None:
    with pytest.raises(SchemaTypeError) as info:
        compile_schema("definition doc {\n  ...missing\n}\n")
    assert (info.value.line, info.value.column, info.value.message) == (
        2,
        3,
        "unknown partial 'missing'",
    )


def test_circular_partials_are_a_type_error() -> None:
    with pytest.raises(SchemaTypeError, match="circular partial reference: one -> two -> one"):
        compile_schema(
            "use partial\npartial one {\n  ...two\n}\npartial two {\n  ...one\n}\n"
            "definition doc {\n  ...one\n}\n"
        )


def test_partial_member_clashing_with_an_own_member_is_a_duplicate() -> None:
    with pytest.raises(SchemaTypeError, match="duplicate relation or permission 'viewer'"):
        compile_schema(
            "use partial\npartial viewable {\n  relation viewer: doc\n}\n"
            "definition doc {\n  relation viewer: doc\n  ...viewable\n}\n"
        )


def test_duplicate_partial_is_a_type_error() -> None:
    with pytest.raises(SchemaTypeError, match="duplicate partial 'part'") as info:
        compile_schema("use partial\npartial part {}\npartial part {}\n")
    assert (info.value.line, info.value.column) == (3, 9)
