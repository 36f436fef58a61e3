"""Results as records, a terminal table, JSON, a regression table between two runs, a plot.

The JSON is the contract between runs: ``results`` rows are keyed by
``dataset/runner/concurrency/consistency/workload`` so that ``compare`` can match the rows of
two runs whatever else changed (rows only one side has are listed, not compared).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import platform
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from benchmarks.peers import PEERS
from rebac.engine import compiled

SCHEMA_VERSION = 1


@dataclass
class Row:
    """One measured cell (or one timed bulk import, then latencies are None)."""

    dataset: str
    runner: str  # inprocess, grpc, floor, or a peer's (spicedb, pemba)
    concurrency: str  # threads:N, procs:N
    consistency: str
    workload: str
    relationships: int
    ops: int
    items: int
    seconds: float
    median_us: float | None
    p95_us: float | None
    p99_us: float | None
    ops_per_s: float
    items_per_s: float
    wrong: int | None
    errors: int
    first_error: str | None = None
    dispatches_per_check: float | None = None
    cache_hit_ratio: float | None = None

    @property
    def key(self) -> str:
        return "/".join(
            (self.dataset, self.runner, self.concurrency, self.consistency, self.workload)
        )


@dataclass
class DatasetInfo:
    """How big a data set is and what loading it cost."""

    name: str
    relationships: int
    users: int
    resources: int
    generate_s: float
    load_s: float  # in-process bulk import into the in-memory engine
    load_per_s: float
    rss_delta_bytes: int | None  # engine with store and index, in a fresh process
    index_bytes: int | None
    index_bytes_per_relationship: float | None
    allowed_share: float
    server_import_s: float | None = None  # over gRPC into rebac serve (SQLite)
    server_rss_bytes: int | None = None


@dataclass
class Report:
    meta: dict[str, Any]
    datasets: list[DatasetInfo] = field(default_factory=list)
    results: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def derived(self) -> dict[str, Any]:
        """The figures the issue's targets are stated in, computed from the rows."""
        out: dict[str, Any] = {}
        by_key = {r.key: r for r in self.results}
        for r in self.results:
            if r.runner == "grpc" and r.workload == "check":
                # The floor measured with this data set's cells; a report from before floors
                # were per data set has one, under the data set name "floor".
                floor = by_key.get(
                    f"{r.dataset}/floor/{r.concurrency}/minimize_latency/check"
                ) or by_key.get(f"floor/floor/{r.concurrency}/minimize_latency/check")
                if floor and floor.ops_per_s:
                    name = f"grpc_floor_ratio/{r.dataset}/{r.concurrency}/{r.consistency}"
                    out[name] = round(r.ops_per_s / floor.ops_per_s, 3)
        ratios = [v for k, v in out.items() if k.startswith("grpc_floor_ratio/")]
        if ratios:  # the matrix in two figures: its middle and its lowest cell
            out["grpc_floor_ratio_median"] = round(statistics.median(ratios), 3)
            out["grpc_floor_ratio_lowest"] = min(ratios)
        for mode in ("minimize_latency", "fully_consistent"):
            deep = by_key.get(f"deep/inprocess/threads:1/{mode}/deep_check")
            direct = by_key.get(f"deep/inprocess/threads:1/{mode}/direct_check")
            if deep and direct and deep.median_us and direct.median_us:
                out[f"deep_vs_direct_median/{mode}"] = round(deep.median_us / direct.median_us, 2)
        for r in self.results:
            if r.runner in PEERS and r.workload == "check":
                ours = by_key.get(r.key.replace(f"/{r.runner}/", "/inprocess/"))
                if ours and ours.median_us and r.median_us:
                    # two decimals: a peer within a few tens of percent of rebac is told apart
                    out[f"{r.runner}_median_over_rebac/{r.dataset}"] = round(
                        r.median_us / ours.median_us, 2
                    )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "meta": self.meta,
            "datasets": [asdict(d) for d in self.datasets],
            "results": [asdict(r) | {"key": r.key} for r in self.results],
            "derived": self.derived(),
            "notes": self.notes,
        }

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "engine": "compiled (mypyc)" if compiled() else "pure Python",
    }


