"""``rebac check|expand|lookup-resources|lookup-subjects``: ask a server about permissions.

::

    rebac check document:readme view user:alice                  # allowed, exit 0
    rebac check document:weekday view user:dave --context '{"day": "monday"}'
    rebac expand document:readme view --recursive                 # the userset tree
    rebac lookup-resources document view user:alice               # one id per line
    rebac lookup-subjects document:readme view user               # alice, * - [bob], ...
    rebac check document:readme view user:zoe --contextual group:eng#member@user:zoe

``--contextual REL`` (repeatable, on every command here) adds a request-scoped relationship:
evaluated as if written, for this one query, never stored -- e.g. a group claim from the
caller's identity provider. The server validates it like a write.

``check`` answers through its exit status so that scripts need not parse its output:

    0  allowed     (prints ``allowed``)
    1  denied      (prints ``denied``)
    2  conditional (prints ``conditional: missing context a, b``: the caveat parameters to pass
       with --context to get a definite answer)
    3  an error in the request (unknown relation, bad reference, bad --context, bad flags),
    4  no server answered, 5 credentials refused (see :mod:`rebac.cli._connect`)

Usage mistakes in ``check`` exit 3 as well, not argparse's usual 2, which here means
"conditional".

Lookups print ids, one per line, in id order; a conditional result is followed by
`` (conditional: missing a, b)``, and a wildcard subject with exclusions by its exclusions:
``* - [bob, carol]``. Queries read at full consistency unless told otherwise (see
:func:`rebac.cli._connect.add_consistency`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, overload

from rebac.cli import _connect as conn
from rebac.cli._output import TreeNode, can_draw_boxes, render_tree
from rebac.errors import RebacError
from rebac.model import LookupResult, Permissionship, Relationship

if TYPE_CHECKING:
    from rebac.client import Client
    from rebac.engine.expand import ExpandedSubject, ExpandNode

EXIT_ALLOWED = 0
EXIT_DENIED = 1
EXIT_CONDITIONAL = 2

_N = TypeVar("_N")


class _StrictParser(argparse.ArgumentParser):
    """A parser whose usage errors exit with 3, for ``check``.

    argparse exits 2 on a usage error, and for ``check`` 2 means "conditional": a script
    testing ``$? -eq 2`` must never take a mistyped flag for an answer. Unknown arguments are
    refused here too: left to the top-level parser they would also exit 2.
    """

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(conn.EXIT_ERROR, f"{self.prog}: error: {message}\n")

    @overload
    def parse_known_args(
        self, args: Iterable[str] | None = None, namespace: None = None
    ) -> tuple[argparse.Namespace, list[str]]: ...

    @overload
    def parse_known_args(
        self, args: Iterable[str] | None, namespace: _N
    ) -> tuple[_N, list[str]]: ...

    @overload
    def parse_known_args(self, *, namespace: _N) -> tuple[_N, list[str]]: ...

    def parse_known_args(
        self, args: Iterable[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def _add_strict_parser(
    subparsers: argparse._SubParsersAction[Any], name: str, **kwargs: Any
) -> argparse.ArgumentParser:
    """``subparsers.add_parser`` with :class:`_StrictParser` as the class of the new parser."""
    original = subparsers._parser_class
    subparsers._parser_class = _StrictParser
    try:
        parser: argparse.ArgumentParser = subparsers.add_parser(name, **kwargs)
        return parser
    finally:
        subparsers._parser_class = original


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``check``, ``expand``, ``lookup-resources`` and ``lookup-subjects``."""
    flags = conn.connection_flags()

    check = _add_strict_parser(
        subparsers,
        "check",
        parents=[flags],
        help="does SUBJECT have PERMISSION on RESOURCE? (exit 0 yes, 1 no, 2 conditional)",
        description="Exit 0 allowed, 1 denied, 2 conditional (missing caveat context is "
        "printed), 3 bad request, 4 server unreachable, 5 credentials refused.",
    )
    check.add_argument("resource", metavar="RESOURCE", help="e.g. document:readme")
    check.add_argument("permission", metavar="PERMISSION")
    check.add_argument("subject", metavar="SUBJECT", help="e.g. user:alice or group:eng#member")
    conn.add_context(check)
    add_contextual(check)
    conn.add_consistency(check)
    check.set_defaults(func=_check, cli_name="check")

    expand = subparsers.add_parser(
        "expand",
        parents=[flags],
        help="print the userset tree of RESOURCE#PERMISSION",
        description="Print the tree of usersets that make up PERMISSION on RESOURCE.",
    )
    expand.add_argument("resource", metavar="RESOURCE")
    expand.add_argument("permission", metavar="PERMISSION")
    expand.add_argument(
        "--recursive", action="store_true", help="also expand every subject set in the leaves"
    )
    expand.add_argument("--ascii", action="store_true", help="draw the tree with ASCII only")
    add_contextual(expand)
    conn.add_consistency(expand)
    expand.set_defaults(func=_expand, cli_name="expand")

    resources = subparsers.add_parser(
        "lookup-resources",
        parents=[flags],
        help="the resources of TYPE on which SUBJECT has PERMISSION",
        description="Print the ids of the resources of TYPE on which SUBJECT has PERMISSION.",
    )
    resources.add_argument("resource_type", metavar="TYPE")
    resources.add_argument("permission", metavar="PERMISSION")
    resources.add_argument("subject", metavar="SUBJECT")
    _add_lookup_options(resources)
    resources.set_defaults(func=_lookup_resources, cli_name="lookup-resources")

    subjects = subparsers.add_parser(
        "lookup-subjects",
        parents=[flags],
        help="the subjects of SUBJECT_TYPE that have PERMISSION on RESOURCE",
        description="Print the ids of the subjects of SUBJECT_TYPE (e.g. user, or "
        "group#member for subject sets) that have PERMISSION on RESOURCE.",
    )
    subjects.add_argument("resource", metavar="RESOURCE")
    subjects.add_argument("permission", metavar="PERMISSION")
    subjects.add_argument("subject_type", metavar="SUBJECT_TYPE")
    subjects.add_argument(
        "--no-wildcards",
        action="store_true",
        help="leave out public grants (the subject '*')",
    )
    _add_lookup_options(subjects)
    subjects.set_defaults(func=_lookup_subjects, cli_name="lookup-subjects")


