"""``rebac import FILE`` and ``rebac export``: load and dump a store's relationships in bulk.

The line format is one relationship per line in the text form of validation files, caveats and
expirations included (``document:d1#viewer@user:dave[on_weekday]``); blank lines and lines
starting with ``#`` or ``//`` are skipped. ``export`` writes it and ``import`` reads it, so
``rebac export --out backup.txt`` and ``rebac import backup.txt`` round-trip a store (with
``rebac schema read`` / ``schema write`` for the schema).

``import`` also reads a SpiceDB validation file (``.yaml``/``.yml``, or any file whose first
line is a YAML key such as ``schema:``): its schema is written first (unless ``--no-schema``),
then its relationships. ``-`` reads the line format from stdin.

An import is one transaction on the server, streamed in batches (``--batch-size``): every
relationship is created or none is, and it fails if one already exists. The whole file is
parsed before anything is sent, so a typo on line 90,000 is reported as ``FILE:90000: ...``
before the server has done any work; that first pass also gives the progress bar its total.

Progress bars go to stderr, drawn when stderr is a terminal (``--progress`` / ``--no-progress``
to choose). ``export --out FILE`` writes a temporary file and renames it at the end, so an
interrupted export never leaves a truncated FILE behind.

Exit codes: 0 done, 3 refused or unreadable input, 4 server unreachable, 5 credentials refused.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rebac.cli import _connect as conn
from rebac.cli._output import Progress, progress_enabled
from rebac.errors import InvalidRequest, RebacError
from rebac.model import Relationship, RelationshipFilter
from rebac.revision import Consistency

if TYPE_CHECKING:
    from rebac.client import Client

DEFAULT_BATCH_SIZE = 1000
_YAML_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:(\s|$)")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``import`` and ``export`` to the ``rebac`` command line."""
    flags = conn.connection_flags()

    imp = subparsers.add_parser(
        "import",
        parents=[flags],
        help="create relationships from a file (one transaction)",
        description="Create the relationships of FILE (one per line, or a validation YAML "
        "file with its schema) in one transaction: all or none.",
    )
    imp.add_argument("file", metavar="FILE", help="relationship lines, validation YAML, or -")
    imp.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"relationships per message (default {DEFAULT_BATCH_SIZE})",
    )
    imp.add_argument(
        "--no-schema",
        action="store_true",
        help="do not write the schema of a validation file, only its relationships",
    )
    _add_progress(imp)
    imp.set_defaults(func=_import, cli_name="import")

    exp = subparsers.add_parser(
        "export",
        parents=[flags],
        help="print every relationship, one per line",
        description="Write every relationship of the store (or those matching --filter), "
        "one per line, read at one revision.",
    )
    exp.add_argument("--out", type=Path, metavar="FILE", help="write to FILE (default: stdout)")
    exp.add_argument("--filter", metavar="FILTER", help="only relationships matching FILTER")
    exp.add_argument(
        "--page-size",
        type=int,
        default=0,
        metavar="N",
        help="relationships per message (default: the server's)",
    )
    conn.add_consistency(exp)
    _add_progress(exp)
    exp.set_defaults(func=_export, cli_name="export")


def _add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw a progress bar on stderr (default: when stderr is a terminal)",
    )


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


# -- reading the input ----------------------------------------------------------------------------


def parse_lines(lines: Iterable[str], name: str) -> Iterator[Relationship]:
    """The relationships of the line format; CliError ``name:line: message`` at the first bad
    line."""
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "//")):
            continue
        try:
            yield Relationship.parse(stripped)
        except InvalidRequest as exc:
            raise conn.CliError(f"{name}:{number}: {exc}") from None


def _is_yaml(path: Path) -> bool:
    if path.suffix.lower() in (".yaml", ".yml"):
        return True
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                stripped = line.strip()
                if stripped and not stripped.startswith(("#", "//")):
                    return bool(_YAML_KEY.match(stripped))
    except (OSError, UnicodeDecodeError):
        return False  # reported when the file is read for real
    return False


class _Source:
    """Where the relationships come from, readable twice (count and check, then send).

    A file is re-read rather than held in memory: a dump of millions of relationships as
    parsed objects would take far more memory than the file. Stdin can only be read once, so
    its lines are kept (as text, the compact form).
    """

    def __init__(self, name: str, lines: list[str] | None, path: Path | None) -> None:
        self.name = name
        self._lines = lines
        self._path = path

    def relationships(self) -> Iterator[Relationship]:
        if self._lines is not None:
            yield from parse_lines(self._lines, self.name)
            return
        assert self._path is not None
        try:
            with self._path.open(encoding="utf-8") as handle:
                yield from parse_lines(handle, self.name)
        except (OSError, UnicodeDecodeError) as exc:
            raise conn.CliError(f"{self.name}: cannot read: {exc}") from None


