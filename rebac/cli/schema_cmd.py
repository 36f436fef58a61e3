"""``rebac schema ...``: check and format schema files offline; write, read and diff the schema
of a store on a running server.

``rebac schema check FILE.zed [--parse-only]`` exits 0 with a one-line summary on stdout, or 1
with ``FILE:line:col: message`` on stderr, the form editors and CI annotators pick up. A file
that cannot be read exits 2. ``--parse-only`` checks syntax alone (no imports, no name
resolution), for fragments that rely on definitions kept elsewhere.

``rebac schema format FILE.zed`` prints the canonical text (the form ``print_schema`` writes).

Online (connection flags and exit codes 3/4/5: :mod:`rebac.cli._connect`):

``rebac schema write FILE.zed`` compiles the file locally first, so a mistake is reported as
``FILE:line:col: message`` without a round trip, and a file with ``import`` statements is sent
with its imports expanded (the server has no access to the files next to it).
``rebac schema read`` prints the store's schema. ``rebac schema diff FILE.zed`` lists what
writing the file would change, one line per change; with ``--exit-code`` it exits 1 when there
are changes (as ``git diff --exit-code`` does), so CI can ask "is the deployed schema ours?".
``rebac schema diff OLD.zed NEW.zed`` compares two files offline, for reviewing a change.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rebac.cli import _connect as conn
from rebac.errors import SchemaError
from rebac.schema import compile_schema, parse_schema, print_schema

if TYPE_CHECKING:
    from rebac.client import Client
    from rebac.schema.diff import SchemaChange

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2
EXIT_DIFFERENT = 1


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``schema`` and its sub-commands to the ``rebac`` command line."""
    parser = subparsers.add_parser(
        "schema", help="check or format a schema file; write, read or diff a store's schema"
    )
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

    flags = conn.connection_flags()
    write = commands.add_parser(
        "write",
        parents=[flags],
        help="replace the store's schema with a schema file",
        description="Compile FILE.zed locally (imports expanded), then write it to the store. "
        "The server refuses a schema that would orphan stored relationships.",
    )
    write.add_argument("file", type=Path, metavar="FILE.zed")
    write.set_defaults(func=_write, cli_name="schema write")

    read = commands.add_parser(
        "read",
        parents=[flags],
        help="print the store's schema",
        description="Print the schema text in force in the store.",
    )
    conn.add_consistency(read)
    read.set_defaults(func=_read_online, cli_name="schema read")

    diff = commands.add_parser(
        "diff",
        parents=[flags],
        help="what writing a schema file would change",
        description="Compare FILE.zed with the store's schema, or OLD.zed with NEW.zed "
        "offline: one line per change.",
    )
    diff.add_argument(
        "files",
        type=Path,
        nargs="+",
        metavar="FILE.zed",
        help="NEW.zed (against the store), or OLD.zed NEW.zed (offline, no server)",
    )
    diff.add_argument(
        "--exit-code", action="store_true", help="exit 1 when there are changes, 0 when none"
    )
    conn.add_consistency(diff)
    diff.set_defaults(func=_diff, cli_name="schema diff")


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


# -- online ----------------------------------------------------------------------------------------


def prepare_schema(text: str, *, source: str, base_dir: Path, where: Path) -> str:
    """The schema text to send to a server: compiled here first, imports expanded if any.

    Why compile locally: errors name the file, line and column (the server would only know
    "the schema"), and ``import "x.zed"`` can only be resolved next to the file. A schema
    without imports is sent as written, comments and layout kept for ``schema read``.
    ``where`` is the path errors are reported against.
    """
    try:
        parsed = parse_schema(text, source=source)
        compiled = compile_schema(parsed, source=source, base_dir=base_dir)
    except SchemaError as exc:
        named = str(where) if exc.source in (None, source) else str(base_dir / exc.source)
        raise conn.CliError(exc.format(named)) from None
    return compiled.text() if getattr(parsed, "imports", ()) else text


def _load_for_server(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise conn.CliError(f"{path}: cannot read: {exc}") from None
    return prepare_schema(text, source=path.name, base_dir=path.parent, where=path)


def _write(args: argparse.Namespace) -> int:
    def body(client: Client) -> int:
        text = _load_for_server(args.file)
        token = client.write_schema(text)
        conn.say(f"schema written from {args.file}")
        conn.show_token(args, token, query=False)
        return conn.EXIT_OK

    return conn.run(args, body)


def _read_online(args: argparse.Namespace) -> int:
    def body(client: Client) -> int:
        result = client.read_schema(consistency=conn.parse_consistency(args.consistency))
        text = result.text
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
        sys.stdout.flush()
        conn.show_token(args, result.token, query=True)
        return conn.EXIT_OK

    return conn.run(args, body)


def format_change(kind: str, name: str, member: str, detail: str) -> str:
    """``relation added: document#editor``, ``relation subject type added: document#viewer
    user:*``: the kind in words, then what it is about."""
    where = f"{name}#{member}" if member else name
    return f"{kind.replace('_', ' ')}: {where}" + (f" {detail}" if detail else "")


def _print_changes(changes: Sequence[SchemaChange], args: argparse.Namespace, what: str) -> int:
    for change in changes:
        print(format_change(change.kind, change.name, change.member, change.detail))
    sys.stdout.flush()
    if not changes:
        conn.say(f"no changes: {what}")
    return EXIT_DIFFERENT if args.exit_code and changes else conn.EXIT_OK


def _diff(args: argparse.Namespace) -> int:
    files: list[Path] = args.files
    if len(files) > 2:
        print("rebac schema diff: give NEW.zed, or OLD.zed NEW.zed", file=sys.stderr)
        return conn.EXIT_ERROR
    if len(files) == 2:
        return _diff_files(args, files[0], files[1])

    def body(client: Client) -> int:
        text = _load_for_server(files[0])
        result = client.diff_schema(text, consistency=conn.parse_consistency(args.consistency))
        code = _print_changes(result.changes, args, f"{files[0]} matches the store's schema")
        conn.show_token(args, result.token, query=True)
        return code

    return conn.run(args, body)


def _diff_files(args: argparse.Namespace, old: Path, new: Path) -> int:
    """Two files, no server: what changes from OLD to NEW (a review of a schema change)."""
    from rebac.schema.diff import diff_schemas

    try:
        compiled = [compile_schema(_load_for_server(p)) for p in (old, new)]
    except (conn.CliError, SchemaError) as exc:
        print(f"rebac schema diff: {exc}", file=sys.stderr)
        return conn.EXIT_ERROR
    changes = diff_schemas(compiled[0], compiled[1])
    return _print_changes(changes, args, f"{old} and {new} define the same schema")
