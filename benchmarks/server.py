"""A real ``rebac serve`` process on 127.0.0.1, for the gRPC runner.

The server is started exactly as an operator would start it (``python -m rebac.cli serve``)
with its own data directory and SQLite file in a temporary directory, on a free loopback port.
Without authentication settings ``rebac serve`` runs in local development mode: when it writes
a development token (``DATA_DIR/dev-auth/token``, see :mod:`server.auth.devmode`) the client
sends it, as ``rebac`` command-line calls do; when it writes none, no token is needed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.measure import process_tree, rss_bytes

STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env() -> dict[str, str]:
    """This environment without REBAC_* settings: the benchmark decides every setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("REBAC_")}


def wait_until_serving(address: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll the standard health service until it says SERVING (or refuses us for want of a
    token: that too is a server that is up)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    end = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server at {address} exited with {proc.returncode}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError as exc:
                code = exc.code() if isinstance(exc, grpc.Call) else None
                if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    return
            if time.monotonic() > end:
                raise TimeoutError(f"no server answered at {address} within {timeout:.0f} s")
            time.sleep(0.1)


class ServerProcess:
    """``rebac serve --workers N`` in a temporary data directory; a context manager."""

    def __init__(
        self,
        workers: int,
        *,
        threads: int = 16,
        log: Path | None = None,
        prefix: Sequence[str] = (),
        startup_timeout: float = STARTUP_TIMEOUT,
    ):
        """``prefix``: a command the server runs under (a profiler, e.g. valgrind)."""
        self._tmp = tempfile.TemporaryDirectory(prefix="rebac-bench-serve-")
        self.data_dir = Path(self._tmp.name)
        self.address = f"127.0.0.1:{free_port()}"
        self.workers = workers
        self.log_path = log or self.data_dir / "server.log"
        self.startup_timeout = startup_timeout
        args = [
            *prefix,
            sys.executable,
            "-m",
            "rebac.cli",
            "serve",
            "--listen",
            self.address,
            "--data-dir",
            str(self.data_dir),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--grace-period",
            "1",
            "--log-level",
            "WARNING",
        ]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args, env=_clean_env(), stdout=self._log, stderr=subprocess.STDOUT, cwd=self.data_dir
        )

    def start(self) -> ServerProcess:
        try:
            wait_until_serving(self.address, self.proc, self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def token(self) -> str | None:
        """The development token the server wrote, if it wrote one."""
        path = self.data_dir / "dev-auth" / "token"
        try:
            from server.auth.devmode import token_file

            path = token_file(self.data_dir)
        except ImportError:
            pass
        try:
            return path.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def rss(self) -> int:
        """Resident memory of the server and its worker processes."""
        return sum(rss_bytes(pid) for pid in process_tree(self.proc.pid))

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                for pid in reversed(process_tree(self.proc.pid)):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()
        self._tmp.cleanup()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
