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

    python -m benchmarks.grpc_floor --listen 127.0.0.1:50099 [--workers N] [--threads 16]
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import subprocess
import sys
import threading
from concurrent import futures
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import NoReturn

import grpc
from grpc_health.v1 import health, health_pb2_grpc

from benchmarks.server import _clean_env, free_port, wait_until_serving
from rebac.api.v1 import core_pb2, permission_service_pb2, permission_service_pb2_grpc

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
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "the floor answers Check only")

    def Expand(
        self, request: permission_service_pb2.ExpandRequest, context: grpc.ServicerContext
    ) -> NoReturn:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "the floor answers Check only")

    def LookupResources(
        self,
        request: permission_service_pb2.LookupResourcesRequest,
        context: grpc.ServicerContext,
    ) -> NoReturn:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "the floor answers Check only")

    def LookupSubjects(
        self,
        request: permission_service_pb2.LookupSubjectsRequest,
        context: grpc.ServicerContext,
    ) -> NoReturn:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "the floor answers Check only")


def serve_one(listen: str, threads: int, reuse_port: bool) -> None:
    """One process: serve until SIGTERM or SIGINT."""
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
    p.add_argument("--listen", required=True)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=16)
    args = p.parse_args(argv)
    if args.workers == 1:
        serve_one(args.listen, args.threads, False)
        return 0
    ctx = multiprocessing.get_context("spawn")
    procs: list[BaseProcess] = [
        ctx.Process(target=serve_one, args=(args.listen, args.threads, True))
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

    def __init__(self, workers: int, threads: int = 16):
        self.address = f"127.0.0.1:{free_port()}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.grpc_floor",
                "--listen",
                self.address,
                "--workers",
                str(workers),
                "--threads",
                str(threads),
            ],
            env=_clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def __enter__(self) -> FloorProcess:
        try:
            wait_until_serving(self.address, self.proc, 30.0)
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


if __name__ == "__main__":
    sys.exit(main())
