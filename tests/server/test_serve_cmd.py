"""``rebac serve`` as a user runs it: a real process, its banner, its data, its signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rebac.client import Client, Unavailable
from rebac.revision import Consistency
from tests.server.conftest import SCHEMA


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBAC_")}
    return subprocess.Popen(
        [sys.executable, "-m", "rebac.cli", "serve", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _token(cwd: Path) -> list[tuple[str, str]]:
    """The development-mode token ``rebac serve`` writes into its data directory."""
    token = (cwd / ".rebac-data" / "dev-auth" / "token").read_text().strip()
    return [("authorization", f"Bearer {token}")]


def _until_up(address: str, cwd: Path, timeout: float = 20.0) -> list[str]:
    end = time.monotonic() + timeout
    while True:
        try:
            with Client(address, timeout=1, metadata=_token(cwd)) as c:
                return c.list_stores()
        except (Unavailable, FileNotFoundError):
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def _workers_of(pid: int) -> list[int]:
    """Worker processes of ``pid`` (Linux /proc; empty elsewhere)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if not children.exists():
        return []
    found = []
    for child in children.read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"spawn_main" in cmdline:
            found.append(int(child))
    return found


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_serve_with_defaults_in_a_data_directory(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    address = f"127.0.0.1:{_free_port()}"
    proc = _start(tmp_path, "--listen", address)
    processes.append(proc)
    assert _until_up(address, tmp_path) == ["default"]
    assert (tmp_path / ".rebac-data" / "rebac.db").exists()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert f"listening on {address}" in out
    assert "authentication: DEVELOPMENT MODE" in out
    assert "grpcurl -plaintext" in out and "rebac.api.v1.SchemaService/ReadSchema" in out


def test_serve_refuses_a_public_address_without_authentication(tmp_path: Path) -> None:
    proc = _start(tmp_path, "--listen", "0.0.0.0:0")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "refusing to listen on 0.0.0.0:0 without authentication" in out
    assert not (tmp_path / ".rebac-data").exists()


def test_workers_share_the_port_and_honour_each_others_tokens(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    address = f"127.0.0.1:{_free_port()}"
    proc = _start(
        tmp_path,
        *("--listen", address, "--workers", "2", "--quantum", "30"),
        *("--audit-flush-interval", "10"),  # only a stopping worker writes its Check lines
    )
    processes.append(proc)
    # One answer means one worker is up; the kernel may hand a fresh connection to the other,
    # still starting (seen once on a loaded machine as "Socket closed"): several fresh
    # connections must answer before the test relies on either worker.
    for _ in range(8):
        _until_up(address, tmp_path)
    md = _token(tmp_path)
    assert len(_workers_of(proc.pid)) in (0, 2)  # 0: no /proc to look in
    with Client(address, timeout=5, metadata=md) as writer:
        writer.write_schema(SCHEMA)
        writer.touch("document:d#viewer@user:alice")
    for i in range(8):  # fresh connections land on either worker
        with Client(address, timeout=5, metadata=md) as c:
            token = c.touch(f"document:d#viewer@user:u{i}")
        with Client(address, timeout=5, metadata=md) as reader:
            answer = reader.check(
                "document:d",
                "view",
                f"user:u{i}",
                consistency=Consistency.at_least_as_fresh(token),
            )
            assert answer.allowed
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "(2 workers)" in out
    assert out.count("INFO rebac.server") >= 4, out  # each worker drained and stopped
    audit = (tmp_path / ".rebac-data" / "audit.jsonl").read_text().splitlines()
    assert sum('"rpc":"/rebac.api.v1.PermissionService/Check"' in line for line in audit) == 8
