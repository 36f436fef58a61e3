"""schema write / read / diff against a live server (check and format stay offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rebac.client import Client
from tests.cli.conftest import SCHEMA, Rebac


@pytest.fixture
def schema_file(tmp_path: Path) -> Path:
    path = tmp_path / "schema.zed"
    path.write_text(SCHEMA, encoding="utf-8")
    return path


def test_write_then_read(rebac: Rebac, server: object, schema_file: Path) -> None:
    written = rebac("schema", "write", str(schema_file))
    assert (written.code, written.out) == (0, "")
    assert written.err == f"schema written from {schema_file}\n"
    read = rebac("schema", "read")
    assert (read.code, read.out) == (0, SCHEMA)


def test_write_show_token(rebac: Rebac, server: object, schema_file: Path) -> None:
    r = rebac("schema", "write", str(schema_file), "--show-token")
    assert r.code == 0 and r.out.strip()
    read = rebac("schema", "read", "--consistency", r.out.strip(), "--show-token")
    assert read.code == 0 and read.err.startswith("token: ")


def test_write_reports_file_line_and_column(rebac: Rebac, server: object, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zed"
    bad.write_text("definition user {}\n\ndefinition doc {\n    relation viewer: usr\n}\n")
    r = rebac("schema", "write", str(bad))
    assert r.code == 3
    assert r.err.startswith(f"rebac schema write: {bad}:4:")
    assert "usr" in r.err


def test_write_expands_imports(rebac: Rebac, client: Client, tmp_path: Path) -> None:
    (tmp_path / "users.zed").write_text("definition user {}\n")
    main = tmp_path / "main.zed"
    main.write_text(
        'use import\n\nimport "users.zed"\n\ndefinition doc {\n    relation viewer: user\n}\n'
    )
    assert rebac("schema", "write", str(main)).code == 0
    text = client.read_schema().text
    assert "definition user {}" in text
    assert 'import "' not in text


def test_write_refused_while_relationships_use_it(
    rebac: Rebac, client: Client, schema_file: Path, tmp_path: Path
) -> None:
    client.write_schema(SCHEMA)
    client.touch("document:d1#banned@user:a")
    smaller = tmp_path / "smaller.zed"
    smaller.write_text(SCHEMA.replace("    relation banned: user\n", "").replace(" - banned", ""))
    r = rebac("schema", "write", str(smaller))
    assert r.code == 3
    assert "banned" in r.err


def test_read_without_schema(rebac: Rebac, server: object) -> None:
    r = rebac("schema", "read")
    assert r.code == 3
    assert r.err.startswith("rebac schema read: ")


def test_unreadable_file(rebac: Rebac, server: object, tmp_path: Path) -> None:
    r = rebac("schema", "write", str(tmp_path / "missing.zed"))
    assert r.code == 3 and "cannot read" in r.err


def test_diff(rebac: Rebac, client: Client, schema_file: Path, tmp_path: Path) -> None:
    client.write_schema(SCHEMA)
    same = rebac("schema", "diff", str(schema_file), "--exit-code")
    assert (same.code, same.out) == (0, "")
    assert "no changes" in same.err

    changed = tmp_path / "changed.zed"
    changed.write_text(
        SCHEMA.replace(
            "    relation banned: user\n", "    relation banned: user\n    relation editor: user\n"
        )
    )
    r = rebac("schema", "diff", str(changed))
    assert (r.code, r.lines) == (0, ["relation added: document#editor"])
    assert rebac("schema", "diff", str(changed), "--exit-code").code == 1


def test_diff_against_no_schema_lists_everything(
    rebac: Rebac, server: object, schema_file: Path
) -> None:
    r = rebac("schema", "diff", str(schema_file))
    assert r.code == 0
    assert "definition added: document" in r.lines


def test_offline_commands_unchanged(rebac: Rebac, schema_file: Path) -> None:
    # No server needed (and none is running in this test).
    check = rebac("schema", "check", str(schema_file))
    assert check.code == 0 and "ok (3 definitions, 1 caveat)" in check.out
    fmt = rebac("schema", "format", str(schema_file))
    assert fmt.code == 0 and "definition document" in fmt.out


def test_diff_two_files_offline(rebac: Rebac, schema_file: Path, tmp_path: Path) -> None:
    # No server fixture: two files are compared without connecting.
    changed = tmp_path / "changed.zed"
    changed.write_text(SCHEMA.replace("    permission edit = owner\n", ""))
    r = rebac("schema", "diff", str(schema_file), str(changed), "--exit-code")
    assert (r.code, r.lines) == (1, ["permission removed: document#edit"])
    same = rebac("schema", "diff", str(schema_file), str(schema_file), "--exit-code")
    assert (same.code, same.out) == (0, "")
    bad = tmp_path / "bad.zed"
    bad.write_text("definition {")
    broken = rebac("schema", "diff", str(schema_file), str(bad))
    assert broken.code == 3 and f"{bad}:1:" in broken.err
    too_many = rebac("schema", "diff", str(bad), str(bad), str(bad))
    assert too_many.code == 3
