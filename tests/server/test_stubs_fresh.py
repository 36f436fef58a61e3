"""The committed stubs in ``rebac/api/v1`` are exactly what ``proto/generate.py`` produces.

Lines that only record the generator's version are ignored, so a developer with a newer
grpcio-tools patch release does not see a spurious failure; anything that changes the API does
fail, with the file named.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "rebac" / "api" / "v1"

# Version stamps of protoc / grpcio-tools / mypy-protobuf: not part of the API.
_VERSION_LINE = re.compile(
    r"^(# Protobuf Python Version:.*|GRPC_GENERATED_VERSION = .*|\s+\d+,\s*|.*mypy-protobuf \d.*)$"
)


def _load_generator() -> object:
    path = REPO / "proto" / "generate.py"
    spec = importlib.util.spec_from_file_location("rebac_proto_generate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _normalise(text: str) -> list[str]:
    return [line for line in text.splitlines() if not _VERSION_LINE.match(line)]


def test_committed_stubs_match_the_protos(tmp_path: Path) -> None:
    pytest.importorskip("mypy_protobuf", reason="the stub generator needs mypy-protobuf")
    generator = _load_generator()
    fresh = generator.generate(tmp_path)  # type: ignore[attr-defined]
    fresh_names = {p.name for p in fresh}
    committed_names = {p.name for p in COMMITTED.glob("*_pb2*.py*")}
    assert fresh_names == committed_names, (
        "generated file set differs; run `python proto/generate.py` "
        f"(missing: {sorted(fresh_names - committed_names)}, "
        f"extra: {sorted(committed_names - fresh_names)})"
    )
    stale = [
        name
        for name in sorted(fresh_names)
        if _normalise((tmp_path / "rebac" / "api" / "v1" / name).read_text())
        != _normalise((COMMITTED / name).read_text())
    ]
    assert not stale, f"stale stubs {stale}: run `python proto/generate.py` and commit them"


def test_generated_modules_import_by_their_package_path() -> None:
    """The naming trap: generated modules import each other as ``rebac.api.v1.*``."""
    from rebac.api.v1 import core_pb2, permission_service_pb2

    assert core_pb2.DESCRIPTOR.package == "rebac.api.v1"
    assert permission_service_pb2.DESCRIPTOR.dependencies[-1].name == "rebac/api/v1/core.proto"
