"""Instructions per gRPC Check in a real server process, rebac's and the floor's, by callgrind.

The gRPC cells of the suite move ±10-15 % from one second to the next on a shared VM, so a
change of a few percent in the server's per-call work cannot be seen in them. The instructions
a server executes per call hold still. This starts ``rebac serve`` (one worker) and then the
floor (:mod:`benchmarks.grpc_floor`, one process) under valgrind's callgrind with
instrumentation off, loads ``docs`` into rebac over gRPC, asks the same checks twice to warm
both (the engine's caches included: the engine's own cold work is what
:mod:`benchmarks.instructions` counts), then counts every instruction of each server process,
all threads, while two client threads ask the checks once more. The difference between the
two is what rebac does per call beyond grpcio's own work (request id, authentication, scope
and tenancy, audit line, conversions, the engine, the response).

    python -m benchmarks.server_instructions [--size 20000] [--checks 2000] [--keep DIR]

Needs valgrind (with ``callgrind_control``) on PATH, and says so when it is missing. Takes a
minute or two.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.datasets import DATASETS
from benchmarks.grpc_floor import FloorProcess
from benchmarks.instructions import counts, valgrind_missing
from benchmarks.loading import STORE_ID, batches, load_engine
from benchmarks.runners import Budget, run_threads
from benchmarks.server import ServerProcess
from benchmarks.targets import GrpcSpec
from benchmarks.workloads import Op, draw

#: Starting under valgrind is tens of times slower than without it.
STARTUP_TIMEOUT = 600.0
CLIENT_THREADS = 2


def callgrind(out_file: Path) -> list[str]:
    """The command prefix that runs a server under callgrind, counting nothing until told,
    with a fixed hash seed (the same dict layouts, so the same count from run to run)."""
    return [
        "env",
        "PYTHONHASHSEED=0",
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out_file}",
    ]


def _count(pid: int, spec: GrpcSpec, ops: list[Op]) -> tuple[int, int]:
    """Ask ``ops`` twice uncounted, then once counted; returns the calls counted and how many
    of them failed or answered wrongly."""
    target = spec.open()
    try:
        budget = Budget(3600.0, len(ops), warmup=0)
        for _ in range(2):
            run_threads(target, ops, CLIENT_THREADS, budget)
        subprocess.run(["callgrind_control", "-i", "on", str(pid)], check=True, capture_output=True)
        summary = run_threads(target, ops, CLIENT_THREADS, budget)
        subprocess.run(
            ["callgrind_control", "-i", "off", str(pid)], check=True, capture_output=True
        )
        return summary.ops, summary.errors + summary.wrong
    finally:
        target.close()


def measure(size: int, checks: int, out_dir: Path) -> dict[str, float]:
    """Instructions per gRPC Check in rebac's server and in the floor's, ``checks`` counted."""
    ds = DATASETS["docs"](size, 42)
    engine, _ = load_engine(ds)
    ops = draw(engine, ds, checks=checks, lookups=1, writes=1, seed=42).ops("check")
    del engine
    rebac_out, floor_out = out_dir / "callgrind.rebac", out_dir / "callgrind.floor"
    server = ServerProcess(1, prefix=callgrind(rebac_out), startup_timeout=STARTUP_TIMEOUT)
    try:
        server.start()
        spec = GrpcSpec(server.address, STORE_ID, server.token, "minimize_latency", 1)
        loader = spec.open()
        try:
            loader.clients[0].write_schema(ds.schema)
            loader.clients[0].import_relationships(batches(ds.relationships))
        finally:
            loader.close()
        calls, failed = _count(server.proc.pid, spec, ops)
    finally:
        server.stop()
    with FloorProcess(1, prefix=callgrind(floor_out), startup_timeout=STARTUP_TIMEOUT) as floor:
        floor_spec = GrpcSpec(floor.address, STORE_ID, None, "minimize_latency", 1)
        # The floor answers "allowed" to everything: its answers are not checked.
        floor_calls, _ = _count(floor.proc.pid, floor_spec, ops)
    if failed:
        raise RuntimeError(f"{failed} of rebac's counted checks failed or answered wrongly")
    return {
        "rebac": _instructions(rebac_out) / calls,
        "floor": _instructions(floor_out) / floor_calls,
    }


def _instructions(out_file: Path) -> int:
    return counts(out_file).get("Ir", 0)


def report(per_call: dict[str, float], checks: int) -> list[str]:
    """The lines printed: per call, each server and the difference."""
    rebac, floor = per_call["rebac"], per_call["floor"]
    return [
        f"instructions per gRPC Check ({checks:,} warm checks, {CLIENT_THREADS} client threads):",
        f"  rebac serve    {rebac:>10,.0f}",
        f"  grpcio floor   {floor:>10,.0f}",
        f"  rebac's own    {rebac - floor:>10,.0f}  (floor / rebac {floor / rebac:.3f})",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.server_instructions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--size", type=int, default=20_000, help="relationships in docs")
    p.add_argument("--checks", type=int, default=2000, help="checks counted")
    p.add_argument("--keep", type=Path, help="keep the callgrind output files in this folder")
    args = p.parse_args(argv)
    missing = valgrind_missing()
    if missing:
        print(missing, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="rebac-server-instructions-") as tmp:
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        found = measure(args.size, args.checks, out_dir)
    for line in report(found, args.checks):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
