"""What every command that talks to a server shares: where, as whom, how fresh, and what
happens when it goes wrong.

Connection flags (on every online command, after the command name)::

    --endpoint HOST:PORT   REBAC_ENDPOINT, default 127.0.0.1:50051 (where ``rebac serve`` listens)
    --store ID             REBAC_STORE_ID, default ``default``
    --token TOKEN          REBAC_TOKEN, else --token-file / REBAC_TOKEN_FILE, else (for a
                           loopback endpoint) the token ``rebac serve`` writes in development
                           mode, DATA_DIR/dev-auth/token, if that file exists
    --tls, --ca-cert, --client-cert, --client-key    TLS (and mutual TLS) instead of plaintext
    --timeout SECONDS      deadline of each call (default: the server's)
    --show-token           print the consistency token the call returned

The store's environment variable is ``REBAC_STORE_ID``, not ``REBAC_STORE``: the server already
reads ``REBAC_STORE`` as its datastore (``memory:`` or ``sqlite:PATH``), and one shell exporting
both must not mix them up.

Exit codes shared by the online commands (``check`` adds 0/1/2 for its three answers):

    0  success
    3  the request was refused or is malformed (unknown relation, bad relationship text, failed
       precondition, unreadable file, ...): fix the request, retrying will not help
    4  no server answered (connection refused, unresolvable host, shutting down, deadline):
       retrying later may help
    5  the server refused the credentials (unauthenticated or not allowed)
    130 interrupted (Ctrl-C)

Errors are printed as one line on stderr, never a traceback: the message is the server's
(:mod:`rebac.client` rebuilds the engine's error from the status details).

grpc and :mod:`rebac.client` are imported inside functions only: ``rebac schema check`` and
``rebac validate`` must start without loading them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from rebac.errors import RebacError
from rebac.model import Precondition, RelationshipFilter, SubjectFilter
from rebac.revision import Consistency

if TYPE_CHECKING:
    from rebac.client import Client

DEFAULT_ENDPOINT = "127.0.0.1:50051"
DEFAULT_STORE = "default"
ENV_ENDPOINT = "REBAC_ENDPOINT"
ENV_STORE = "REBAC_STORE_ID"
ENV_TOKEN = "REBAC_TOKEN"
ENV_TOKEN_FILE = "REBAC_TOKEN_FILE"

EXIT_OK = 0
EXIT_ERROR = 3
EXIT_UNAVAILABLE = 4
EXIT_AUTH = 5
EXIT_INTERRUPTED = 130

#: gRPC target schemes passed through to the channel as they are (no host:port check).
_SCHEMES = ("dns:", "unix:", "unix-abstract:", "ipv4:", "ipv6:")


class CliError(Exception):
    """A problem found before or around a call (bad flag value, unreadable file): ``str()`` is
    the one line printed, ``code`` the exit status."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


# -- flags ----------------------------------------------------------------------------------------


def connection_flags() -> argparse.ArgumentParser:
    """A parent parser with the connection flags, for ``add_parser(..., parents=[...])``.

    Built per call: defaults come from the environment at the time the command line is built,
    so a test (or a wrapper script) can set REBAC_ENDPOINT just before calling ``main``.
    """
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection")
    group.add_argument(
        "--endpoint",
        default=os.environ.get(ENV_ENDPOINT) or DEFAULT_ENDPOINT,
        metavar="HOST:PORT",
        help=f"server address (env {ENV_ENDPOINT}; default {DEFAULT_ENDPOINT})",
    )
    group.add_argument(
        "--store",
        default=os.environ.get(ENV_STORE) or DEFAULT_STORE,
        metavar="ID",
        help=f"store id (env {ENV_STORE}; default {DEFAULT_STORE})",
    )
    group.add_argument(
        "--token",
        default=None,
        metavar="TOKEN",
        help=f"bearer token (env {ENV_TOKEN}; else --token-file, else the dev server's token)",
    )
    group.add_argument(
        "--token-file",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"read the bearer token from FILE (env {ENV_TOKEN_FILE})",
    )
    group.add_argument("--tls", action="store_true", help="connect with TLS (system CA roots)")
    group.add_argument(
        "--ca-cert", type=Path, metavar="FILE", help="CA certificates to trust (implies --tls)"
    )
    group.add_argument(
        "--client-cert", type=Path, metavar="FILE", help="client certificate for mutual TLS"
    )
    group.add_argument(
        "--client-key", type=Path, metavar="FILE", help="client private key for mutual TLS"
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        help="allow sending a token in clear text to a non-loopback address",
    )
    group.add_argument(
        "--timeout", type=float, default=None, metavar="SECONDS", help="deadline of each call"
    )
    group.add_argument(
        "--show-token",
        action="store_true",
        help="print the consistency token (writes: alone on stdout; queries: on stderr)",
    )
    return parent


