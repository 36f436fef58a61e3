"""``rebac schema ...``: check and format schema files.

``rebac schema check FILE.zed [--parse-only]`` exits 0 with a one-line summary on stdout, or 1
with ``FILE:line:col: message`` on stderr, the form editors and CI annotators pick up. A file
that cannot be read exits 2. ``--parse-only`` checks syntax alone (no imports, no name
resolution), for fragments that rely on definitions kept elsewhere.

``rebac schema format FILE.zed`` prints the canonical text (the form ``print_schema`` writes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rebac.errors import SchemaError
from rebac.schema import compile_schema, parse_schema, print_schema

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``schema`` and its sub-commands to the ``rebac`` command line."""
    parser = subparsers.add_parser("schema", help="check or format a schema file")
    commands = parser.add_subparsers(dest="schema_command", required=True, metavar="ACTION")

    check = commands.add_parser(
        "check",
        help="parse and type-check a schema file",
        description="Exit 0 when the schema is valid, 1 when it is not, 2 when unreadable.",
    )
    check.add_argument("file", type=Path, metavar="FILE.zed")
    check.add_argument(
        "--parse-only",
        action="store_true",
        help="check syntax only: no imports, no name or type checks",
    )
    check.set_defaults(func=_check)

    fmt = commands.add_parser("format", help="print the schema in canonical form")
    fmt.add_argument("file", type=Path, metavar="FILE.zed")
    fmt.set_defaults(func=_format)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{path}: cannot read: {exc}", file=sys.stderr)
        return None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _check(args: argparse.Namespace) -> int:
    path: Path = args.file
    text = _read(path)
    if text is None:
        return EXIT_UNREADABLE
    try:
        if args.parse_only:
            schema = parse_schema(text, source=path.name)
        else:
            schema = compile_schema(text, source=path.name, base_dir=path.parent).schema
    except SchemaError as exc:
        # Errors inside an imported file name that file (relative to the schema's folder).
        where = str(path) if exc.source in (None, path.name) else str(path.parent / exc.source)
        print(exc.format(where), file=sys.stderr)
        return EXIT_INVALID
    summary = (
        f"{_plural(len(schema.definitions), 'definition')}, "
        f"{_plural(len(schema.caveats), 'caveat')}"
    )
    mode = "syntax ok" if args.parse_only else "ok"
    print(f"{path}: {mode} ({summary})")
    return EXIT_OK


def _format(args: argparse.Namespace) -> int:
    path: Path = args.file
    text = _read(path)
    if text is None:
        return EXIT_UNREADABLE
    try:
        schema = parse_schema(text, source=path.name)
    except SchemaError as exc:
        print(exc.format(str(path)), file=sys.stderr)
        return EXIT_INVALID
    sys.stdout.write(print_schema(schema))
    return EXIT_OK
