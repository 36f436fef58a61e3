"""benchmarks.instructions and server_instructions: callgrind's totals read back and reported, and
a clear word without valgrind."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import instructions, server_instructions


def test_counts_reads_the_event_totals_of_a_callgrind_file(tmp_path: Path) -> None:
    out = tmp_path / "callgrind.out"
    out.write_text("version: 1\nevents: Ir Dr D1mr\nfn=(1) f\n3 10 4 1\nsummary: 120 40 7\n")
    assert instructions.counts(out) == {"Ir": 120, "Dr": 40, "D1mr": 7}
    out.write_text("events: Ir\ntotals: 99\n")  # older callgrind versions
    assert instructions.counts(out) == {"Ir": 99}


def test_without_valgrind_it_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("benchmarks.instructions.shutil.which", lambda _tool: None)
    assert instructions.main(["--size", "100"]) == 2
    assert "needs valgrind and callgrind_control on PATH" in capsys.readouterr().err


def test_server_instructions_reports_each_server_per_call_and_rebacs_own() -> None:
    lines = server_instructions.report({"rebac": 500_000.0, "floor": 360_000.0}, 10)
    assert lines[1].split() == ["rebac", "serve", "500,000"]
    assert lines[2].split() == ["grpcio", "floor", "360,000"]
    assert lines[3].split()[:3] == ["rebac's", "own", "140,000"]
    assert lines[3].endswith("(floor / rebac 0.720)")


def test_server_instructions_without_valgrind_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("shutil.which", lambda _tool: None)
    assert server_instructions.main(["--size", "100"]) == 2
    assert "needs valgrind and callgrind_control on PATH" in capsys.readouterr().err
