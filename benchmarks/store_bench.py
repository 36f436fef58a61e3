"""SQLite store: bulk import throughput, single-write latency, snapshot read throughput.

    python -m benchmarks.store_bench [--size 1000000] [--batch 10000] [--writes 1000]
                                     [--dir DIR] [--json out.json] [--compare OLD.json]

Import builds the relationships lazily, batch by batch, as a streaming ImportBulkRelationships
would, so ``import_per_second`` includes creating the Relationship objects;
``import_store_only_per_second`` subtracts a timed pass that only builds them. Single writes
are one TOUCH each, with ``synchronous=FULL`` (an fsync per commit), into the store that holds
the imported data.
Snapshot is a full read at the head, what an in-memory index does when it starts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rebac.model import ObjectRef, Operation, Relationship, RelationshipUpdate, SubjectRef
from rebac.store import SQLiteStore

STORE = "bench"


def batches(size: int, batch: int) -> Iterator[list[Relationship]]:
    """``size`` relationships in key order: 4 viewers per document, 100k distinct users."""
    for start in range(0, size, batch):
        yield [
            Relationship(
                ObjectRef("document", f"d{i // 4:08d}"),
                "viewer",
                SubjectRef("user", f"u{(i * 7919) % 100_000}"),
            )
            for i in range(start, min(size, start + batch))
        ]


def percentile(sorted_values: list[float], q: float) -> float:
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def run(size: int, batch: int, writes: int, directory: Path) -> dict[str, Any]:
    path = directory / "store_bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = SQLiteStore(path)
    try:
        store.create_store(STORE)
        t0 = time.perf_counter()
        for _ in batches(size, batch):
            pass
        build_s = time.perf_counter() - t0  # the caller's share: building Relationship objects
        t0 = time.perf_counter()
        result = store.import_relationships(STORE, batches(size, batch))
        import_s = time.perf_counter() - t0
        assert result.loaded == size

        lat: list[float] = []
        for n in range(writes):
            rel = Relationship(ObjectRef("folder", f"f{n}"), "viewer", SubjectRef("user", "w"))
            t = time.perf_counter_ns()
            store.write(STORE, [RelationshipUpdate(Operation.TOUCH, rel)])
            lat.append((time.perf_counter_ns() - t) / 1e6)
        lat.sort()

        head = store.head_revision(STORE)
        t0 = time.perf_counter()
        count = sum(1 for _ in store.snapshot(STORE, head))
        snapshot_s = time.perf_counter() - t0
    finally:
        store.close()
    db_bytes = sum(
        Path(f"{path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{path}{s}").exists()
    )
    return {
        "relationships": size,
        "import_seconds": round(import_s, 2),
        "import_per_second": round(size / import_s),
        "import_store_only_per_second": round(size / max(import_s - build_s, 1e-9)),
        "single_writes": writes,
        "write_median_ms": round(statistics.median(lat), 3) if lat else None,
        "write_p99_ms": round(percentile(lat, 0.99), 3) if lat else None,
        "snapshot_rows": count,
        "snapshot_per_second": round(count / snapshot_s),
        "file_mib": round(db_bytes / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size", type=int, default=1_000_000, help="relationships to import")
    p.add_argument("--batch", type=int, default=10_000, help="relationships per import batch")
    p.add_argument("--writes", type=int, default=1000, help="single writes to time")
    p.add_argument("--dir", type=Path, help="where to put the database (default: a temp dir)")
    p.add_argument("--json", type=Path, help="write the figures to this file")
    p.add_argument("--compare", type=Path, help="an earlier --json output to compare with")
    args = p.parse_args(argv)
    if args.dir is not None:
        result = run(args.size, args.batch, args.writes, args.dir)
    else:
        with tempfile.TemporaryDirectory(prefix="rebac-bench-") as tmp:
            result = run(args.size, args.batch, args.writes, Path(tmp))
    width = max(len(k) for k in result)
    old = json.loads(args.compare.read_text()) if args.compare else {}
    for key, value in result.items():
        line = f"{key:<{width}}  {value}"
        if key in old and isinstance(value, int | float) and old[key]:
            change = (value - old[key]) / old[key] * 100
            line += f"   (was {old[key]}, {change:+.1f}%)"
        print(line)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
