"""An in-process server on port 0 per test, and ``rebac(...)``: the CLI run against it.

The server is the server tests' (tests.servers: memory datastore, ``default`` store), so CLI
tests exercise the real gRPC path: argument parsing, the client, the wire, the
servicers, and the error mapping back. ``rebac(...)`` calls :func:`rebac.cli.main.main` in this
process and returns the exit code with what it printed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rebac.cli.main import main
from rebac.client import Client
from server.app import RebacServer
from tests.servers import SCHEMA, start_server

__all__ = ["RELATIONSHIPS", "SCHEMA", "MakeServer", "Rebac", "Result"]

RELATIONSHIPS = (
    "group:eng#member@user:alice",
    "group:eng#member@user:bob",
    "document:readme#viewer@group:eng#member",
    "document:readme#owner@user:carol",
    "document:readme#banned@user:bob",
    "document:public#viewer@user:*",
    "document:public#banned@user:erin",
    "document:weekday#viewer@user:dave[on_weekday]",
)


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


Rebac = Callable[..., Result]
MakeServer = Callable[..., RebacServer]


@pytest.fixture
def make_server() -> Iterator[MakeServer]:
    """``make_server(interceptors=..., **settings)`` -> a started server (stopped after)."""
    started: list[RebacServer] = []

    def make(interceptors: tuple[Any, ...] = (), **overrides: Any) -> RebacServer:
        server = start_server(interceptors, **overrides)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop(0)


@pytest.fixture(autouse=True)
def hermetic_cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No endpoint, store or credentials from the developer's shell, and no development token
    from a ``rebac serve`` run in the working directory (the data dir is the test's own)."""
    for name in (
        "REBAC_ENDPOINT",
        "REBAC_STORE_ID",
        "REBAC_TOKEN",
        "REBAC_TOKEN_FILE",
        "REBAC_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REBAC_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def server(make_server: MakeServer, monkeypatch: pytest.MonkeyPatch) -> RebacServer:
    """A server the CLI talks to by default (REBAC_ENDPOINT points at it)."""
    started = make_server()
    monkeypatch.setenv("REBAC_ENDPOINT", started.address)
    return started


@pytest.fixture
def rebac(capsys: pytest.CaptureFixture[str]) -> Rebac:
    """``rebac("check", "document:readme", ...)`` -> Result(code, out, err)."""

    def run(*argv: str) -> Result:
        capsys.readouterr()  # drop anything printed before
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse usage errors and --help
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def client(server: RebacServer) -> Iterator[Client]:
    with Client(server.address, "default", timeout=10) as c:
        yield c


@pytest.fixture
def loaded(client: Client) -> Client:
    """The server with SCHEMA and RELATIONSHIPS written (through the Python client)."""
    client.write_schema(SCHEMA)
    client.touch(*RELATIONSHIPS)
    return client
