"""Smoke tests of ``python -m benchmarks``: every data set and workload at tiny sizes, the gRPC
runner against a real ``rebac serve`` with the floor, and ``compare``. They check that the
suite runs and that answers agree, not how fast anything is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.__main__ import main
from benchmarks.datasets import DATASETS, deep, deep_pairs
from benchmarks.grpc_floor import compare_servers
from benchmarks.measure import Summary, percentile
from benchmarks.runners import Budget, Concurrency
from benchmarks.suite import Options, Suite
from benchmarks.targets import GrpcSpec
from benchmarks.workloads import DEEP_WORKLOADS, WORKLOADS, Op
from rebac import Engine
from tests.benchmarks.test_peers import CountingProgress

TINY = ["--size", "1500", "--seconds", "0.05", "--checks", "60", "--lookups", "4"]
MINE = ("docs", "org", "deep", "wide")


@pytest.mark.parametrize("name", MINE)
def test_datasets_are_deterministic_valid_and_about_the_size_asked(name: str) -> None:
    a, b = DATASETS[name](3000, 7), DATASETS[name](3000, 7)
    assert a.relationships == b.relationships
    assert a.relationships != DATASETS[name](3000, 8).relationships or name == "deep"
    assert 2900 <= len(a.relationships) < 3700
    assert len(set(a.relationships)) == len(a.relationships)
    engine = Engine(a.schema)
    engine.import_relationships([a.relationships])  # every relationship fits the schema


def test_deep_pairs_go_through_every_level() -> None:
    ds = deep(1500)
    engine = Engine(ds.schema)
    engine.import_relationships([ds.relationships])
    deepest, direct = deep_pairs(ds, 10)
    assert deepest and len(deepest) == len(direct)
    for pair in deepest + direct:
        resource, subject = pair.split(" ")
        assert engine.check(resource, ds.permission, subject).allowed
    assert all("_49_" in p for p in deepest)


def test_in_process_every_dataset_and_workload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.json"
    args = [*TINY, "--runners", "inprocess", "--peers", "off", "--quiet", "--json", str(out)]
    assert main(args) == 0
    data = json.loads(out.read_text())
    rows = {(r["dataset"], r["workload"]) for r in data["results"]}
    for name in MINE:
        for workload in WORKLOADS:
            assert (name, workload) in rows, (name, workload)
    for workload in DEEP_WORKLOADS:
        assert ("deep", workload) in rows
    assert all(r["wrong"] in (0, None) and r["errors"] == 0 for r in data["results"])
    checks = [r for r in data["results"] if r["workload"] == "check"]
    assert all(r["ops"] > 0 and r["median_us"] > 0 for r in checks)
    assert {d["name"] for d in data["datasets"]} == set(MINE)
    assert all(d["index_bytes_per_relationship"] for d in data["datasets"])
    assert "deep_vs_direct_median/minimize_latency" in data["derived"]
    printed = capsys.readouterr().out
    assert "Results" in printed and "lookup_resources_page" in printed


def test_grpc_runner_against_rebac_serve_with_the_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    opts = Options(
        datasets=["docs"],
        sizes={"docs": 1000},
        runners=["grpc"],
        modes=["minimize_latency"],
        threads=2,
        workers=1,
        client_procs=1,
        seconds=0.05,
        checks=40,
        lookups=3,
        writes=5,
        peers="off",
        memory=False,
        grpc_repeats=2,
    )
    suite = Suite(opts)
    measured: list[str] = []  # the workload of every measured gRPC cell, in order
    run_remote = suite._run_remote

    def counting(spec: GrpcSpec, conc: Concurrency, ops: list[Op], workload: str) -> Summary:
        measured.append(workload)
        return run_remote(spec, conc, ops, workload)

    monkeypatch.setattr(suite, "_run_remote", counting)
    progress = CountingProgress(suite.total_cells(), enabled=False)
    suite.progress = progress
    report = suite.run()
    assert progress.steps == suite.total_cells()
    grpc_rows = [r for r in report.results if r.runner == "grpc"]
    assert {r.workload for r in grpc_rows} == set(WORKLOADS)
    assert {r.concurrency for r in grpc_rows if r.workload == "check"} == {"threads:2", "procs:1"}
    assert all(r.errors == 0 and r.wrong in (0, None) for r in grpc_rows), [
        r.first_error for r in grpc_rows
    ]
    floor = [r for r in report.results if r.runner == "floor"]
    assert len(floor) == 2 and all(r.ops > 0 and r.errors == 0 for r in floor)
    # The check cells and the floor ran in two interleaved repetitions, everything else once.
    kinds = ["floor" if w == "floor" else f"grpc {w}" for w in measured]
    assert kinds[:8] == ["grpc check", "grpc check", "floor", "floor"] * 2 and kinds[8:] == [
        f"grpc {w}" for w in WORKLOADS if w not in ("check", "import")
    ], kinds
    derived = report.derived()
    cells = [v for k, v in derived.items() if k.startswith("grpc_floor_ratio/docs/")]
    assert len(cells) == 2  # threads and procs, one consistency mode
    assert derived["grpc_floor_ratio_lowest"] == min(cells)
    assert derived["grpc_floor_ratio_median"] == round((cells[0] + cells[1]) / 2, 3)
    assert report.datasets[0].server_import_s is not None


def test_floor_compare_measures_the_synchronous_and_the_asyncio_floor() -> None:
    lines = compare_servers(workers=1, clients=1, seconds=0.1, repeats=2)
    runs = lines[:-1]
    assert [line.split()[1] for line in runs] == ["sync", "aio", "sync", "aio"]
    for line in runs:  # both floors answered every call
        assert line.endswith("errors 0") and not line.split()[2].startswith("0"), line
    ratio = float(lines[-1].rsplit(" ", 1)[1])
    assert 0.0 < ratio < 100.0


def _run_json(path: Path, median: float, per_s: float) -> Path:
    row = {
        "key": "docs/inprocess/threads:1/minimize_latency/check",
        "median_us": median,
        "p99_us": median * 3,
        "ops_per_s": per_s,
    }
    data = {"datasets": [{"name": "docs", "load_per_s": 1000.0}], "results": [row]}
    path.write_text(json.dumps(data))
    return path


def test_compare_reports_regressions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = _run_json(tmp_path / "old.json", 40.0, 20_000.0)
    same = _run_json(tmp_path / "same.json", 41.0, 19_900.0)
    slower = _run_json(tmp_path / "slow.json", 60.0, 12_000.0)
    assert main(["compare", str(old), str(same), "--fail"]) == 0
    assert "0 regression(s)" in capsys.readouterr().out
    assert main(["compare", str(old), str(slower)]) == 0  # a table, not a verdict
    assert main(["compare", str(old), str(slower), "--fail"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "+50.0%" in out and "3 regression(s)" in out


def test_budget_without_cycling_asks_each_operation_once() -> None:
    budget = Budget(1.0, 1000, cycle=False)
    assert [budget.limit(11, k, 2) for k in range(2)] == [6, 5]
    assert Budget(1.0, 1000).limit(11, 0, 2) == 500
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) in (2.0, 3.0)
    assert percentile([], 0.99) == 0.0
