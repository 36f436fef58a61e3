"""rebac's benchmark suite.

    python -m benchmarks [run] [--datasets docs,org,deep,wide] [--size N | --sizes docs=N,...]
                         [--runners inprocess,grpc] [--consistency both] [--full]
                         [--seconds 1] [--json OUT.json] [--plot OUT.png]
                         [--peers auto|on|off|spicedb,pemba]
    python -m benchmarks compare OLD.json NEW.json [--threshold 10] [--fail]
    python -m benchmarks list

``run`` prints a table on stdout (progress on stderr) and exits 1 if any answer was wrong or
any call failed. ``compare`` prints a regression table between two ``--json`` outputs
(``--fail``: exit 1 when something got worse than ``--threshold`` percent). All load stays on
127.0.0.1: a ``rebac serve`` process and a constant grpcio server, both started and stopped
here; every cell is bounded by ``--seconds`` and ``--max-ops``. The peers (SpiceDB, pemba) are
measured only where installed, never installed by the project: see :mod:`benchmarks.peers`
(pemba: ``pip install pemba==0.1.0a1``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from benchmarks.datasets import DATASETS
from benchmarks.peers import PEER_CHOICES, PEERS, selected_peers
from benchmarks.progress import Progress
from benchmarks.report import compare, machine, plot, print_report
from benchmarks.suite import DEFAULT_SIZES, GRPC_REPEATS, Options, Suite
from benchmarks.targets import MODES
from benchmarks.workloads import DEEP_WORKLOADS, WORKLOADS

DEFAULT_DATASETS = ("docs", "org", "deep", "wide")
RUNNERS = ("inprocess", "grpc")


def _names(text: str, known: tuple[str, ...] | list[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown)} (known: {', '.join(known)})"
        )
    return names


def _sizes(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in text.split(","):
        name, _, n = part.partition("=")
        if name not in DATASETS or not n.replace("_", "").isdigit():
            raise argparse.ArgumentTypeError(f"--sizes {part!r}: expected NAME=RELATIONSHIPS")
        out[name] = int(n)
    return out


def _peers(text: str) -> str:
    """``--peers``: auto, on, off or peer names, checked here so a typo fails before a run
    of several minutes rather than at its end."""
    choice = text.strip()
    try:
        peers = selected_peers(choice)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return choice if choice in PEER_CHOICES else ",".join(p.runner for p in peers)


def run_parser() -> argparse.ArgumentParser:
    cpus = os.cpu_count() or 1
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    datasets = list(DATASETS)
    p.add_argument(
        "--datasets",
        type=lambda t: _names(t, datasets, "data set"),
        default=list(DEFAULT_DATASETS),
        help=f"comma-separated, of: {', '.join(datasets)} (default: {','.join(DEFAULT_DATASETS)})",
    )
    p.add_argument("--size", type=int, help="relationships in every data set")
    p.add_argument(
        "--sizes",
        type=_sizes,
        default={},
        help="per data set, e.g. docs=1000000,wide=200000 (defaults: "
        + ", ".join(f"{k}={v}" for k, v in DEFAULT_SIZES.items())
        + ")",
    )
    p.add_argument(
        "--workloads",
        type=lambda t: _names(t, WORKLOADS, "workload"),
        default=list(WORKLOADS),
        help=f"comma-separated, of: {', '.join(WORKLOADS)}",
    )
    p.add_argument("--runners", type=lambda t: _names(t, RUNNERS, "runner"), default=list(RUNNERS))
    p.add_argument(
        "--grpc-datasets",
        type=lambda t: _names(t, datasets, "data set"),
        help="data sets measured over gRPC too (default: all of --datasets)",
    )
    p.add_argument(
        "--consistency",
        default="both",
        help="minimize_latency, fully_consistent or both (default: both)",
    )
    p.add_argument("--threads", type=int, default=cpus, help=f"threads:N (default {cpus})")
    p.add_argument(
        "--workers", type=int, default=cpus, help=f"rebac serve --workers (default {cpus})"
    )
    p.add_argument("--procs", type=int, default=cpus, help=f"client processes (default {cpus})")
    p.add_argument("--seconds", type=float, default=1.0, help="time per cell (default 1)")
    p.add_argument("--max-ops", type=int, default=200_000, help="calls per cell at most")
    p.add_argument("--checks", type=int, default=5000, help="distinct checks drawn per data set")
    p.add_argument("--lookups", type=int, default=40, help="distinct lookups drawn per data set")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--full", action="store_true", help="the whole matrix (much longer)")
    p.add_argument("--no-floor", action="store_true", help="skip the grpcio floor")
    p.add_argument(
        "--peers",
        type=_peers,
        default="auto",
        help="peer engines compared in-process on docs checks: auto (the default) or on, "
        "every peer where installed with a note why not elsewhere; off; or comma-separated, "
        f"of: {', '.join(PEERS)}",
    )
    p.add_argument(
        "--peer-sizes",
        type=lambda t: [int(x) for x in t.split(",")],
        default=[10_000, 200_000],
        help="docs sizes the peers are compared at (default 10000,200000)",
    )
    p.add_argument(
        "--peer-seconds", type=float, default=5.0, help="time per repetition of a peer cell"
    )
    p.add_argument(
        "--peer-repeats",
        type=_at_least_one,
        default=3,
        help="interleaved repetitions of the peer cells",
    )
    p.add_argument(
        "--grpc-repeats",
        type=_at_least_one,
        default=GRPC_REPEATS,
        help="interleaved repetitions of the gRPC check cells and the floor",
    )
    p.add_argument(
        "--no-memory",
        action="store_true",
        help="skip the memory figures (they load each data set again, in a fresh process)",
    )
    p.add_argument("--json", type=Path, help="write the results to this file")
    p.add_argument(
        "--plot", type=Path, help="latency plot (PNG; default beside --json; needs matplotlib)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} repetitions: at least 1 is needed")
    return value


def options_from(args: argparse.Namespace) -> Options:
    modes = list(MODES) if args.consistency == "both" else _names(args.consistency, MODES, "mode")
    sizes = {name: args.size for name in args.datasets} if args.size else {}
    sizes.update(args.sizes)
    return Options(
        datasets=args.datasets,
        sizes=sizes,
        seed=args.seed,
        workloads=args.workloads,
        runners=args.runners,
        modes=modes,
        threads=args.threads,
        workers=args.workers,
        client_procs=args.procs,
        seconds=args.seconds,
        max_ops=args.max_ops,
        checks=args.checks,
        lookups=args.lookups,
        full=args.full,
        floor=not args.no_floor,
        peers=args.peers,
        peer_sizes=args.peer_sizes,
        peer_seconds=args.peer_seconds,
        peer_repeats=args.peer_repeats,
        grpc_repeats=args.grpc_repeats,
        memory=not args.no_memory,
        grpc_datasets=args.grpc_datasets,
    )


def run(argv: list[str]) -> int:
    args = run_parser().parse_args(argv)
    opts = options_from(args)
    suite = Suite(opts)
    suite.progress = Progress(suite.total_cells(), enabled=not args.quiet)
    started = time.time()
    report = suite.run()
    report.meta = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "wall_seconds": round(time.time() - started, 1),
        "machine": machine(),
        "argv": argv,
        "options": {k: v for k, v in vars(opts).items()},
    }
    print_report(report)
    if args.json:
        report.write_json(args.json)
        print(f"\nwrote {args.json}")
    png = args.plot or (args.json.with_suffix(".png") if args.json else None)
    if png is not None and plot(report, png):
        print(f"wrote {png}")
    bad = [r for r in report.results if r.errors or (r.wrong and r.runner in ("inprocess", "grpc"))]
    return 1 if bad else 0


def compare_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks compare",
        description="Regression table between two `python -m benchmarks --json` outputs.",
    )
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    p.add_argument(
        "--threshold", type=float, default=10.0, help="percent change called a regression"
    )
    p.add_argument("--fail", action="store_true", help="exit 1 when there is a regression")
    args = p.parse_args(argv)
    old = json.loads(args.old.read_text())
    new = json.loads(args.new.read_text())
    worse = compare(old, new, args.threshold / 100, sys.stdout)
    return 1 if worse and args.fail else 0


def list_main() -> int:
    print("data sets:", ", ".join(DATASETS))
    print("workloads:", ", ".join(WORKLOADS), f"(deep also: {', '.join(DEEP_WORKLOADS)})")
    print("runners:  ", ", ".join(RUNNERS))
    print("modes:    ", ", ".join(MODES))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["compare"]:
        return compare_main(argv[1:])
    if argv[:1] == ["list"]:
        return list_main()
    if argv[:1] == ["run"]:
        argv = argv[1:]
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
