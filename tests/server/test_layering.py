"""Imports flow one way: only the API stubs, the client and the edges (server, CLI) see
gRPC/protobuf.

The engine, store, schema, caveats and validation must stay usable (and testable) without a
transport; this walks their imports so a stray ``import grpc`` fails here, by name.
"""

from __future__ import annotations

import ast
from pathlib import Path

REBAC = Path(__file__).resolve().parents[2] / "rebac"
TRANSPORT = ("grpc", "grpc_status", "grpc_health", "grpc_reflection", "google", "server")
EDGES = ("api/", "cli/")  # generated stubs; the command line, a client of the server


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_engine_never_imports_the_transport() -> None:
    offenders = []
    for path in sorted(REBAC.rglob("*.py")):
        rel = path.relative_to(REBAC).as_posix()
        if rel.startswith(EDGES) or rel == "client.py":
            continue
        for name in _imports(path):
            root = name.split(".")[0]
            if root in TRANSPORT or name.startswith("rebac.api") or name == "rebac.client":
                offenders.append(f"rebac/{rel}: {name}")
    assert not offenders, offenders


def test_only_the_command_line_reaches_into_the_server_package() -> None:
    """The client and the protobuf mapping live in rebac: a client install needs no server."""
    offenders = []
    for path in sorted(REBAC.rglob("*.py")):
        rel = path.relative_to(REBAC).as_posix()
        if rel.startswith("cli/"):  # `rebac serve` starts the server: the composition root
            continue
        for name in _imports(path):
            if name.split(".")[0] == "server":
                offenders.append(f"rebac/{rel}: {name}")
    assert not offenders, offenders
