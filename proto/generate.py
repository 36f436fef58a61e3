"""Regenerate the committed Python stubs of the rebac gRPC API.

    python proto/generate.py            # writes rebac/api/v1/*_pb2*.py[i]
    python proto/generate.py --out DIR  # writes DIR/rebac/api/v1/... (the freshness test)

Why the output root is the repository root: protoc names generated modules after the proto
*path* (``rebac/api/v1/core.proto`` -> ``rebac.api.v1.core_pb2``) and generated modules import
each other by that name, so the proto package path and the Python package must agree. Typed
stubs (``.pyi``) come from mypy-protobuf, so ``mypy --strict`` sees real message types.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from importlib import resources
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PROTO_ROOT.parent
PACKAGE_DIR = Path("rebac", "api", "v1")


def _plugin(name: str) -> str:
    """The path of a protoc plugin installed next to this interpreter (or on PATH)."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: install the test extras (pip install -e '.[test]')")
    return found


def proto_files() -> list[Path]:
    """The .proto sources, relative to the proto root, in a stable order."""
    return sorted(p.relative_to(PROTO_ROOT) for p in (PROTO_ROOT / PACKAGE_DIR).glob("*.proto"))


def generate(out_root: Path) -> list[Path]:
    """Generate every stub under ``out_root``; returns the files written."""
    from grpc_tools import protoc

    target = out_root / PACKAGE_DIR
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*_pb2*.py*"):
        old.unlink()
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT}",
        f"--proto_path={well_known}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        *(str(p) for p in proto_files()),
    ]
    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    return sorted(target.glob("*_pb2*.py*"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT, help="output root directory")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
