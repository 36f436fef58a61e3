"""The whole run: data sets x runners x concurrency x consistency x workloads, then the grpcio
floor and the peers, into one :class:`~benchmarks.report.Report`.

What is measured by default (``full=False``) is chosen to finish in a few minutes on a
2-core machine while still answering every question of the suite; ``full=True`` measures the
whole matrix:

* in-process: every workload at ``threads:1`` in minimize_latency; check, bulk check and
  mixed also in fully_consistent; check also at ``threads:N`` in both modes; on ``deep``
  the same check through 50 levels of nesting and directly;
* over gRPC (``rebac serve --workers W``): check at ``threads:N`` and ``procs:P`` in both
  modes, mixed at ``procs:P`` in both, every other workload at ``procs:P`` in
  minimize_latency;
* the floor: check at the same ``threads:N`` and ``procs:P`` against a constant grpcio server,
  right after each data set's gRPC cells (so that each ratio compares two measurements taken
  under the same background load, which on a shared machine drifts from minute to minute);
* bulk import: into a SQLite-backed engine in-process, and over gRPC into the server;
* the peers (:mod:`benchmarks.peers`, each where installed): check on ``docs`` at each of
  ``peer_sizes``, one thread, minimize_latency, rebac and every peer on the same checks, in
  interleaved repetitions.
"""

from __future__ import annotations

import contextlib
import gc
import time
from dataclasses import dataclass, field

from benchmarks import memory
from benchmarks.datasets import DATASETS, Dataset, docs
from benchmarks.grpc_floor import FloorProcess
from benchmarks.loading import STORE_ID, batches, load_engine, sqlite_import
from benchmarks.measure import Summary, combined, read_engine_counters
from benchmarks.memory import MemoryFigures
from benchmarks.peers import Peer, PeerTarget, selected_peers
from benchmarks.progress import Progress
from benchmarks.report import DatasetInfo, Report, Row
from benchmarks.runners import Budget, Concurrency, Fleet, error_text, run_threads
from benchmarks.server import ServerProcess
from benchmarks.targets import (
    FULLY_CONSISTENT,
    MINIMIZE_LATENCY,
    MODES,
    GrpcSpec,
    InProcessTarget,
)
from benchmarks.workloads import (
    COLD_WORKLOADS,
    DEEP_WORKLOADS,
    WORKLOADS,
    Op,
    QuerySet,
    allowed_share,
    draw,
)
from rebac import Engine

#: Interleaved repetitions of the gRPC check cells and the floor. One cell's figure moves
#: ±10-15 % from one second to the next on a shared VM; five one-second repetitions, instead of
#: the three this began with, narrow that by a quarter for 50 seconds more in a default run.
GRPC_REPEATS = 5
#: Default relationships per data set: the default run finishes in a few minutes on 2 cores.
#: ``docs`` at 200k is the size the issue's targets are stated at.
DEFAULT_SIZES = {"docs": 200_000, "org": 50_000, "deep": 50_000, "wide": 50_000}
FALLBACK_SIZE = 50_000
QUANTUM_WAIT = 0.15  # a little over rebac serve's default quantum
#: Connections per server worker that a gRPC client spreads its calls over. The workers share
#: the port by SO_REUSEPORT, which hashes each *connection* to a worker: with one connection
#: per worker, half the time both land on the same one, which then serves everything while
#: the other idles, and a cell's figure says more about that draw than about the server.
#: Four per worker make a lopsided split rare, for rebac and the floor alike.
CONNECTIONS_PER_WORKER = 4