def _add_lookup_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--limit", type=int, default=0, metavar="N", help="print at most the first N results"
    )
    conn.add_context(parser)
    add_contextual(parser)
    conn.add_consistency(parser)


def add_contextual(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--contextual",
        action="append",
        default=[],
        metavar="REL",
        help="a request-scoped relationship, evaluated as if written but never stored, e.g. "
        "group:eng#member@user:zoe (repeatable)",
    )


def parse_contextual(values: list[str]) -> list[Relationship]:
    """The ``--contextual`` values as relationships; a malformed one is a usage error naming
    the flag and its position, before any call is made."""
    out: list[Relationship] = []
    for i, text in enumerate(values, start=1):
        try:
            out.append(Relationship.parse(text))
        except RebacError as exc:
            where = f" (the {_ordinal(i)} one)" if len(values) > 1 else ""
            raise conn.CliError(f"--contextual {text!r}{where}: {exc}") from None
    return out


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# -- check ----------------------------------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    def body(client: Client) -> int:
        checked = client.check(
            args.resource,
            args.permission,
            args.subject,
            conn.parse_context(args.context),
            contextual=parse_contextual(args.contextual),
            consistency=conn.parse_consistency(args.consistency),
        )
        result = checked.result
        if result.permissionship is Permissionship.HAS_PERMISSION:
            print("allowed", flush=True)
            code = EXIT_ALLOWED
        elif result.permissionship is Permissionship.CONDITIONAL_PERMISSION:
            missing = ", ".join(result.missing_context) or "(not reported)"
            print(f"conditional: missing context {missing}", flush=True)
            code = EXIT_CONDITIONAL
        else:
            print("denied", flush=True)
            code = EXIT_DENIED
        conn.show_token(args, checked.token, query=True)
        return code

    return conn.run(args, body)


# -- expand ---------------------------------------------------------------------------------------


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _subject_label(item: ExpandedSubject) -> str:
    text = str(item.subject)
    if item.caveat:
        text += f"[{item.caveat}]"
    if item.expires_at is not None:
        text += f"[expiration:{_time(item.expires_at)}]"
    return text


