"""``rebac watch``: print a store's changes as they happen, one line per change.

::

    $ rebac watch --type document
    touch document:readme#viewer@user:alice
    delete document:readme#viewer@user:bob

Runs until interrupted (Ctrl-C exits 0: stopping is how a watch ends) or, with ``--count N``,
until N changes were printed (for scripts that wait for the next change; the revision that
reaches N is printed whole, so its token resumes exactly after what was shown). ``--since TOKEN``
starts after the revision of a token (from a write, a query, or this command's
``--show-token``), so no change is missed between two runs; without it only changes made after
the call are shown. ``--show-token`` prints ``token: T`` on stderr after each revision: the
value to resume with. If the server goes away the last token is printed in the error message.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rebac.cli import _connect as conn
from rebac.errors import RebacError

if TYPE_CHECKING:
    from rebac.client import Client


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``watch`` to the ``rebac`` command line."""
    parser = subparsers.add_parser(
        "watch",
        parents=[conn.connection_flags()],
        help="print relationship changes as they happen",
        description="Print one line per relationship change (touch or delete) until interrupted.",
    )
    parser.add_argument(
        "--since", metavar="TOKEN", help="start after this token's revision (default: now)"
    )
    parser.add_argument(
        "--type",
        dest="types",
        action="append",
        default=[],
        metavar="TYPE",
        help="only relationships whose resource has this type; repeatable",
    )
    parser.add_argument(
        "--filter",
        dest="filters",
        action="append",
        default=[],
        metavar="FILTER",
        help="only relationships matching FILTER (e.g. 'document:d1#viewer'); repeatable",
    )
    parser.add_argument(
        "--schema", action="store_true", help="also print a line when the schema changes"
    )
    parser.add_argument(
        "--count",
        type=int,
        default=0,
        metavar="N",
        help="stop once N changes were printed (0: never)",
    )
    parser.set_defaults(func=_watch, cli_name="watch")


def _watch(args: argparse.Namespace) -> int:
    def body(client: Client) -> int:
        if args.count < 0:
            raise conn.CliError("--count must not be negative")
        filters = [conn.parse_filter(f) for f in args.filters]
        last: str | None = args.since
        printed = 0
        events = client.watch(
            args.since, object_types=args.types, filters=filters, schema=args.schema
        )
        # Closing the generator cancels the call (the server stops its stream at once).
        close = getattr(events, "close", None)
        try:
            for event in events:
                lines = [f"touch {r}" for r in event.touched]
                lines += [f"delete {r}" for r in event.deleted]
                if event.schema_updated:
                    lines.append("schema updated")
                for line in lines:
                    print(line, flush=True)
                printed += len(lines)
                last = event.token
                conn.show_token(args, event.token, query=True)
                if args.count and printed >= args.count:
                    return conn.EXIT_OK
        except KeyboardInterrupt:
            return conn.EXIT_OK
        except RebacError as exc:
            if last:
                exc.args = (f"{exc} (resume with --since {last})",)
            raise
        finally:
            if close is not None:
                close()
        return conn.EXIT_OK

    return conn.run(args, body)