@dataclass
class Options:
    datasets: list[str]
    sizes: dict[str, int] = field(default_factory=dict)
    seed: int = 42
    workloads: list[str] = field(default_factory=lambda: list(WORKLOADS))
    runners: list[str] = field(default_factory=lambda: ["inprocess", "grpc"])
    modes: list[str] = field(default_factory=lambda: list(MODES))
    threads: int = 2
    workers: int = 2
    client_procs: int = 2
    seconds: float = 1.0
    max_ops: int = 200_000
    checks: int = 5000
    lookups: int = 40
    writes: int = 500
    full: bool = False
    floor: bool = True
    peers: str = "auto"  # auto or on: every peer where installed; off; or "spicedb,pemba"
    peer_sizes: list[int] = field(default_factory=lambda: [10_000, 200_000])
    peer_seconds: float = 5.0  # per repetition of a peer cell
    peer_repeats: int = 3  # interleaved repetitions of the peer cells (see run_peers)
    grpc_repeats: int = GRPC_REPEATS
    memory: bool = True  # RSS and index bytes, measured in a fresh process per data set
    grpc_datasets: list[str] | None = None  # None: every data set

    def size_of(self, name: str) -> int:
        return self.sizes.get(name, DEFAULT_SIZES.get(name, FALLBACK_SIZE))


@dataclass(frozen=True)
class Cell:
    runner: str
    concurrency: Concurrency
    mode: str
    workload: str


def inprocess_cells(opts: Options, dataset: str) -> list[Cell]:
    one, many = Concurrency("threads", 1), Concurrency("threads", opts.threads)
    workloads = [w for w in opts.workloads if w != "import"]
    if dataset == "deep" and "check" in opts.workloads:
        workloads += list(DEEP_WORKLOADS)
    cells: list[Cell] = []
    for w in workloads:
        for mode in opts.modes:
            concs = [one, many] if opts.full else [one]
            if not opts.full:
                if mode != MINIMIZE_LATENCY and w not in ("check", "bulk_check", "mixed"):
                    continue
                if w == "check" and opts.threads > 1:
                    concs.append(many)
            cells += [Cell("inprocess", c, mode, w) for c in dict.fromkeys(concs)]
    return cells


def grpc_cells(opts: Options) -> list[Cell]:
    many, procs = Concurrency("threads", opts.threads), Concurrency("procs", opts.client_procs)
    cells: list[Cell] = []
    for w in (w for w in opts.workloads if w != "import"):
        for mode in opts.modes:
            if opts.full or w == "check":
                concs = [many, procs]
            elif w == "mixed" or mode == MINIMIZE_LATENCY:
                concs = [procs]
            else:
                continue
            cells += [Cell("grpc", c, mode, w) for c in concs]
    return cells


def compared_with_floor(cell: Cell) -> bool:
    """The gRPC cells reported as a fraction of the floor (see report.derived)."""
    return cell.runner == "grpc" and cell.workload == "check"


def floor_cells(opts: Options) -> list[Cell]:
    return [
        Cell("floor", c, MINIMIZE_LATENCY, "check")
        for c in (Concurrency("threads", opts.threads), Concurrency("procs", opts.client_procs))
    ]


def _row(ds: str, cell: Cell, rels: int, s: Summary, *, check_answers: bool = True) -> Row:
    return Row(
        dataset=ds,
        runner=cell.runner,
        concurrency=str(cell.concurrency),
        consistency=cell.mode,
        workload=cell.workload,
        relationships=rels,
        ops=s.ops,
        items=s.items,
        seconds=round(s.seconds, 3),
        median_us=round(s.median_us, 2),
        p95_us=round(s.p95_us, 2),
        p99_us=round(s.p99_us, 2),
        ops_per_s=round(s.ops_per_second, 1),
        items_per_s=round(s.items_per_second, 1),
        wrong=s.wrong if check_answers else None,
        errors=s.errors,
        first_error=s.first_error,
    )


def _failed_row(ds: str, cell: Cell, rels: int, message: str) -> Row:
    """A cell that could not be measured at all (a peer that failed to load): one error,
    so the report prints it and the run's exit status says so."""
    return Row(
        dataset=ds,
        runner=cell.runner,
        concurrency=str(cell.concurrency),
        consistency=cell.mode,
        workload=cell.workload,
        relationships=rels,
        ops=0,
        items=0,
        seconds=0.0,
        median_us=None,
        p95_us=None,
        p99_us=None,
        ops_per_s=0.0,
        items_per_s=0.0,
        wrong=None,
        errors=1,
        first_error=message,
    )