def expand_tree(root: ExpandNode) -> TreeNode:
    """The display tree of an expansion.

    A leaf is ``type:id#relation`` with its subjects under it (``(empty)`` when it has none);
    an operator node is ``union``, ``intersection`` or ``exclusion`` (first child minus the
    others), followed by the ``type:id#relation`` it belongs to when that differs from its
    parent's (the root, an arrow's target, another permission). A ``[caveat]`` suffix marks a
    subtree that holds only when that caveat does.
    """
    # Iterative: a recursive expansion can be deeper than Python's recursion limit.
    top = TreeNode("")
    stack: list[tuple[ExpandNode, ExpandNode | None, TreeNode]] = [(root, None, top)]
    while stack:
        node, parent, into = stack.pop()
        where = f"{node.resource}#{node.relation}"
        caveat = f" [{node.caveat}]" if node.caveat else ""
        if node.kind == "leaf":
            subjects = [TreeNode(_subject_label(s)) for s in node.subjects]
            empty = "" if subjects else " (empty)"
            into.children.append(TreeNode(where + caveat + empty, subjects))
            continue
        same = (
            parent is not None
            and parent.kind != "leaf"
            and (parent.resource, parent.relation) == (node.resource, node.relation)
        )
        made = TreeNode((node.kind if same else f"{node.kind} {where}") + caveat)
        into.children.append(made)
        stack.extend((child, node, made) for child in reversed(node.children))
    return top.children[0]


def _expand(args: argparse.Namespace) -> int:
    def body(client: Client) -> int:
        expanded = client.expand(
            args.resource,
            args.permission,
            recursive=args.recursive,
            contextual=parse_contextual(args.contextual),
            consistency=conn.parse_consistency(args.consistency),
        )
        ascii_only = args.ascii or not can_draw_boxes(sys.stdout)
        for line in render_tree(expand_tree(expanded.tree), ascii_only=ascii_only):
            print(line)
        sys.stdout.flush()
        conn.show_token(args, expanded.token, query=True)
        return conn.EXIT_OK

    return conn.run(args, body)


# -- lookups --------------------------------------------------------------------------------------


def _conditional(result: LookupResult) -> str:
    if result.permissionship is not Permissionship.CONDITIONAL_PERMISSION:
        return ""
    missing = ", ".join(result.missing_context)
    return f" (conditional: missing {missing})" if missing else " (conditional)"


def format_result(result: LookupResult) -> str:
    """``alice``, ``carol (conditional: missing day)``, ``* - [bob, carol]``."""
    text = result.id + _conditional(result)
    if result.excluded:
        text += " - [" + ", ".join(e.id + _conditional(e) for e in result.excluded) + "]"
    return text


def _limit(args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise conn.CliError("--limit must not be negative")
    limit: int = args.limit
    return limit


def _lookup_resources(args: argparse.Namespace) -> int:
    def body(client: Client) -> int:
        page = client.lookup_resources(
            args.resource_type,
            args.permission,
            args.subject,
            conn.parse_context(args.context),
            limit=_limit(args),
            contextual=parse_contextual(args.contextual),
            consistency=conn.parse_consistency(args.consistency),
        )
        for result in page.results:
            print(format_result(result))
        sys.stdout.flush()
        conn.show_token(args, page.token, query=True)
        return conn.EXIT_OK

    return conn.run(args, body)


def _lookup_subjects(args: argparse.Namespace) -> int:
    def body(client: Client) -> int:
        subject_type, _, relation = str(args.subject_type).partition("#")
        page = client.lookup_subjects(
            args.resource,
            args.permission,
            subject_type,
            relation or None,
            conn.parse_context(args.context),
            include_wildcards=not args.no_wildcards,
            limit=_limit(args),
            contextual=parse_contextual(args.contextual),
            consistency=conn.parse_consistency(args.consistency),
        )
        for result in page.results:
            print(format_result(result))
        sys.stdout.flush()
        conn.show_token(args, page.token, query=True)
        return conn.EXIT_OK

    return conn.run(args, body)