def add_consistency(parser: argparse.ArgumentParser) -> None:
    """``--consistency full|min|TOKEN|exact:TOKEN``, default ``full``.

    Why full by default (the server's default is minimize_latency): a person at a terminal
    writes a relationship and checks it in the next command, and a cached index a few
    milliseconds old would answer as if the write had not happened.
    """
    parser.add_argument(
        "--consistency",
        default="full",
        metavar="MODE",
        help="full (default), min (minimize latency), TOKEN (at least as fresh as a write's "
        "token) or exact:TOKEN (that revision exactly)",
    )


def add_context(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--context",
        default=None,
        metavar="JSON",
        help='caveat parameters as a JSON object, e.g. \'{"day": "monday"}\'',
    )


# -- parsing of flag values ------------------------------------------------------------------------


def parse_consistency(text: str) -> Consistency:
    """The ``--consistency`` value (see :func:`add_consistency`)."""
    value = text.strip()
    if value in ("full", "fully-consistent"):
        return Consistency.fully_consistent()
    if value in ("min", "minimize-latency"):
        return Consistency.minimize_latency()
    for prefix, make in (
        ("exact:", Consistency.at_exact_snapshot),
        ("at-least:", Consistency.at_least_as_fresh),
    ):
        if value.startswith(prefix):
            token = value.removeprefix(prefix)
            if not token:
                raise CliError(f"--consistency {text!r}: the token after {prefix!r} is empty")
            return make(token)
    if not value:
        raise CliError("--consistency: expected full, min, TOKEN or exact:TOKEN")
    return Consistency.at_least_as_fresh(value)