# -- formatting -----------------------------------------------------------------------------------


def fmt(value: float | int | None, digits: int = 1) -> str:
    """Numbers for people: n/a, 12.3, 4,567, 1.2M."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.2f}M"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def table(headers: list[str], rows: list[list[str]], out: TextIO) -> None:
    """A plain aligned table: text columns left, numeric columns right."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    numeric = [
        all(_numberish(row[i]) for row in rows) if rows else False for i in range(len(headers))
    ]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    print(line(headers), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print(line(row), file=out)


def _mib(value: int | None) -> float | None:
    return None if value is None else value / 2**20


def _numberish(text: str) -> bool:
    t = text.replace(",", "").replace("%", "").replace("+", "").replace("-", "").replace("x", "")
    t = t.removesuffix("M").replace(".", "", 1)
    return t.isdigit() or text in ("n/a", "")


def print_report(report: Report, out: TextIO | None = None) -> None:
    out = out or sys.stdout  # looked up per call: tests and callers may replace it
    print(
        "\nData sets (load: in-process bulk import into the in-memory engine; RSS: that engine "
        "in a fresh process; server: rebac serve, every worker)",
        file=out,
    )
    table(
        [
            "data set",
            "rels",
            "load s",
            "rels/s",
            "RSS +MiB",
            "index B/rel",
            "grpc import s",
            "server MiB",
        ],
        [
            [
                d.name,
                fmt(d.relationships),
                fmt(d.load_s, 2),
                fmt(d.load_per_s),
                fmt(_mib(d.rss_delta_bytes)),
                fmt(d.index_bytes_per_relationship, 0),
                fmt(d.server_import_s, 2),
                fmt(_mib(d.server_rss_bytes)),
            ]
            for d in report.datasets
        ],
        out,
    )
    print(
        "\nResults (latency in µs per call; items: checks for bulk, results for lookups; "
        "import: in-process into a SQLite-backed engine, grpc into rebac serve)",
        file=out,
    )
    table(
        [
            "data set",
            "runner",
            "conc",
            "consistency",
            "workload",
            "ops",
            "p50",
            "p95",
            "p99",
            "ops/s",
            "items/s",
            "wrong",
            "err",
            "disp/chk",
        ],
        [
            [
                r.dataset,
                r.runner,
                r.concurrency,
                r.consistency,
                r.workload,
                fmt(r.ops),
                fmt(r.median_us),
                fmt(r.p95_us),
                fmt(r.p99_us),
                fmt(r.ops_per_s if r.workload != "import" else None),
                fmt(r.items_per_s),
                fmt(r.wrong),
                fmt(r.errors),
                fmt(r.dispatches_per_check, 2),
            ]
            for r in report.results
        ],
        out,
    )
    print_peers(report, out)
    derived = report.derived()
    if derived:
        print("\nDerived", file=out)
        table(["figure", "value"], [[k, fmt(v, 3)] for k, v in derived.items()], out)
    errors = [r for r in report.results if r.first_error]
    for r in errors:
        print(f"error in {r.key}: {r.first_error}", file=out)
    for note in report.notes:
        print(f"note: {note}", file=out)


def print_peers(report: Report, out: TextIO) -> None:
    """The peer comparison side by side: per size, each engine's load and check figures, and
    how many of the peer's answers differed from rebac's."""
    rows = [r for r in report.results if r.dataset.startswith("docs@")]
    if not rows:
        return
    by = {(r.dataset, r.runner, r.workload): r for r in rows}
    engines = [("inprocess", "rebac (in-process)")] + [(p.runner, p.label) for p in PEERS.values()]
    lines: list[list[str]] = []
    for dataset in dict.fromkeys(r.dataset for r in rows):
        for runner, label in engines:
            check, load = by.get((dataset, runner, "check")), by.get((dataset, runner, "import"))
            if check is None:
                continue
            lines.append(
                [
                    dataset,
                    label,
                    fmt(load.seconds if load else None, 2),
                    fmt(check.median_us),
                    fmt(check.p95_us),
                    fmt(check.p99_us),
                    fmt(check.ops_per_s),
                    fmt(check.ops),
                    fmt(check.wrong),
                ]
            )
    print("\nPeers (same data, same checks, one thread, minimize_latency)", file=out)
    table(
        ["data set", "engine", "load s", "p50 µs", "p95 µs", "p99 µs", "checks/s", "n", "differ"],
        lines,
        out,
    )


# -- compare ------------------------------------------------------------------------------------

#: (field, True when higher is better)
METRICS = (("median_us", False), ("p99_us", False), ("ops_per_s", True))
#: An import is one operation: its rate is relationships per second.
IMPORT_METRICS = (("items_per_s", True),)
DATASET_METRICS = (("load_per_s", True), ("index_bytes_per_relationship", False))


def compare(old: dict[str, Any], new: dict[str, Any], threshold: float, out: TextIO) -> int:
    """Print the change of every metric present in both runs; returns how many got worse by
    more than ``threshold`` (a fraction: 0.1 is 10 %)."""
    rows: list[list[str]] = []
    worse = 0

    def add(key: str, metric: str, a: Any, b: Any, higher_better: bool) -> None:
        nonlocal worse
        if not isinstance(a, int | float) or not isinstance(b, int | float) or not a:
            return
        change = (b - a) / a
        bad = -change if higher_better else change
        verdict = ""
        if bad > threshold:
            verdict = "REGRESSION"
            worse += 1
        elif bad < -threshold:
            verdict = "better"
        rows.append([key, metric, fmt(float(a)), fmt(float(b)), f"{change * 100:+.1f}%", verdict])

    old_ds = {d["name"]: d for d in old.get("datasets", [])}
    for d in new.get("datasets", []):
        if d["name"] in old_ds:
            for metric, hb in DATASET_METRICS:
                add(d["name"], metric, old_ds[d["name"]].get(metric), d.get(metric), hb)
    old_rows = {r["key"]: r for r in old.get("results", [])}
    new_rows = {r["key"]: r for r in new.get("results", [])}
    for key, r in new_rows.items():
        if key in old_rows:
            for metric, hb in IMPORT_METRICS if r.get("workload") == "import" else METRICS:
                add(key, metric, old_rows[key].get(metric), r.get(metric), hb)
    table(["row", "metric", "old", "new", "change", ""], rows, out)
    only_old = sorted(set(old_rows) - set(new_rows))
    only_new = sorted(set(new_rows) - set(old_rows))
    if only_old:
        print(f"\nonly in the old run: {', '.join(only_old)}", file=out)
    if only_new:
        print(f"\nonly in the new run: {', '.join(only_new)}", file=out)
    print(f"\n{worse} regression(s) beyond {threshold * 100:.0f}%", file=out)
    return worse


# -- plot -----------------------------------------------------------------------------------------


def plot(report: Report, path: Path) -> bool:
    """Median, p95 and p99 per measured row on a log scale, as a PNG; False (and nothing
    written) when matplotlib is not installed."""
    try:
        # Imported by name: matplotlib is optional (the ``bench`` extra) and untyped here.
        matplotlib = importlib.import_module("matplotlib")
        matplotlib.use("Agg")
        plt = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        return False
    rows = [r for r in report.results if r.median_us]
    if not rows:
        return False
    labels = [r.key for r in rows]
    y = list(range(len(rows)))
    fig, ax = plt.subplots(figsize=(11, max(3.0, 0.22 * len(rows) + 1)))
    ax.barh(y, [r.median_us or 0 for r in rows], color="#4c78a8", label="median")
    ax.scatter([r.p95_us or 0 for r in rows], y, marker="|", color="#f58518", label="p95")
    ax.scatter([r.p99_us or 0 for r in rows], y, marker="x", color="#e45756", label="p99")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=6)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("latency per call (µs, log scale)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