def _batches(
    items: Iterator[Relationship], size: int, progress: Progress, failure: list[BaseException]
) -> Iterator[list[Relationship]]:
    """Batches for the request stream, advancing the progress bar as each is sent.

    gRPC pulls these from its own thread and turns an exception into a bare CANCELLED, so the
    real one is kept in ``failure`` for the caller to report instead.
    """
    batch: list[Relationship] = []
    try:
        for rel in items:
            batch.append(rel)
            if len(batch) >= size:
                yield batch
                progress.advance(len(batch))
                batch = []
        if batch:
            yield batch
            progress.advance(len(batch))
    except Exception as exc:
        failure.append(exc)
        raise


# -- import ----------------------------------------------------------------------------------------


def _import(args: argparse.Namespace) -> int:
    def body(client: Client) -> int:
        if args.batch_size < 1:
            raise conn.CliError("--batch-size must be at least 1")
        source, schema = _open_input(args.file, write_schema=not args.no_schema)
        # First pass: every line parses, and the total for the progress bar.
        total = sum(1 for _ in source.relationships())
        token = ""
        if schema is not None:
            token = client.write_schema(schema)
            conn.say(f"schema written from {source.name}")
        if total == 0:
            conn.say(f"{source.name}: no relationships to import")
            conn.show_token(args, token, query=False)
            return conn.EXIT_OK
        enabled = progress_enabled(args.progress)
        failure: list[BaseException] = []
        with Progress("import", total=total, enabled=enabled) as progress:
            batches = _batches(source.relationships(), args.batch_size, progress, failure)
            try:
                imported = client.import_relationships(batches)
            except RebacError:
                if failure:
                    raise failure[0] from None
                raise
        conn.say(f"imported {_plural(imported.loaded, 'relationship')} from {source.name}")
        conn.show_token(args, imported.token, query=False)
        return conn.EXIT_OK

    return conn.run(args, body)


def _open_input(name: str, *, write_schema: bool) -> tuple[_Source, str | None]:
    """The relationship source of ``name`` and the schema to write first, if any."""
    if name == "-":
        return _Source("stdin", sys.stdin.readlines(), None), None
    path = Path(name)
    if not path.is_file():
        raise conn.CliError(f"{path}: no such file")
    if not _is_yaml(path):
        return _Source(str(path), None, path), None

    from rebac.cli.schema_cmd import prepare_schema
    from rebac.validation.loader import load_validation_file

    try:
        vf = load_validation_file(path)
    except RebacError as exc:
        raise conn.CliError(str(exc)) from None
    lines = [item.text for item in vf.relationships]
    schema: str | None = None
    if write_schema and vf.schema is not None:
        # As the validation runner does: imports resolve next to the file the schema is in.
        in_file = vf.schema_source is not None and vf.schema_positions is None
        where = Path(vf.schema_source) if in_file and vf.schema_source else path
        schema = prepare_schema(vf.schema, source=where.name, base_dir=where.parent, where=where)
    return _Source(str(path), lines, None), schema


# -- export ----------------------------------------------------------------------------------------


def _export(args: argparse.Namespace) -> int:
    def body(client: Client) -> int:
        if args.page_size < 0:
            raise conn.CliError("--page-size must not be negative")
        selected = conn.parse_filter(args.filter) if args.filter is not None else None
        consistency = conn.parse_consistency(args.consistency)
        out: Path | None = args.out
        with _output(out) as (stream, commit):
            count, token = _dump(client, stream, selected, args, consistency)
            commit()
        where = f" to {out}" if out is not None else ""
        conn.say(f"exported {_plural(count, 'relationship')}{where}")
        conn.show_token(args, token, query=True)
        return conn.EXIT_OK

    return conn.run(args, body)


def _dump(
    client: Client,
    stream: TextIO,
    selected: RelationshipFilter | None,
    args: argparse.Namespace,
    consistency: Consistency,
) -> tuple[int, str]:
    count, token = 0, ""
    with Progress("export", enabled=progress_enabled(args.progress)) as progress:
        for page in client.export(selected, page_size=args.page_size, consistency=consistency):
            stream.writelines(f"{r}\n" for r in page.relationships)
            count += len(page.relationships)
            token = page.token or token
            progress.advance(len(page.relationships))
    stream.flush()
    return count, token


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[tuple[TextIO, Callable[[], None]]]:
    """(stream, commit): stdout, or a temporary file next to ``path`` that ``commit`` renames
    onto it; without ``commit`` (an error, Ctrl-C) the temporary file is removed. The file is
    created readable by its owner only: it is a copy of who may access what."""
    if path is None:
        yield sys.stdout, lambda: None
        return
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise conn.CliError(f"cannot write in {folder}: {exc.strerror or exc}") from None
    committed = False

    def commit() -> None:
        nonlocal committed
        handle.close()
        try:
            os.replace(temp, path)
        except OSError as exc:
            raise conn.CliError(f"cannot write {path}: {exc.strerror or exc}") from None
        committed = True

    handle = os.fdopen(fd, "w", encoding="utf-8")
    try:
        yield handle, commit
    finally:
        if not committed:
            handle.close()
            with contextlib.suppress(OSError):
                os.unlink(temp)