def parse_context(text: str | None, flag: str = "--context") -> dict[str, Any] | None:
    """A JSON object of caveat parameters (None when the flag was not given)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{flag}: not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise CliError(f"{flag}: expected a JSON object, got {type(value).__name__}")
    return value


def parse_filter(text: str) -> RelationshipFilter:
    """``[TYPE][:ID|:PREFIX*][#RELATION][@SUBJECT_TYPE[:ID|:*][#RELATION|#...]]``.

    The relationship syntax with parts left out, so that what selects
    ``document:d1#viewer@user:alice`` reads like it: ``document:d1#viewer`` (every viewer of d1),
    ``document:team-*`` (ids starting with ``team-``), ``document#owner@user:alice`` (what alice
    owns), ``@group:eng#member`` (everything granted to eng's members). Names are checked by the
    server, which says which part is wrong.
    """
    original = text
    text = text.strip()
    if not text:
        raise CliError("empty relationship filter")
    resource, at, subject_text = text.partition("@")
    rtype, relation = _split(resource, "#")
    rtype, rid = _split(rtype, ":")
    resource_id = prefix = None
    if rid is not None:
        if rid.endswith("*"):
            prefix = rid[:-1]
        elif not rid:
            raise CliError(f"filter {original!r}: empty resource id after ':'")
        else:
            resource_id = rid
    if relation is not None and not relation:
        raise CliError(f"filter {original!r}: empty relation after '#'")
    subject: SubjectFilter | None = None
    if at:
        stype, srel = _split(subject_text, "#")
        stype, sid = _split(stype, ":")
        if not stype:
            raise CliError(f"filter {original!r}: a subject filter needs a subject type")
        if sid is not None and not sid:
            raise CliError(f"filter {original!r}: empty subject id after ':'")
        if srel is not None and not srel:
            raise CliError(f"filter {original!r}: empty subject relation after '#'")
        subject = SubjectFilter(stype, sid, srel)
    result = RelationshipFilter(rtype or None, resource_id, prefix, relation, subject)
    if result == RelationshipFilter():
        raise CliError(f"filter {original!r} selects nothing in particular; name at least a type")
    return result


def parse_precondition(text: str) -> Precondition:
    """``FILTER`` (must match something) or ``!FILTER`` (must match nothing)."""
    stripped = text.strip()
    if stripped.startswith("!"):
        return Precondition(False, parse_filter(stripped[1:]))
    return Precondition(True, parse_filter(stripped))


def _split(text: str, sep: str) -> tuple[str, str | None]:
    head, found, tail = text.partition(sep)
    return head, (tail if found else None)


def format_filter(f: RelationshipFilter) -> str:
    """The inverse of :func:`parse_filter`, for messages."""
    text = f.resource_type or ""
    if f.resource_id is not None:
        text += f":{f.resource_id}"
    elif f.resource_id_prefix is not None:
        text += f":{f.resource_id_prefix}*"
    if f.relation is not None:
        text += f"#{f.relation}"
    if f.subject is not None:
        text += f"@{f.subject.type}"
        if f.subject.id is not None:
            text += f":{f.subject.id}"
        if f.subject.relation is not None:
            text += f"#{f.subject.relation}"
    return text


# -- connecting -----------------------------------------------------------------------------------


def resolve_token(args: argparse.Namespace) -> str | None:
    """The bearer token to send, strongest source first (see the module docstring).

    A token file named explicitly must be readable (a typo should not silently mean "no
    credentials"); the development server's file is used only if it is there.
    """
    if args.token:
        return str(args.token).strip()
    env_token = os.environ.get(ENV_TOKEN, "").strip()
    if env_token:
        return env_token
    named: Path | None = args.token_file
    if named is None and os.environ.get(ENV_TOKEN_FILE):
        named = Path(os.environ[ENV_TOKEN_FILE])
    if named is not None:
        try:
            token = named.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read the token file {named}: {exc}") from None
        if not token:
            raise CliError(f"the token file {named} is empty")
        return token
    # The development token is only good for the local development server: never offer it
    # to another machine.
    dev = dev_token_file() if _is_local(args.endpoint) else None
    if dev is not None and dev.is_file():
        try:
            return dev.read_text(encoding="utf-8").strip() or None
        except (OSError, UnicodeDecodeError):
            return None
    return None


def dev_token_file() -> Path | None:
    """Where the local development server writes its all-scopes token.

    :func:`server.auth.devmode.token_file`: ``DATA_DIR/dev-auth/token``, the data directory
    being the server's (``REBAC_DATA_DIR`` / ``REBAC_CONFIG``, default ``./.rebac-data``), so
    ``rebac serve`` and the CLI run from the same directory find each other. Asked rather
    than hard-coded so the two can never disagree; None if that lookup is unavailable.
    """
    try:
        devmode = importlib.import_module("server.auth.devmode")
    except Exception:  # absent, or broken: the CLI still works with explicit tokens
        return None
    locate: Callable[[], Path | None] | None = getattr(devmode, "token_file", None)
    if locate is None:
        return None
    try:
        return locate()
    except Exception:  # a broken dev-mode lookup must not break the CLI
        return None


def _is_local(target: str) -> bool:
    from server.settings import is_loopback_host, split_address

    if target.startswith(("unix:", "unix-abstract:")):
        return True
    if target.startswith(_SCHEMES):
        target = target.split(":", 1)[1].lstrip("/")
    try:
        host, _ = split_address(target)
    except ValueError:
        return False
    return is_loopback_host(host)


def _check_endpoint(target: str) -> None:
    from server.settings import split_address

    if target.startswith(_SCHEMES):
        return
    try:
        split_address(target)
    except ValueError as exc:
        raise CliError(f"--endpoint {target!r}: {exc}") from None


def _read_file(path: Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def connect(args: argparse.Namespace) -> Client:
    """A client for ``args.endpoint`` / ``args.store`` with the credentials of the flags.

    Refuses to send a token in clear text to another machine unless ``--insecure``: a bearer
    token read off the wire is the caller's identity for as long as it lives.
    """
    import grpc

    from rebac.client import Client

    target: str = args.endpoint
    _check_endpoint(target)
    token = resolve_token(args)
    use_tls = bool(args.tls or args.ca_cert or args.client_cert or args.client_key)
    if (args.client_cert is None) != (args.client_key is None):
        raise CliError("--client-cert and --client-key go together (mutual TLS needs both)")
    if token and not use_tls and not args.insecure and not _is_local(target):
        raise CliError(
            f"refusing to send a token in clear text to {target}: use --tls "
            "(or --insecure on a network you trust)"
        )
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    channel: grpc.Channel | None = None
    if use_tls:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read_file(args.ca_cert, "CA certificate file"),
            private_key=_read_file(args.client_key, "client key file"),
            certificate_chain=_read_file(args.client_cert, "client certificate file"),
        )
        size = 4 * 1024 * 1024
        options = [
            ("grpc.max_send_message_length", size),
            ("grpc.max_receive_message_length", size),
        ]
        channel = grpc.secure_channel(target, credentials, options=options)
    return Client(target, args.store, timeout=args.timeout, metadata=metadata, channel=channel)


# -- running a command ----------------------------------------------------------------------------


def show_token(args: argparse.Namespace, token: str, *, query: bool) -> None:
    """``--show-token``: a write's token alone on stdout (``T=$(rebac rel write ...)``), a
    query's on stderr as ``token: T`` so that its stdout stays data."""
    if not getattr(args, "show_token", False) or not token:
        return
    if query:
        print(f"token: {token}", file=sys.stderr, flush=True)
    else:
        print(token, flush=True)


def say(message: str) -> None:
    """A status line for people (stderr: stdout is for data and tokens)."""
    print(message, file=sys.stderr, flush=True)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    raise CliError(message, code)


def run(args: argparse.Namespace, body: Callable[[Client], int]) -> int:
    """Connect, run ``body``, and turn every failure into one line on stderr and an exit code."""
    name = f"rebac {getattr(args, 'cli_name', None) or args.command}"
    try:
        client = connect(args)
        with client:
            return body(client)
    except CliError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RebacError as exc:
        message, code = describe(exc, args.endpoint)
        print(f"{name}: {message}", file=sys.stderr)
        return code


def describe(exc: RebacError, endpoint: str) -> tuple[str, int]:
    """The one-line message and exit code of an error raised by a call."""
    from rebac import client as rc

    text = str(exc) or type(exc).__name__
    if isinstance(exc, rc.Unavailable):
        reason = getattr(exc, "reason", "")
        if reason == "ERROR_REASON_SERVER_STOPPING":
            return f"the server at {endpoint} is shutting down ({text})", EXIT_UNAVAILABLE
        lowered = text.lower()
        if "connection refused" in lowered or "failed to connect" in lowered:
            return (
                f"cannot connect to a rebac server at {endpoint} (connection refused); "
                "start one with `rebac serve`, or point --endpoint / "
                f"{ENV_ENDPOINT} at yours",
                EXIT_UNAVAILABLE,
            )
        if "resolv" in lowered or "name not found" in lowered:
            return f"cannot resolve the server address {endpoint}: {text}", EXIT_UNAVAILABLE
        return f"the server at {endpoint} is unavailable: {text}", EXIT_UNAVAILABLE
    if isinstance(exc, rc.DeadlineExceeded):
        return f"no answer in time from {endpoint}: {text}", EXIT_UNAVAILABLE
    if isinstance(exc, rc.Unauthenticated):
        return (
            f"not authenticated: {text} (pass --token, set {ENV_TOKEN}, or use --token-file)",
            EXIT_AUTH,
        )
    if isinstance(exc, rc.PermissionDenied):
        return f"permission denied: {text}", EXIT_AUTH
    if isinstance(exc, rc.InternalError):
        request_id = getattr(exc, "request_id", "")
        quoted = f" (request id {request_id})" if request_id else ""
        return f"internal server error{quoted}: {text}", EXIT_ERROR
    if isinstance(exc, rc.Cancelled):
        return f"the call was cancelled: {text}", EXIT_UNAVAILABLE
    return text, EXIT_ERROR