def import_row(ds: str, runner: str, rels: int, seconds: float) -> Row:
    """A timed bulk import as a row: one operation of ``rels`` items."""
    return Row(
        dataset=ds,
        runner=runner,
        concurrency="threads:1",
        consistency="-",
        workload="import",
        relationships=rels,
        ops=1,
        items=rels,
        seconds=round(seconds, 3),
        median_us=None,
        p95_us=None,
        p99_us=None,
        ops_per_s=round(1 / seconds, 3) if seconds else 0.0,
        items_per_s=round(rels / seconds, 1) if seconds else 0.0,
        wrong=None,
        errors=0,
    )


class Suite:
    """Runs :class:`Options` into a :class:`Report`."""

    def __init__(self, opts: Options, progress: Progress | None = None):
        self.opts = opts
        self.report = Report(meta={})
        self.fleet: Fleet | None = None
        self.progress = progress or Progress(self.total_cells(), enabled=False)

    @property
    def _connections(self) -> int:
        return CONNECTIONS_PER_WORKER * self.opts.workers

    def budget(self, workload: str) -> Budget:
        cycle = workload not in COLD_WORKLOADS
        return Budget(self.opts.seconds, self.opts.max_ops, cycle=cycle)

    def wants_grpc(self, name: str) -> bool:
        wanted = self.opts.grpc_datasets
        return "grpc" in self.opts.runners and (wanted is None or name in wanted)

    def total_cells(self) -> int:
        o = self.opts
        n = 0
        for name in o.datasets:
            if "inprocess" in o.runners:
                n += len(inprocess_cells(o, name))
            if self.wants_grpc(name):
                n += self.total_grpc_steps()
        peers = selected_peers(o.peers)
        if peers:  # rebac's own check, then each peer's, per size
            n += (1 + len(peers)) * len(o.peer_sizes)
        return n

    def get_fleet(self) -> Fleet:
        if self.fleet is None:
            self.progress.say(f"starting {self.opts.client_procs} client processes")
            self.fleet = Fleet(self.opts.client_procs)
        return self.fleet

    def run(self) -> Report:
        try:
            for name in self.opts.datasets:
                self.run_dataset(name)
            if selected_peers(self.opts.peers):
                self.run_peers()
        finally:
            if self.fleet is not None:
                self.fleet.close()
            self.progress.close()
        return self.report

    # -- one data set -------------------------------------------------------------------------

    def run_dataset(self, name: str) -> None:
        opts, progress = self.opts, self.progress
        size = opts.size_of(name)
        progress.say(f"{name}: generating {size:,} relationships")
        t0 = time.perf_counter()
        ds = DATASETS[name](size, opts.seed)
        generate_s = time.perf_counter() - t0
        rels = len(ds.relationships)
        mem: MemoryFigures | None = None
        if opts.memory:
            progress.say(f"{name}: measuring memory in a fresh process")
            mem = memory.measure(name, size, opts.seed)
        progress.say(f"{name}: loading {rels:,} relationships in-process")
        engine, load_s = load_engine(ds)
        progress.say(f"{name}: drawing queries")
        queries = draw(
            engine,
            ds,
            checks=opts.checks,
            lookups=opts.lookups,
            writes=opts.writes,
            seed=opts.seed,
        )
        info = DatasetInfo(
            name=name,
            relationships=rels,
            users=len(ds.users),
            resources=len(ds.resources),
            generate_s=round(generate_s, 3),
            load_s=round(load_s, 3),
            load_per_s=round(rels / load_s, 1) if load_s else 0.0,
            rss_delta_bytes=mem.rss_delta_bytes if mem else None,
            index_bytes=mem.index_bytes if mem else None,
            index_bytes_per_relationship=_round(mem.index_bytes_per_relationship, 1)
            if mem
            else None,
            allowed_share=round(allowed_share(queries.checks), 3),
        )
        self.report.datasets.append(info)
        if "inprocess" in opts.runners:
            self.run_inprocess(name, engine, queries, rels)
            if "import" in opts.workloads:
                progress.say(f"{name}: bulk import into SQLite")
                self.report.results.append(import_row(name, "inprocess", rels, sqlite_import(ds)))
        del engine
        gc.collect()
        if self.wants_grpc(name):
            self.run_grpc(name, ds, queries, info)

    def run_inprocess(self, name: str, engine: Engine, queries: QuerySet, rels: int) -> None:
        for cell in inprocess_cells(self.opts, name):
            self.progress.step(
                f"{name} · in-process · {cell.concurrency} · {cell.mode} · {cell.workload}"
            )
            target = InProcessTarget(engine, cell.mode)
            forget(engine, queries)
            before = read_engine_counters(engine)
            ops = queries.ops(cell.workload)
            summary = run_threads(target, ops, cell.concurrency.n, self.budget(cell.workload))
            counters = read_engine_counters(engine).minus(before)
            row = _row(name, cell, rels, summary)
            row.dispatches_per_check = _round(counters.dispatches_per_check, 3)
            row.cache_hit_ratio = _round(counters.cache_hit_ratio, 3)
            self.report.results.append(row)

    # -- over gRPC ----------------------------------------------------------------------------

    def run_grpc(self, name: str, ds: Dataset, queries: QuerySet, info: DatasetInfo) -> None:
        """The gRPC cells against ``rebac serve``. The check cells, and the floor beside them,
        run in ``grpc_repeats`` interleaved repetitions (see :meth:`_compare_with_floor`); the
        other cells once each."""
        opts, progress = self.opts, self.progress
        cells = grpc_cells(opts)
        progress.say(f"{name}: starting rebac serve --workers {opts.workers}")
        try:
            server = ServerProcess(opts.workers).start()
        except Exception as exc:
            self.report.notes.append(f"{name}: rebac serve did not start: {exc}")
            for _ in range(self.total_grpc_steps()):
                progress.step(f"{name} · gRPC · skipped")
            return
        token = server.token
        try:
            spec = GrpcSpec(server.address, STORE_ID, token, MINIMIZE_LATENCY, self._connections)
            progress.say(f"{name}: importing {len(ds.relationships):,} relationships over gRPC")
            import_s = self._grpc_load(spec, ds)
            info.server_import_s = round(import_s, 3)
            if "import" in opts.workloads:
                row = import_row(name, "grpc", len(ds.relationships), import_s)
                self.report.results.append(row)
            progress.say(f"{name}: warming every server worker")
            _warm_workers(spec, queries.ops("check")[:1], 4 * opts.workers)
            info.server_rss_bytes = server.rss()
            compared = [c for c in cells if compared_with_floor(c)]
            self._compare_with_floor(name, spec, queries, compared, len(ds.relationships))
            for n, cell in enumerate(c for c in cells if not compared_with_floor(c)):
                progress.step(f"{name} · gRPC · {cell.concurrency} · {cell.mode} · {cell.workload}")
                summary = self._grpc_cell(spec, cell, queries, n)
                self.report.results.append(_row(name, cell, len(ds.relationships), summary))
        finally:
            server.stop()

    def total_grpc_steps(self) -> int:
        """Progress steps of one data set's gRPC cells (repetitions and floor included)."""
        o = self.opts
        cells = grpc_cells(o)
        compared = sum(1 for c in cells if compared_with_floor(c))
        floor = len(floor_cells(o)) if o.floor else 0
        return len(cells) - compared + (compared + floor) * o.grpc_repeats

    def _compare_with_floor(
        self, name: str, spec: GrpcSpec, queries: QuerySet, cells: list[Cell], rels: int
    ) -> None:
        """``cells`` and the floor's cells, in ``grpc_repeats`` interleaved repetitions with
        the floor server running beside rebac's: a slow moment of this shared machine then
        slows both instead of deciding the ratio (single passes of one second each measured
        anything from 0.24 to 1.5 of the floor for the same build). The floor gets the very
        requests rebac got, ``authorization`` header included (it ignores it), so both sides
        pay alike for carrying it. Each row combines its repetitions (measure.combined)."""
        opts, progress = self.opts, self.progress
        floor_list = floor_cells(opts) if opts.floor else []
        runs: dict[Cell, list[Summary]] = {c: [] for c in [*cells, *floor_list]}
        with contextlib.ExitStack() as stack:
            floor_spec: GrpcSpec | None = None
            if floor_list:
                progress.say(f"starting the grpcio floor server ({opts.workers} workers)")
                floor = stack.enter_context(FloorProcess(opts.workers))
                floor_spec = GrpcSpec(
                    floor.address, STORE_ID, spec.token, MINIMIZE_LATENCY, self._connections
                )
            for rep in range(opts.grpc_repeats):
                suffix = f" · {rep + 1}/{opts.grpc_repeats}"
                for n, cell in enumerate(cells):
                    progress.step(
                        f"{name} · gRPC · {cell.concurrency} · {cell.mode} · check{suffix}"
                    )
                    write = 1000 + rep * len(cells) + n  # a new one each time
                    runs[cell].append(self._grpc_cell(spec, cell, queries, write))
                for cell in floor_list:
                    assert floor_spec is not None
                    progress.step(f"{name} · floor · {cell.concurrency} · check{suffix}")
                    ops = queries.ops("check")
                    runs[cell].append(self._run_remote(floor_spec, cell.concurrency, ops, "floor"))
        for cell, summaries in runs.items():
            is_floor = cell.runner == "floor"
            row = _row(
                name, cell, 0 if is_floor else rels, combined(summaries), check_answers=not is_floor
            )
            self.report.results.append(row)

    def _grpc_cell(self, spec: GrpcSpec, cell: Cell, queries: QuerySet, n: int) -> Summary:
        """One measured gRPC cell, after a write that empties the server's caches."""
        cell_spec = GrpcSpec(spec.address, STORE_ID, spec.token, cell.mode, self._connections)
        _remote_forget(spec, queries.reset_write(n))
        return self._run_remote(
            cell_spec, cell.concurrency, queries.ops(cell.workload), cell.workload
        )

    def _grpc_load(self, spec: GrpcSpec, ds: Dataset) -> float:
        target = spec.open()
        try:
            client = target.clients[0]
            client.write_schema(ds.schema)
            start = time.perf_counter()
            client.import_relationships(batches(ds.relationships))
            return time.perf_counter() - start
        finally:
            target.close()

    def _run_remote(
        self, spec: GrpcSpec, conc: Concurrency, ops: list[Op], workload: str
    ) -> Summary:
        if conc.kind == "procs":
            return self.get_fleet().run(spec, ops, self.budget(workload))
        target = spec.open()
        try:
            return run_threads(target, ops, conc.n, self.budget(workload))
        finally:
            target.close()

    # -- peers ----------------------------------------------------------------------------------

    def run_peers(self) -> None:
        """Per ``peer_sizes``: one ``docs`` data set loaded into rebac and into each selected
        peer that is installed, then the same checks asked of each, in ``peer_repeats``
        interleaved repetitions (a row is their combination, see measure.combined), each
        answer compared with rebac's expected one. Peers not installed get a note."""
        available: list[Peer] = []
        for peer in selected_peers(self.opts.peers):
            reason = peer.unavailable()
            if reason is None:
                available.append(peer)
                continue
            self.report.notes.append(f"peers: {peer.label} not measured: {reason}")
            for _ in self.opts.peer_sizes:
                self.progress.step(f"peers · {peer.runner} · skipped")
        if not available:  # rebac's figure alone compares with nothing
            for _ in self.opts.peer_sizes:
                self.progress.step("peers · rebac · skipped")
            return
        budget = Budget(self.opts.peer_seconds, self.opts.max_ops, warmup=5, cycle=False)
        cell = Cell("inprocess", Concurrency("threads", 1), MINIMIZE_LATENCY, "check")
        names: dict[str, str] = {}
        for size in self.opts.peer_sizes:
            label = f"docs@{size}"
            self.progress.say(f"peers: {label}: generating and loading")
            ds = docs(size, self.opts.seed)
            rels = len(ds.relationships)
            engine, load_s = load_engine(ds)
            queries = draw(engine, ds, checks=1000, lookups=1, writes=1, seed=self.opts.seed)
            ops = queries.ops("check")
            self.report.results.append(import_row(label, "inprocess", rels, load_s))
            self.progress.step(f"peers · {label} · rebac in-process · check")
            opened = self._open_peers(available, cell, ds, label)
            runs: dict[str, list[Summary]] = {"inprocess": [], **{p.runner: [] for p, _ in opened}}
            try:
                # Interleaved repetitions: a slow moment of this shared machine then slows
                # every engine alike instead of deciding the comparison.
                ours = InProcessTarget(engine, MINIMIZE_LATENCY)
                for _ in range(self.opts.peer_repeats):
                    # rebac asked cold each time; pemba keeps nothing between checks, and
                    # what SpiceDB keeps can only flatter it.
                    forget(engine, queries)
                    runs["inprocess"].append(run_threads(ours, ops, 1, budget))
                    for peer, target in opened:
                        runs[peer.runner].append(run_threads(target, ops, 1, budget))
                for peer, target in opened:
                    names[peer.runner] = target.name
            finally:
                for _, target in opened:
                    target.close()
            self.report.results.append(_row(label, cell, rels, combined(runs["inprocess"])))
            for peer, _ in opened:
                peer_cell = Cell(peer.runner, cell.concurrency, cell.mode, "check")
                self.report.results.append(
                    _row(label, peer_cell, rels, combined(runs[peer.runner]))
                )
            del engine, opened
            gc.collect()
        for runner, name in names.items():
            self.report.notes.append(f"peers: {runner} is {name}")

    def _open_peers(
        self, available: list[Peer], cell: Cell, ds: Dataset, label: str
    ) -> list[tuple[Peer, PeerTarget]]:
        """Each available peer opened and loaded with ``ds`` (its load time reported); a peer
        that fails gets a failed check row and is left out."""
        rels = len(ds.relationships)
        opened: list[tuple[Peer, PeerTarget]] = []
        for peer in available:
            self.progress.step(f"peers · {label} · {peer.label} · load, check")
            peer_cell = Cell(peer.runner, cell.concurrency, cell.mode, "check")
            target: PeerTarget | None = None
            try:
                target = peer.open(ds.schema, cell.mode)
                peer_load = target.load(ds.relationships)
            except Exception as exc:  # a peer's failure is reported, the run goes on
                if target is not None:
                    target.close()
                self.report.results.append(_failed_row(label, peer_cell, rels, error_text(exc)))
                continue
            self.report.results.append(import_row(label, peer.runner, rels, peer_load))
            opened.append((peer, target))
        return opened


def forget(engine: Engine, queries: QuerySet) -> None:
    """Empty what the engine learned from earlier cells: ``Engine.clear_caches()`` where the
    engine has it, else a write (caches are per revision)."""
    clear = getattr(engine, "clear_caches", None)
    if callable(clear):
        clear()
    else:
        engine.touch(queries.reset_write(0))


def _remote_forget(spec: GrpcSpec, relationship: str) -> None:
    """A server's caches are per revision: one write, then time for every worker to catch up
    (minimize_latency reads do so at most every quantum, 0.1 s by default)."""
    target = spec.open()
    try:
        target.write(relationship)
    finally:
        target.close()
    time.sleep(QUANTUM_WAIT)


def _warm_workers(spec: GrpcSpec, ops: list[Op], connections: int) -> None:
    """Make one call on several fresh connections, so that every server worker (the kernel
    picks one per connection) has loaded its index before anything is measured."""
    from benchmarks.workloads import execute

    one = GrpcSpec(spec.address, spec.store_id, spec.token, FULLY_CONSISTENT, 1)
    for _ in range(connections):
        target = one.open()
        try:
            for op in ops:
                execute(target, op)
        finally:
            target.close()


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
