"""The ``rebac`` command line.

Each sub-command lives in its own module that exposes ``register(subparsers)``; this module only
wires them together, so adding a command never touches another command's code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rebac.cli import (
    bulk_cmd,
    query_cmd,
    rel_cmd,
    schema_cmd,
    serve_cmd,
    token_cmd,
    validate_cmd,
    watch_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rebac", description="Relationship-based authorization engine (SpiceDB-compatible)."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (
        schema_cmd,
        validate_cmd,
        serve_cmd,
        rel_cmd,
        query_cmd,
        watch_cmd,
        bulk_cmd,
        token_cmd,
    ):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
