"""Caveated-check latency next to plain checks, in process, on data of one shape.

    python -m benchmarks.caveated [--size 200000] [--checks 20000] [--share 0.3]
                                  [--json out.json] [--compare OLD.json]

Two engines hold the same ``docs`` graph (same size and seed): ``plain`` as is, ``caveated``
with about ``--share`` of the group memberships and viewer grants carrying a caveat (an
``ipaddress.in_cidr`` network, an ``int`` clearance level, both with a stored context, or an
office-hours check on group grants that only the request can answer). The same questions -- a
mix of ~30 % allowed and ~70 % denied on the plain data -- are asked of both: plainly, with a
request context (64 of them, one in ten missing a parameter), and, on the caveated data,
without any context (everything caveated on the way is then unknown, so answers are often
CONDITIONAL and evaluation cannot stop at the first grant).

Reports median / p95 / p99 latency and single-thread throughput per mode and how the answers
split. Modes run in alternating chunks, so that machine noise lands on all of them alike.
Since ``docs`` has no exclusions, a caveat can only take access away: a caveated HAS where
the plain data says NO is counted in ``wrong_answers`` (exit status 1), as are plain answers
that differ from the workload's expectation.

``--compare OLD.json`` prints each figure's change against an earlier ``--json`` run.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.check_latency import percentile, workload
from benchmarks.datasets import CaveatedDataset, caveated, docs
from benchmarks.loading import load_engine
from rebac import Engine, Permissionship

CHUNK = 500
WARMUP = 500
MODES = ("plain", "caveated", "caveated_no_context")


class Mode:
    """One way of asking: an engine, and whether questions carry a request context."""

    def __init__(self, name: str, engine: Engine, with_context: bool):
        self.name = name
        self.engine = engine
        self.with_context = with_context
        self.latencies_us: list[float] = []
        self.seconds = 0.0
        self.answers: list[Permissionship] = []

    def ask(self, queries: list[tuple[str, str, dict[str, Any]]], permission: str) -> None:
        check = self.engine.check
        lat = self.latencies_us
        answers = self.answers
        use = self.with_context
        start = time.perf_counter()
        for resource, subject, context in queries:
            t0 = time.perf_counter_ns()
            r = check(resource, permission, subject, context if use else None)
            lat.append((time.perf_counter_ns() - t0) / 1000.0)
            answers.append(r.permissionship)
        self.seconds += time.perf_counter() - start

    def figures(self) -> dict[str, Any]:
        lat = sorted(self.latencies_us)
        split = Counter(self.answers)
        n = len(self.answers)
        return {
            "median_us": round(statistics.median(lat), 2),
            "p95_us": round(percentile(lat, 0.95), 2),
            "p99_us": round(percentile(lat, 0.99), 2),
            "checks_per_second": round(n / self.seconds),
            "has_share": round(split[Permissionship.HAS_PERMISSION] / n, 3),
            "conditional_share": round(split[Permissionship.CONDITIONAL_PERMISSION] / n, 3),
        }


def run(size: int, checks: int, share: float, seed: int) -> dict[str, Any]:
    plain_ds = docs(size, seed)
    cav_ds: CaveatedDataset = caveated(size, seed, share)
    plain_engine, plain_load = load_engine(plain_ds)
    cav_engine, cav_load = load_engine(cav_ds)
    expected = workload(plain_engine, plain_ds, checks, 0.3, seed)
    rng = random.Random(seed)
    queries = [(res, subj, rng.choice(cav_ds.contexts)) for res, subj, _ in expected]
    modes = [
        Mode("plain", plain_engine, with_context=False),
        Mode("caveated", cav_engine, with_context=True),
        Mode("caveated_no_context", cav_engine, with_context=False),
    ]
    perm = plain_ds.permission
    for m in modes:  # warm-up, not measured
        Mode(m.name, m.engine, m.with_context).ask(queries[:WARMUP], perm)
    for start in range(0, len(queries), CHUNK):
        chunk = queries[start : start + CHUNK]
        for m in modes:
            m.ask(chunk, perm)
    plain, cav = modes[0], modes[1]
    wrong = sum(
        (got is Permissionship.HAS_PERMISSION) != want
        for got, (_r, _s, want) in zip(plain.answers, expected, strict=True)
    )
    wrong += sum(
        p is Permissionship.NO_PERMISSION and c is Permissionship.HAS_PERMISSION
        for m in modes[1:]
        for p, c in zip(plain.answers, m.answers, strict=True)
    )
    result: dict[str, Any] = {
        "dataset": "caveated",
        "relationships": len(cav_ds.relationships),
        "caveated_relationships": cav_ds.caveated,
        "request_contexts": len(cav_ds.contexts),
        "load_seconds.plain": round(plain_load, 3),
        "load_seconds.caveated": round(cav_load, 3),
        "checks": len(queries),
    }
    for m in modes:
        for key, value in m.figures().items():
            result[f"{m.name}.{key}"] = value
    result["caveated_vs_plain.median"] = round(
        result["caveated.median_us"] / result["plain.median_us"], 2
    )
    result["caveated_vs_plain.throughput"] = round(
        cav.figures()["checks_per_second"] / plain.figures()["checks_per_second"], 2
    )
    result["wrong_answers"] = wrong
    return result


# -- output -----------------------------------------------------------------------------------


_PER_MODE = (
    "median_us",
    "p95_us",
    "p99_us",
    "checks_per_second",
    "has_share",
    "conditional_share",
)


def _cell(result: Mapping[str, Any], old: Mapping[str, Any], key: str) -> str:
    value = result.get(key, "")
    text = str(value)
    was = old.get(key)
    if isinstance(value, int | float) and isinstance(was, int | float) and was:
        text += f" ({(value - was) / was * 100:+.1f}%)"
    return text


def report(result: Mapping[str, Any], old: Mapping[str, Any]) -> list[str]:
    """The figures as lines: the data set, then one column per mode (changes when comparing)."""
    lines: list[str] = []
    singles = [k for k in result if not any(k.startswith(m + ".") for m in MODES)]
    width = max(len(k) for k in singles)
    for key in singles:
        lines.append(f"{key:<{width}}  {_cell(result, old, key)}")
    lines.append("")
    cells = [[_cell(result, old, f"{m}.{k}") for m in MODES] for k in _PER_MODE]
    widths = [max(len(m), *(len(row[i]) for row in cells)) for i, m in enumerate(MODES)]
    label = max(len(k) for k in _PER_MODE)
    lines.append(
        " " * label + "  " + "  ".join(m.rjust(w) for m, w in zip(MODES, widths, strict=True))
    )
    for k, row in zip(_PER_MODE, cells, strict=True):
        lines.append(
            f"{k:<{label}}  " + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.caveated",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--size", type=int, default=200_000, help="relationships (default 200000)")
    p.add_argument("--checks", type=int, default=20_000, help="questions per mode")
    p.add_argument(
        "--share",
        type=float,
        default=0.3,
        help="share of the relationships that may carry a caveat that do (default 0.3)",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--json", type=Path, help="write the figures to this file")
    p.add_argument("--compare", type=Path, help="an earlier --json output to compare with")
    args = p.parse_args(argv)
    if not 0.0 <= args.share <= 1.0:
        p.error("--share must be between 0 and 1")
    old = json.loads(args.compare.read_text()) if args.compare else {}
    result = run(args.size, args.checks, args.share, args.seed)
    for line in report(result, old):
        print(line)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if result["wrong_answers"] else 0


if __name__ == "__main__":
    sys.exit(main())
