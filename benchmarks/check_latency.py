"""In-process check latency on a generated data set.

    python -m benchmarks.check_latency [--size 200000] [--checks 20000] [--json out.json]

Prints load time, median / p95 / p99 latency and single-thread throughput for a mix of ~30 %
allowed and ~70 % denied checks. ``--compare OLD.json`` prints the change against an earlier run.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.datasets import DATASETS
from rebac import Engine, Permissionship
from rebac.tuning import settle


def load(engine: Engine, relationships: list[str], batch: int = 5000) -> float:
    """Bulk import (one transaction), as a service loading its data would."""
    start = time.perf_counter()
    engine.import_relationships(
        relationships[i : i + batch] for i in range(0, len(relationships), batch)
    )
    return time.perf_counter() - start


def workload(
    engine: Engine, ds: Any, n: int, allowed_share: float, seed: int
) -> list[tuple[str, str, bool]]:
    """``n`` (resource, subject, expected) with about ``allowed_share`` allowed."""
    rng = random.Random(seed)
    allowed: list[tuple[str, str, bool]] = []
    denied: list[tuple[str, str, bool]] = []
    want_allowed = int(n * allowed_share)
    want_denied = n - want_allowed
    attempts = 0
    # Allowed pairs are rare among random pairs: draw subjects from a resource's lookup.
    while len(allowed) < want_allowed and attempts < n * 20:
        attempts += 1
        res = rng.choice(ds.resources)
        subjects = [s.id for s in engine.lookup_subjects(res, ds.permission, "user") if s.id != "*"]
        if subjects:
            allowed.append((res, f"user:{rng.choice(subjects)}", True))
    while len(denied) < want_denied:
        res = rng.choice(ds.resources)
        subj = f"user:{rng.choice(ds.users)}"
        if engine.check(res, ds.permission, subj).permissionship is Permissionship.NO_PERMISSION:
            denied.append((res, subj, False))
    mix = allowed + denied
    rng.shuffle(mix)
    return mix


def percentile(sorted_values: list[float], q: float) -> float:
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def run(size: int, checks: int, seed: int) -> dict[str, Any]:
    ds = DATASETS["docs"](size, seed)
    engine = Engine(ds.schema)
    load_s = load(engine, ds.relationships)
    settle()  # what rebac serve does after loading (rebac.tuning)
    queries = workload(engine, ds, checks, 0.3, seed)
    warmup = workload(engine, ds, 500, 0.3, seed + 1)
    perm = ds.permission
    check = engine.check
    # Building the workload ran these very checks: forget what they taught the engine, so the
    # figures are for cold checks (no result seen before), then warm the interpreter up on
    # other queries.
    engine.clear_caches()
    for res, subj, _ in warmup:
        check(res, perm, subj)
    lat: list[float] = []
    wrong = 0
    t_all = time.perf_counter()
    for res, subj, expected in queries:
        t0 = time.perf_counter_ns()
        r = check(res, perm, subj)
        lat.append((time.perf_counter_ns() - t0) / 1000.0)
        wrong += r.allowed != expected
    total = time.perf_counter() - t_all
    lat.sort()
    return {
        "dataset": "docs",
        "relationships": len(ds.relationships),
        "load_seconds": round(load_s, 3),
        "checks": len(queries),
        "allowed_share": round(sum(q[2] for q in queries) / len(queries), 3),
        "median_us": round(statistics.median(lat), 2),
        "p95_us": round(percentile(lat, 0.95), 2),
        "p99_us": round(percentile(lat, 0.99), 2),
        "checks_per_second": round(len(queries) / total),
        "wrong_answers": wrong,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size", type=int, default=200_000)
    p.add_argument("--checks", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--json", type=Path, help="write the figures to this file")
    p.add_argument("--compare", type=Path, help="an earlier --json output to compare with")
    args = p.parse_args(argv)
    result = run(args.size, args.checks, args.seed)
    width = max(len(k) for k in result)
    old = json.loads(args.compare.read_text()) if args.compare else {}
    for key, value in result.items():
        line = f"{key:<{width}}  {value}"
        if key in old and isinstance(value, (int, float)) and old[key]:
            change = (value - old[key]) / old[key] * 100
            line += f"   (was {old[key]}, {change:+.1f}%)"
        print(line)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if result["wrong_answers"] else 0


if __name__ == "__main__":
    sys.exit(main())
