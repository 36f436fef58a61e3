"""benchmarks.instructions: callgrind's totals read back, and a clear word without valgrind."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import instructions


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
