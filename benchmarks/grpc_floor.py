"""The floor: a grpcio server that answers every Check with one constant response.

It serves the same ``PermissionService.Check`` method with the same messages as ``rebac
serve``, with the same thread pool size and the same number of processes (``SO_REUSEPORT``),
and is called by the same client code with the same requests, ``authorization`` header
included (it ignores the header; carrying it costs both ends of the connection). Whatever it
cannot exceed, no Python gRPC server on this machine can: rebac's gRPC figures are reported as
a fraction of it, which says how much of the cost is rebac's and how much is grpcio's.

How the cores are shared: the load generator runs on the same machine (``threads:N`` in the
suite's process, ``procs:P`` in P client processes), so clients and server processes compete
for the same cores in both measurements. A call costs the client C and the server S of CPU
time, and with every core busy the throughput is about cores / (C + S); the reported ratio is
therefore (C + S_floor) / (C + S_rebac), which is milder than the servers' own ratio
S_floor / S_rebac. On the 2-core development machine C is about 300-400 us per call, S_floor
about 350-450 us.

Why grpcio's synchronous server: it is the faster of grpcio's two servers for this load.
``--compare`` runs the same check load against this floor and against the same constant
answer from a ``grpc.aio`` server (``--aio``), alternately, two worker processes each. On the
2-core development machine the asyncio server made 0.85 to 1.00 of the synchronous one's
checks per second (the median of six comparisons 0.92, with two and with eight client
threads): asyncio saves grpcio no work here, so the synchronous floor is the higher bar, and
``rebac serve`` stays synchronous.

    python -m benchmarks.grpc_floor --listen 127.0.0.1:50099 [--workers N] [--threads 16] [--aio]
    python -m benchmarks.grpc_floor --compare [--workers 2] [--clients 2] [--seconds 1.5]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import signal
import statistics
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent import futures
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import grpc
from grpc_health.v1 import health, health_pb2_grpc

from benchmarks.runners import Budget, run_threads
from benchmarks.server import _clean_env, free_port, wait_until_serving
from benchmarks.targets import GrpcSpec
from benchmarks.workloads import Check, Op
from rebac.api.v1 import core_pb2, permission_service_pb2, permission_service_pb2_grpc

CHECK_ONLY = "the floor answers Check only"
SERVICE = permission_service_pb2.DESCRIPTOR.services_by_name["PermissionService"].full_name

# The reply a real server sends for an allowed check, token included, built once.
REPLY = permission_service_pb2.CheckResponse(
    checked_at=core_pb2.ConsistencyToken(token="AQ" + "A" * 48),
    permissionship=core_pb2.PERMISSIONSHIP_HAS_PERMISSION,
)


class ConstantPermissions(permission_service_pb2_grpc.PermissionServiceServicer):
    """Check answers :data:`REPLY`; nothing else is measured against the floor."""

    def Check(
        self, request: permission_service_pb2.CheckRequest, context: grpc.ServicerContext
    ) -> permission_service_pb2.CheckResponse:
        return REPLY

    def CheckBulk(
        self, request: permission_service_pb2.CheckBulkRequest, context: grpc.ServicerContext
    ) -> NoReturn:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, CHECK_ONLY)

    def Expand(
        self, request: permission_service_pb2.ExpandRequest, context: grpc.ServicerContext
    ) -> NoReturn:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, CHECK_ONLY)

    def LookupResources(
        self,
        request: permission_service_pb2.LookupResourcesRequest,
        context: grpc.ServicerContext,
    ) -> NoReturn:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, CHECK_ONLY)

    def LookupSubjects(
        self,
        request: permission_service_pb2.LookupSubjectsRequest,
        context: grpc.ServicerContext,
    ) -> NoReturn:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, CHECK_ONLY)


if TYPE_CHECKING:  # generic in grpc-stubs only
    AioContext = grpc.aio.ServicerContext[Any, Any]
else:
    AioContext = grpc.aio.ServicerContext


async def _constant_check(
    request: permission_service_pb2.CheckRequest, context: AioContext
) -> permission_service_pb2.CheckResponse:
    """Check for ``grpc.aio``: :data:`REPLY`. The other methods are not registered, so they
    are UNIMPLEMENTED, as the synchronous floor answers them."""
    return REPLY


async def _serve_aio(listen: str, reuse_port: bool) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1 if reuse_port else 0)])
    check = grpc.unary_unary_rpc_method_handler(
        _constant_check,
        request_deserializer=permission_service_pb2.CheckRequest.FromString,
        response_serializer=permission_service_pb2.CheckResponse.SerializeToString,
    )
    # Registered like the generated code registers the synchronous floor's methods (looked up
    # by name in grpcio's core, not by a generic handler per call); grpc-stubs predates it.
    server.add_registered_method_handlers(SERVICE, {"Check": check})  # type: ignore[attr-defined]
    aio_health = health.aio.HealthServicer()  # type: ignore[attr-defined]  # not in grpc-stubs
    health_pb2_grpc.add_HealthServicer_to_server(aio_health, server)
    server.add_insecure_port(listen)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(0.5)


def serve_one(listen: str, threads: int, reuse_port: bool, aio: bool = False) -> None:
    """One process: serve until SIGTERM or SIGINT."""
    if aio:
        asyncio.run(_serve_aio(listen, reuse_port))
        return
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads),
        options=[("grpc.so_reuseport", 1 if reuse_port else 0)],
    )
    permission_service_pb2_grpc.add_PermissionServiceServicer_to_server(
        ConstantPermissions(), server
    )
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    server.add_insecure_port(listen)
    server.start()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.wait(0.5):
        pass
    server.stop(0.5).wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listen")
    p.add_argument("--workers", type=int, help="processes (default: 1; with --compare, 2)")
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--aio", action="store_true", help="serve with grpc.aio instead")
    p.add_argument("--compare", action="store_true", help="measure both servers alternately")
    p.add_argument("--clients", type=int, default=2, help="with --compare: client threads")
    p.add_argument("--seconds", type=float, default=1.5, help="with --compare: per run")
    p.add_argument("--repeats", type=int, default=4, help="with --compare: runs of each")
    args = p.parse_args(argv)
    if args.compare:
        workers = 2 if args.workers is None else args.workers
        for line in compare_servers(
            workers, args.clients, args.seconds, args.repeats, args.threads
        ):
            print(line)
        return 0
    if args.listen is None:
        p.error("--listen is required (or --compare)")
    if args.workers in (None, 1):
        serve_one(args.listen, args.threads, False, args.aio)
        return 0
    ctx = multiprocessing.get_context("spawn")
    procs: list[BaseProcess] = [
        ctx.Process(target=serve_one, args=(args.listen, args.threads, True, args.aio))
        for _ in range(args.workers)
    ]
    for proc in procs:
        proc.start()

    def forward(signum: int, frame: FrameType | None) -> None:
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                proc.terminate()

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for proc in procs:
        proc.join()
    return 0


class FloorProcess:
    """The floor server as a child process on a free loopback port; a context manager."""

    def __init__(
        self,
        workers: int,
        threads: int = 16,
        *,
        aio: bool = False,
        prefix: Sequence[str] = (),
        startup_timeout: float = 30.0,
    ):
        """``prefix``: a command the floor runs under (a profiler, e.g. valgrind)."""
        self.address = f"127.0.0.1:{free_port()}"
        self.startup_timeout = startup_timeout
        self.proc = subprocess.Popen(
            [
                *prefix,
                sys.executable,
                "-m",
                "benchmarks.grpc_floor",
                "--listen",
                self.address,
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                *(["--aio"] if aio else []),
            ],
            env=_clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def __enter__(self) -> FloorProcess:
        try:
            wait_until_serving(self.address, self.proc, self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: A bearer token of a development JWT's length (the floors ignore it; the suite sends a real one).
COMPARE_TOKEN = "e" * 574
#: What --compare asks: any check will do, both servers answer every one alike.
COMPARE_OPS: list[Op] = [Check(f"document:d{i}", "view", f"user:u{i}", True) for i in range(100)]


def compare_servers(
    workers: int, clients: int, seconds: float, repeats: int, threads: int = 16
) -> list[str]:
    """Checks per second of the synchronous floor and of the ``grpc.aio`` one, under the
    same client load (``clients`` threads over four connections per worker), measured in
    ``repeats`` alternating runs; one line per run, then the ratio of the medians."""
    lines: list[str] = []
    rates: dict[str, list[float]] = {"sync": [], "aio": []}
    with (
        FloorProcess(workers, threads) as sync_floor,
        FloorProcess(workers, threads, aio=True) as aio_floor,
    ):
        for n in range(repeats):
            for kind, floor in (("sync", sync_floor), ("aio", aio_floor)):
                spec = GrpcSpec(
                    floor.address, "default", COMPARE_TOKEN, "minimize_latency", 4 * workers
                )
                target = spec.open()
                try:
                    summary = run_threads(target, COMPARE_OPS, clients, Budget(seconds, 10**9))
                finally:
                    target.close()
                rates[kind].append(summary.ops_per_second)
                lines.append(
                    f"{n + 1}/{repeats} {kind:4s} {summary.ops_per_second:8,.0f} checks/s "
                    f"p50 {summary.median_us:,.0f} us errors {summary.errors}"
                )
    ratio = statistics.median(rates["aio"]) / statistics.median(rates["sync"])
    lines.append(f"grpc.aio / synchronous (medians): {ratio:.3f}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
