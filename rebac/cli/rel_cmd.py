"""``rebac rel write|delete|read``: change and list a store's relationships on a server.

Relationships are written in the text form of validation files and ``zed``::

    rebac rel write 'document:readme#viewer@user:alice' 'document:readme#viewer@group:eng#member'
    rebac rel write 'document:weekday#viewer@user:dave[on_weekday]' --create
    rebac rel write 'document:d1#owner@user:bob' --precondition '!document:d1#owner'
    rebac rel delete 'document:readme#viewer@user:alice'
    rebac rel delete --filter 'document:readme#viewer'
    rebac rel read 'document:readme' --limit 10

``-`` in place of the relationships reads them from stdin, one per line (what ``rel read`` and
``export`` print), so ``rebac rel read ... | rebac rel delete -`` works.

``write`` applies all its relationships in one atomic write: all of them or none. ``--touch``
(the default) upserts; ``--create`` fails if one already exists. ``--precondition FILTER``
makes the write depend on something matching the filter, ``--precondition '!FILTER'`` on
nothing matching it (single quotes: ``!`` is special to interactive shells); filters are
described in :func:`rebac.cli._connect.parse_filter`.

Exit codes: 0 done, 3 refused (bad text, unknown relation, failed precondition, ...), 4 server
unreachable, 5 credentials refused.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rebac.cli import _connect as conn
from rebac.errors import InvalidRequest
from rebac.model import Operation, Relationship, RelationshipUpdate

if TYPE_CHECKING:
    from rebac.client import Client


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``rel`` and its sub-commands to the ``rebac`` command line."""
    parser = subparsers.add_parser("rel", help="write, delete or read relationships")
    commands = parser.add_subparsers(dest="rel_command", required=True, metavar="ACTION")
    flags = conn.connection_flags()

    write = commands.add_parser(
        "write",
        parents=[flags],
        help="write relationships (one atomic write)",
        description="Write relationships atomically: all of them or none.",
    )
    write.add_argument("relationships", nargs="+", metavar="REL", help="relationship, or -")
    mode = write.add_mutually_exclusive_group()
    mode.add_argument(
        "--touch",
        dest="operation",
        action="store_const",
        const=Operation.TOUCH,
        help="create or replace (the default)",
    )
    mode.add_argument(
        "--create",
        dest="operation",
        action="store_const",
        const=Operation.CREATE,
        help="create; fail if any already exists",
    )
    _add_write_options(write)
    write.set_defaults(func=_write, operation=Operation.TOUCH, cli_name="rel write")

    delete = commands.add_parser(
        "delete",
        parents=[flags],
        help="delete relationships, or every relationship matching a filter",
        description="Delete the relationships given (atomically), or with --filter every "
        "relationship matching it.",
    )
    delete.add_argument("relationships", nargs="*", metavar="REL", help="relationship, or -")
    delete.add_argument(
        "--filter",
        metavar="FILTER",
        help="delete every match, e.g. 'document:d1#viewer' or 'document@user:alice'",
    )
    delete.add_argument(
        "--limit",
        type=int,
        default=0,
        metavar="N",
        help="with --filter: delete at most N (fails if more match, unless --allow-partial)",
    )
    delete.add_argument(
        "--allow-partial",
        action="store_true",
        help="with --filter --limit: delete N and report that more remain",
    )
    _add_write_options(delete)
    delete.set_defaults(func=_delete, cli_name="rel delete")

    read = commands.add_parser(
        "read",
        parents=[flags],
        help="list relationships matching a filter",
        description="Print the relationships matching FILTER, one per line, in key order.",
    )
    read.add_argument(
        "filter", metavar="FILTER", help="e.g. 'document', 'document:d1#viewer', '@user:alice'"
    )
    read.add_argument(
        "--limit", type=int, default=0, metavar="N", help="print at most N relationships"
    )
    conn.add_consistency(read)
    read.set_defaults(func=_read, cli_name="rel read")


