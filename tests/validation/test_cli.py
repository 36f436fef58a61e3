"""``rebac validate``: exit status, ``file:line`` failures, and the ``--json`` report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rebac.cli.main import main
from tests.conformance._corpus import corpus_dir

PASSING = """\
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
"""
WRONG = PASSING.replace('- "document:d#view@user:fred"', '- "document:d#view@user:tom"')


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_passing_file_exits_zero_with_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(_file(tmp_path, "ok.yaml", PASSING))]) == 0
    out = capsys.readouterr().out
    assert out == "1 file(s), 2 assertion(s): 2 passed, 0 failed, 0 error(s)\n"


def test_wrong_assertion_exits_one_and_prints_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, "wrong.yaml", WRONG)
    assert main(["validate", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{path}:14: assertion assertFalse 'document:d#view@user:tom' failed: "
        "expected NO_PERMISSION, got HAS_PERMISSION",
        "1 file(s), 2 assertion(s): 1 passed, 1 failed, 0 error(s)",
    ]


def test_unloadable_file_exits_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, "legacy.yaml", "validation_tuples: [x]\n")
    assert main(["validate", str(path), str(_file(tmp_path, "ok.yaml", PASSING))]) == 1
    out = capsys.readouterr().out
    assert f"{path}:1: relationships must be specified" in out
    assert out.endswith("2 file(s), 2 assertion(s): 2 passed, 0 failed, 1 error(s)\n")


def test_json_report_has_the_documented_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, "wrong.yaml", WRONG)
    assert main(["validate", "--json", str(path)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["files", "assertions", "passed", "failed", "errors", "failures"]
    assert (data["files"], data["assertions"], data["passed"], data["failed"], data["errors"]) == (
        1,
        2,
        1,
        1,
        0,
    )
    (failure,) = data["failures"]
    assert failure["file"] == str(path) and failure["line"] == 14
    assert (failure["expected"], failure["actual"]) == ("NO_PERMISSION", "HAS_PERMISSION")


def test_json_report_of_a_passing_file_has_no_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--json", str(_file(tmp_path, "ok.yaml", PASSING))]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "files": 1,
        "assertions": 2,
        "passed": 2,
        "failed": 0,
        "errors": 0,
        "failures": [],
    }


def test_validate_runs_a_conformance_file_as_a_subprocess() -> None:
    path = corpus_dir("spicedb", "public.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "rebac.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "17 assertion(s): 17 passed" in done.stdout
