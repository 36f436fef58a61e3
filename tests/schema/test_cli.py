"""``rebac schema check`` and ``rebac schema format``."""

from __future__ import annotations

from pathlib import Path

import pytest

from rebac.cli.main import main

VALID = """\
caveat on_day(day string) {
  day == 'tue'
}
definition user {}
definition group {
  relation member: user
}
definition document {
  relation viewer: user | group#member | user with on_day
  permission view = viewer
}
"""

UNKNOWN_TYPE = "definition document {\n  relation viewer: usr\n}\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_check_valid_schema_prints_a_summary_and_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "schema.zed", VALID)
    assert main(["schema", "check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{path}: ok (3 definitions, 1 caveat)\n"
    assert err == ""


def test_check_type_error_prints_file_line_column_and_exits_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "schema.zed", UNKNOWN_TYPE)
    assert main(["schema", "check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"{path}:2:20: unknown definition 'usr' in relation 'viewer' of definition 'document'\n"
    )


def test_check_syntax_error_prints_file_line_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "bad.zed", "definition p {\n  relation owner example/user\n}\n")
    assert main(["schema", "check", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"{path}:2:18: expected ':' after relation name 'owner', found 'example/user'\n"
    )


def test_parse_only_accepts_unknown_types_that_full_check_rejects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "fragment.zed", UNKNOWN_TYPE)
    assert main(["schema", "check", "--parse-only", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: syntax ok (1 definition, 0 caveats)\n"
    assert main(["schema", "check", str(path)]) == 1


def test_check_resolves_imports_next_to_the_file_and_names_the_failing_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lib").mkdir()
    write(tmp_path / "lib", "user.zed", "definition user {\n  relation friend: usr\n}\n")
    path = write(tmp_path, "root.zed", 'use import\nimport "lib/user.zed"\n')
    assert main(["schema", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{tmp_path / 'lib' / 'user.zed'}:2:20: unknown definition 'usr'")


def test_check_unreadable_file_exits_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema", "check", str(tmp_path / "missing.zed")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_format_prints_canonical_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "schema.zed", "definition user {}\ndefinition doc { relation a: user }")
    assert main(["schema", "format", str(path)]) == 0
    assert capsys.readouterr().out == (
        "definition user {}\n\ndefinition doc {\n\trelation a: user\n}\n"
    )
