"""import / export: the line format round trip, validation files, progress, atomicity."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from rebac.cli._output import Progress
from rebac.client import Client
from tests.cli.conftest import RELATIONSHIPS, SCHEMA, Rebac

LINES = [
    "document:a#viewer@user:u1",
    "document:b#owner@user:u2[expiration:2999-01-01T00:00:00Z]",
    'document:c#viewer@user:u3[on_weekday:{"day":"monday"}]',
    "document:d#viewer@group:eng#member",
    "document:e#viewer@user:*",
    "group:eng#member@user:u4",
]


def everything(client: Client) -> list[str]:
    found: list[str] = []
    for page in client.export():
        found.extend(str(r) for r in page.relationships)
    return found


@pytest.fixture
def schema(client: Client) -> Client:
    client.write_schema(SCHEMA)
    return client


def test_import_export_round_trip(rebac: Rebac, schema: Client, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("# a dump\n\n" + "\n".join(LINES) + "\n// done\n")
    imported = rebac("import", str(source), "--batch-size", "2")
    assert imported.code == 0
    assert imported.err == f"imported 6 relationships from {source}\n"
    assert imported.out == ""

    out = tmp_path / "out.txt"
    exported = rebac("export", "--out", str(out))
    assert exported.code == 0
    assert exported.err == f"exported 6 relationships to {out}\n"
    assert sorted(out.read_text().splitlines()) == sorted(LINES)

    # ... and the export loads into another store as the same relationships.
    schema.create_store("copy")
    schema.for_store("copy").write_schema(SCHEMA)
    again = rebac("import", str(out), "--store", "copy")
    assert again.code == 0
    assert everything(schema.for_store("copy")) == everything(schema)


def test_export_to_stdout_with_small_pages(rebac: Rebac, schema: Client) -> None:
    schema.touch(*LINES)
    r = rebac("export", "--page-size", "2")
    assert r.code == 0
    assert sorted(r.lines) == sorted(LINES)
    assert r.err == "exported 6 relationships\n"


def test_export_filter_and_token(rebac: Rebac, schema: Client) -> None:
    schema.touch(*LINES)
    r = rebac("export", "--filter", "group", "--show-token")
    assert r.lines == ["group:eng#member@user:u4"]
    assert "token: " in r.err


def test_import_is_all_or_nothing(rebac: Rebac, schema: Client, tmp_path: Path) -> None:
    schema.touch("document:c#viewer@user:u3")
    source = tmp_path / "in.txt"
    source.write_text("\n".join(LINES) + "\n")
    r = rebac("import", str(source), "--batch-size", "1")
    assert r.code == 3
    assert "already exists" in r.err
    assert everything(schema) == ["document:c#viewer@user:u3"]


def test_parse_error_names_file_and_line_and_sends_nothing(
    rebac: Rebac, schema: Client, tmp_path: Path
) -> None:
    source = tmp_path / "in.txt"
    source.write_text("document:a#viewer@user:u1\n\nnot a relationship\n")
    r = rebac("import", str(source))
    assert r.code == 3
    assert f"{source}:3:" in r.err
    assert everything(schema) == []


def test_server_side_rejection_is_reported(rebac: Rebac, schema: Client, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("document:a#nope@user:u1\n")
    r = rebac("import", str(source))
    assert r.code == 3 and "nope" in r.err


def test_import_validation_file(rebac: Rebac, client: Client, tmp_path: Path) -> None:
    indented = "".join(f"  {line}\n" for line in SCHEMA.splitlines())
    rels = "".join(f"  {rel}\n" for rel in RELATIONSHIPS)
    source = tmp_path / "data.yaml"
    source.write_text(f"schema: |-\n{indented}relationships: |-\n{rels}")
    r = rebac("import", str(source))
    assert r.code == 0
    assert r.err == (
        f"schema written from {source}\nimported {len(RELATIONSHIPS)} relationships from {source}\n"
    )
    assert "definition document" in client.read_schema().text
    assert sorted(everything(client)) == sorted(RELATIONSHIPS)
    assert rebac("check", "document:readme", "view", "user:alice").code == 0


def test_validation_file_detected_without_extension(
    rebac: Rebac, schema: Client, tmp_path: Path
) -> None:
    source = tmp_path / "data"
    source.write_text("relationships: |-\n  document:a#viewer@user:u1\n")
    assert rebac("import", str(source), "--no-schema").code == 0
    assert everything(schema) == ["document:a#viewer@user:u1"]


def test_validation_file_with_schema_only(rebac: Rebac, client: Client, tmp_path: Path) -> None:
    source = tmp_path / "s.yaml"
    source.write_text("schema: |-\n  definition user {}\n")
    r = rebac("import", str(source), "--show-token")
    assert r.code == 0 and r.out.strip()
    assert "no relationships to import" in r.err


def test_bad_validation_file(rebac: Rebac, schema: Client, tmp_path: Path) -> None:
    source = tmp_path / "bad.yaml"
    source.write_text("schema: [unclosed\n")
    r = rebac("import", str(source))
    assert r.code == 3 and str(source) in r.err


def test_import_from_stdin(rebac: Rebac, schema: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(LINES)))
    assert rebac("import", "-").code == 0
    assert len(everything(schema)) == len(LINES)


def test_missing_file(rebac: Rebac, schema: Client, tmp_path: Path) -> None:
    r = rebac("import", str(tmp_path / "nope.txt"))
    assert r.code == 3 and "no such file" in r.err


def test_progress_bar_on_request(rebac: Rebac, schema: Client, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("\n".join(f"document:d{i}#viewer@user:u{i}" for i in range(250)) + "\n")
    imported = rebac("import", str(source), "--batch-size", "100", "--progress")
    assert imported.code == 0
    assert "\rimport [" in imported.err
    assert "100% 250/250 relationships" in imported.err
    exported = rebac("export", "--out", str(tmp_path / "o.txt"), "--progress", "--page-size", "100")
    assert "\rexport 250 relationships" in exported.err
    # Not a terminal and not asked: no bar, only the summary.
    quiet = rebac("export", "--out", str(tmp_path / "q.txt"))
    assert "\r" not in quiet.err


def test_failed_export_leaves_no_file(rebac: Rebac, schema: Client, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    r = rebac("export", "--out", str(out), "--filter", "Bad")
    assert r.code == 3
    assert list(tmp_path.iterdir()) == []


def test_export_replaces_the_file_only_when_done(
    rebac: Rebac, schema: Client, tmp_path: Path
) -> None:
    out = tmp_path / "out.txt"
    out.write_text("old\n")
    schema.touch("document:a#viewer@user:u1")
    assert rebac("export", "--out", str(out)).code == 0
    assert out.read_text() == "document:a#viewer@user:u1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_progress_line() -> None:
    stream = io.StringIO()
    with Progress("import", total=200, stream=stream) as progress:
        progress.advance(50)
        assert progress.line().startswith("import [########----------------------]  25% 50/200")
        progress.advance(150)
    assert stream.getvalue().endswith("\n")
    assert "100% 200/200 relationships" in stream.getvalue()
    unknown = Progress("export", stream=io.StringIO())
    unknown.advance(1234)
    assert unknown.line().startswith("export 1,234 relationships")
    disabled = io.StringIO()
    with Progress("x", total=1, enabled=False, stream=disabled) as off:
        off.advance(1)
    assert disabled.getvalue() == ""
