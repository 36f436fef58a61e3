"""Instructions per cold check, counted by callgrind: the figure that holds still.

Timings on a shared VM move up to 2x from one hour to the next; the instructions a check
executes do not. This runs ``--checks`` fully cold checks (caches emptied first, each asked
once) on the ``docs`` data set under valgrind's callgrind, with instrumentation switched on
only around them (loading runs uninstrumented, so it takes seconds, not hours), and prints
instructions and first-level data-cache read misses per check. Compare two builds by running
it on each; ``callgrind_annotate`` on the kept output file shows where they go.

    python -m benchmarks.instructions [--size 200000] [--checks 1000] [--keep OUT]

Needs valgrind (with ``callgrind_control``) on PATH, and says so when it is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.check_latency import load, workload
from benchmarks.datasets import DATASETS

POLL_SECONDS = 0.05


def child(size: int, checks: int, signals: Path) -> None:
    """Runs under valgrind: load, say ready, wait for the parent to switch counting on,
    ask the checks, say done, wait to be let go."""
    from rebac import Engine
    from rebac.tuning import settle

    ds = DATASETS["docs"](size, 42)
    engine = Engine(ds.schema)
    load(engine, ds.relationships)
    settle()
    queries = workload(engine, ds, checks + 200, 0.3, 42)
    for resource, subject, _ in queries[checks:]:  # the code paths warmed, not the data
        engine.check(resource, "view", subject)
    engine.clear_caches()
    (signals / "ready").touch()
    _wait_for(signals / "go")
    for resource, subject, _ in queries[:checks]:
        engine.check(resource, "view", subject)
    (signals / "done").touch()
    _wait_for(signals / "release")


def _wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(POLL_SECONDS)


def counts(out_file: Path) -> dict[str, int]:
    """The event totals of a callgrind output file (``events:`` names, ``summary:`` or
    ``totals:`` values)."""
    events: list[str] = []
    values: list[int] = []
    for line in out_file.read_text().splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith(("summary:", "totals:")):
            values = [int(v) for v in line.split()[1:]]
    return dict(zip(events, values, strict=False))


def measure(size: int, checks: int, keep: Path | None = None) -> dict[str, int]:
    """Counted events of ``checks`` cold checks on ``docs`` at ``size`` relationships."""
    with tempfile.TemporaryDirectory(prefix="rebac-instructions-") as tmp:
        signals = Path(tmp)
        out_file = keep or signals / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--cache-sim=yes",
            f"--callgrind-out-file={out_file}",
            sys.executable,
            "-m",
            "benchmarks.instructions",
            "--child",
            str(signals),
            f"--size={size}",
            f"--checks={checks}",
        ]
        # A fixed hash seed: the same dict layouts, so the same count from run to run.
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        try:
            _wait_alive(proc, signals / "ready")
            subprocess.run(
                ["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True
            )
            (signals / "go").touch()
            _wait_alive(proc, signals / "done")
            subprocess.run(
                ["callgrind_control", "-i", "off", str(proc.pid)], check=True, capture_output=True
            )
            (signals / "release").touch()
            _, err = proc.communicate(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
        if proc.returncode != 0:
            raise RuntimeError(f"valgrind failed: {err.decode(errors='replace')[-2000:]}")
        return counts(out_file)


def valgrind_missing() -> str | None:
    """What to tell the user when valgrind's tools are not on PATH (None: they are)."""
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    return f"needs {' and '.join(missing)} on PATH (e.g. apt install valgrind)" if missing else None


def _wait_alive(proc: subprocess.Popen[bytes], path: Path) -> None:
    while not path.exists():
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise RuntimeError(f"valgrind exited early: {err.decode(errors='replace')[-2000:]}")
        time.sleep(POLL_SECONDS)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.instructions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--size", type=int, default=200_000, help="relationships in docs")
    p.add_argument("--checks", type=int, default=1000, help="cold checks counted")
    p.add_argument("--keep", type=Path, help="keep the callgrind output file here")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        child(args.size, args.checks, args.child)
        return 0
    missing = valgrind_missing()
    if missing:
        print(missing, file=sys.stderr)
        return 2
    found = measure(args.size, args.checks, args.keep)
    ir, misses = found.get("Ir", 0), found.get("D1mr", 0)
    build = "compiled" if _compiled() else "pure Python"
    print(f"docs {args.size:,} relationships, {args.checks:,} cold checks ({build}):")
    print(f"  instructions        {ir:>14,}  ({ir / args.checks:,.0f} per check)")
    print(f"  D1 read misses      {misses:>14,}  ({misses / args.checks:,.0f} per check)")
    return 0


def _compiled() -> bool:
    from rebac.engine import compiled

    return compiled()


if __name__ == "__main__":
    raise SystemExit(main())
