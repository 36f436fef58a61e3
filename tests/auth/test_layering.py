"""The auth decisions are transport-free: only the plug (interceptor) and the assembly
(runtime) may import gRPC or protobuf, so every security rule can be read and tested alone."""

from __future__ import annotations

import ast
from pathlib import Path

import server.auth

PACKAGE = Path(server.auth.__file__).parent
TRANSPORT = ("grpc", "grpc_health", "grpc_reflection", "google.protobuf", "google.rpc")
ALLOWED = {"interceptor.py", "gate.py", "statuses.py", "runtime.py"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_only_the_plug_and_the_assembly_import_the_transport() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) > 10
    for path in modules:
        if path.name in ALLOWED:
            continue
        bad = sorted(m for m in _imports(path) if m.startswith(TRANSPORT) or m == "server.app")
        assert not bad, f"{path.name} imports {bad}"