def _add_write_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precondition",
        action="append",
        default=[],
        metavar="[!]FILTER",
        help="only if FILTER matches something (!FILTER: matches nothing); repeatable",
    )
    parser.add_argument(
        "--metadata",
        default=None,
        metavar="JSON",
        help="transaction metadata (a JSON object) for watchers of this change",
    )


def read_relationships(texts: Sequence[str]) -> list[Relationship]:
    """The relationships of the command line, ``-`` standing for stdin's lines.

    Parsed before anything is sent: a typo in the fifth relationship must not be discovered
    after a round trip (the write is atomic anyway, but the message is better here).
    """
    found: list[Relationship] = []
    for text in texts:
        if text == "-":
            for number, line in enumerate(sys.stdin, start=1):
                stripped = line.strip()
                if not stripped or stripped.startswith(("#", "//")):
                    continue
                try:
                    found.append(Relationship.parse(stripped))
                except InvalidRequest as exc:
                    raise conn.CliError(f"stdin:{number}: {exc}") from None
            continue
        try:
            found.append(Relationship.parse(text))
        except InvalidRequest as exc:
            raise conn.CliError(str(exc)) from None
    return found


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _write(args: argparse.Namespace) -> int:
    def body(client: Client) -> int:
        relationships = read_relationships(args.relationships)
        if not relationships:
            raise conn.CliError("no relationships to write")
        operation: Operation = args.operation
        token = client.write(
            [RelationshipUpdate(operation, r) for r in relationships],
            [conn.parse_precondition(p) for p in args.precondition],
            conn.parse_context(args.metadata, "--metadata"),
        )
        verb = "created" if operation is Operation.CREATE else "touched"
        conn.say(f"{verb} {_plural(len(relationships), 'relationship')}")
        conn.show_token(args, token, query=False)
        return conn.EXIT_OK

    return conn.run(args, body)


def _delete(args: argparse.Namespace) -> int:
    def body(client: Client) -> int:
        preconditions = [conn.parse_precondition(p) for p in args.precondition]
        metadata = conn.parse_context(args.metadata, "--metadata")
        if args.filter is not None:
            if args.relationships:
                raise conn.CliError("give relationships or --filter, not both")
            selected = conn.parse_filter(args.filter)
            result = client.delete_relationships(
                selected,
                limit=args.limit,
                allow_partial=args.allow_partial,
                preconditions=preconditions,
                metadata=metadata,
            )
            more = "" if result.complete else " (more match: run it again)"
            conn.say(f"deleted {_plural(result.count, 'relationship')}{more}")
            conn.show_token(args, result.token, query=False)
            return conn.EXIT_OK
        if args.limit or args.allow_partial:
            raise conn.CliError("--limit and --allow-partial go with --filter")
        relationships = read_relationships(args.relationships)
        if not relationships:
            raise conn.CliError("nothing to delete: give relationships, - or --filter FILTER")
        token = client.write(
            [RelationshipUpdate(Operation.DELETE, r) for r in relationships],
            preconditions,
            metadata,
        )
        # A DELETE of an absent relationship is a no-op, so this counts requests, not rows.
        conn.say(f"deleted {_plural(len(relationships), 'relationship')} (absent ones ignored)")
        conn.show_token(args, token, query=False)
        return conn.EXIT_OK

    return conn.run(args, body)


def _read(args: argparse.Namespace) -> int:
    def body(client: Client) -> int:
        if args.limit < 0:
            raise conn.CliError("--limit must not be negative")
        page = client.read_relationships(
            conn.parse_filter(args.filter),
            limit=args.limit,
            consistency=conn.parse_consistency(args.consistency),
        )
        for relationship in page.relationships:
            print(relationship)
        sys.stdout.flush()
        conn.show_token(args, page.token, query=True)
        return conn.EXIT_OK

    return conn.run(args, body)
