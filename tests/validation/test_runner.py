"""Running validation files: per-assertion results, counts, and load errors with YAML lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from rebac.engine import Engine
from rebac.errors import ValidationFileError
from rebac.validation import (
    check_assertions,
    load_validation_file,
    parse_validation_text,
    populate,
    run_validation,
)

GOOD = """\
---
schema: |-
  definition user {}
  definition document {
    relation viewer: user
    permission view = viewer
  }
relationships: |
  document:d#viewer@user:tom
assertions:
  assertTrue:
    - "document:d#view@user:tom"
  assertFalse:
    - "document:d#view@user:fred"
validation:
  document:d#view:
    - "[user:tom] is <document:d#viewer>"
"""


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_passing_file_reports_every_assertion_and_expected_relation(tmp_path: Path) -> None:
    report = run_validation([_file(tmp_path, "good.yaml", GOOD)])
    assert report.ok
    assert (report.files, report.assertions, report.passed, report.failed, report.errors) == (
        1,
        3,
        3,
        0,
        0,
    )
    assert [r.kind for r in report.results] == ["assertTrue", "assertFalse", "validation"]


def test_wrong_assertion_is_reported_with_its_line_and_both_answers(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        "bad.yaml",
        GOOD.replace('"document:d#view@user:fred"', '"document:d#view@user:tom"'),
    )
    report = run_validation([path])
    (failure,) = report.failures
    assert (failure.line, failure.kind, failure.expected, failure.actual, failure.error) == (
        14,
        "assertFalse",
        "NO_PERMISSION",
        "HAS_PERMISSION",
        None,
    )
    assert failure.format() == (
        f"{path}:14: assertion assertFalse 'document:d#view@user:tom' failed: "
        "expected NO_PERMISSION, got HAS_PERMISSION"
    )
    assert (report.passed, report.failed, report.errors) == (2, 1, 0)


def test_assertion_that_cannot_be_checked_is_an_error_not_a_failure(tmp_path: Path) -> None:
    path = _file(tmp_path, "err.yaml", GOOD.replace("@user:fred", "@nosuchtype:fred"))
    report = run_validation([path])
    (failure,) = report.failures
    assert failure.error is not None and "nosuchtype" in failure.error
    assert (report.failed, report.errors) == (0, 1)
    assert failure.format().startswith(f"{path}:14: assertFalse ")


def test_wrong_expected_relations_are_a_failure_with_details(tmp_path: Path) -> None:
    path = _file(tmp_path, "exp.yaml", GOOD.replace("[user:tom]", "[user:fred]"))
    (failure,) = run_validation([path]).failures
    assert (failure.kind, failure.line) == ("validation", 16)  # the key's line
    assert failure.details == (
        "expected subject user:fred is not reachable "
        "(listed as [user:fred] is <document:d#viewer>)",
        "subject user:tom is reachable but not listed: [user:tom] is <document:d#viewer>",
    )


def test_file_that_does_not_load_counts_as_an_error_and_others_still_run(tmp_path: Path) -> None:
    broken = _file(tmp_path, "broken.yaml", "validation_tuples: [x]\n")
    good = _file(tmp_path, "good.yaml", GOOD)
    report = run_validation([broken, good])
    assert (report.files, report.assertions, report.passed, report.errors) == (2, 3, 3, 1)
    (failure,) = report.failures
    assert failure.kind == "load"
    assert failure.format() == f"{broken}:1: relationships must be specified in `relationships`"


def test_each_file_gets_a_fresh_engine(tmp_path: Path) -> None:
    """The same relationship in two files is not "repeated": each file is its own store."""
    report = run_validation([_file(tmp_path, "a.yaml", GOOD), _file(tmp_path, "b.yaml", GOOD)])
    assert report.ok and report.passed == 6


@pytest.mark.parametrize(
    ("style", "expected_line"),
    [("|", "6:22"), (">-", "11:22")],
)
def test_schema_errors_point_at_the_yaml_line(
    tmp_path: Path, style: str, expected_line: str
) -> None:
    """Folded schemas join lines; the position must still be the one in the YAML file."""
    body = "  definition user {}\n\n  definition document {\n    relation viewer: usr\n  }\n"
    if style == ">-":
        body = "  // a comment\n\n  // another\n\n" + body.replace("\n\n", "\n\n\n")
    path = _file(tmp_path, "s.yaml", f"---\nschema: {style}\n{body}")
    with pytest.raises(ValidationFileError) as info:
        populate(Engine(), [load_validation_file(path)])
    message = str(info.value)
    assert message.startswith(f"{path}:{expected_line}:"), message
    assert "(schema line " in message and "usr" in message


def test_relationship_refused_by_the_schema_names_its_line(tmp_path: Path) -> None:
    text = GOOD.replace(
        "document:d#viewer@user:tom\n", "document:d#viewer@user:tom\n  document:d#view@user:ann\n"
    )
    vf = load_validation_file(_file(tmp_path, "r.yaml", text))
    with pytest.raises(ValidationFileError) as info:
        populate(Engine(), [vf])
    assert str(info.value).startswith(f"{vf.name}:10: relationship 'document:d#view@user:ann': ")
    assert "only relations can be written" in str(info.value)


def test_relationships_are_written_in_batches_within_the_write_limit(tmp_path: Path) -> None:
    rels = "".join(f"  document:d#viewer@user:u{i}\n" for i in range(25))
    text = GOOD.replace("  document:d#viewer@user:tom\n", rels + "  document:d#viewer@user:tom\n")
    vf = load_validation_file(_file(tmp_path, "many.yaml", text))
    engine = Engine(max_updates=10)
    assert populate(engine, [vf]) == 26
    assert len(engine.read_relationships()) == 26
    assert all(r.passed for r in check_assertions(engine, vf))


def test_a_bad_relationship_in_a_later_batch_still_names_its_line(tmp_path: Path) -> None:
    rels = "".join(f"  document:d#viewer@user:u{i}\n" for i in range(12))
    rels += "  document:d#viewer@document:x\n"
    text = GOOD.replace("  document:d#viewer@user:tom\n", rels)
    vf = load_validation_file(_file(tmp_path, "late.yaml", text))
    with pytest.raises(ValidationFileError) as info:
        populate(Engine(max_updates=5), [vf])
    assert str(info.value).startswith(f"{vf.name}:21: relationship 'document:d#viewer@document:x'")


def test_files_loaded_together_share_the_first_schema_and_reject_repeats() -> None:
    first = parse_validation_text(GOOD, path="first.yaml")
    more = parse_validation_text(
        "relationships: |\n  document:e#viewer@user:ann\n", path="more.yaml"
    )
    engine = Engine()
    assert populate(engine, [first, more]) == 2
    with pytest.raises(ValidationFileError) as info:
        populate(Engine(), [first, first])
    assert str(info.value) == (
        "first.yaml:9: found repeated relationship 'document:d#viewer@user:tom' "
        "(first in first.yaml:9)"
    )


def test_file_without_schema_fails_on_its_first_relationship() -> None:
    vf = parse_validation_text("relationships: |\n  document:e#viewer@user:ann\n", path="r.yaml")
    with pytest.raises(
        ValidationFileError, match=r"^r\.yaml:2: .*object definition 'document' not found"
    ):
        populate(Engine(), [vf])


def test_report_json_has_exactly_the_documented_keys(tmp_path: Path) -> None:
    path = _file(tmp_path, "bad.yaml", GOOD.replace("assertFalse", "assertCaveated"))
    data = run_validation([path]).to_json()
    assert list(data) == ["files", "assertions", "passed", "failed", "errors", "failures"]
    assert data["failures"] == [
        {
            "file": str(path),
            "line": 14,
            "kind": "assertCaveated",
            "assertion": "document:d#view@user:fred",
            "expected": "CONDITIONAL_PERMISSION",
            "actual": "NO_PERMISSION",
            "error": None,
        }
    ]


def test_imports_in_a_schema_file_resolve_next_to_that_file(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "user.zed").write_text("definition user {}\n", encoding="utf-8")
    (tmp_path / "schemas" / "root.zed").write_text(
        'use import\nimport "user.zed"\n'
        "definition document {\n  relation viewer: user\n  permission view = viewer\n}\n",
        encoding="utf-8",
    )
    text = GOOD.split("relationships:")[1]
    path = _file(tmp_path, "v.yaml", "schemaFile: schemas/root.zed\nrelationships:" + text)
    report = run_validation([path])
    assert [r.format() for r in report.failures] == []
    assert report.passed == 3
