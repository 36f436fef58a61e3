"""Where the CLI connects, with which credentials, and how failures read."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from rebac.cli import _connect as conn
from rebac.revision import ConsistencyMode
from tests.cli.conftest import SCHEMA, MakeServer, Rebac

TOKEN = "s3cret-token"


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize(
    "argv",
    [
        ("check", "document:a", "view", "user:b"),
        ("expand", "document:a", "view"),
        ("lookup-resources", "document", "view", "user:b"),
        ("lookup-subjects", "document:a", "view", "user"),
        ("rel", "write", "document:a#viewer@user:b"),
        ("rel", "delete", "--filter", "document"),
        ("rel", "read", "document"),
        ("schema", "read"),
        ("export",),
        ("watch",),
    ],
)
def test_connection_refused(rebac: Rebac, argv: tuple[str, ...]) -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    r = rebac(*argv, "--endpoint", endpoint)
    assert r.code == conn.EXIT_UNAVAILABLE
    assert r.out == ""
    [line] = r.err.splitlines()
    assert endpoint in line
    assert "connection refused" in line
    assert "rebac serve" in line


def test_endpoint_from_the_environment(rebac: Rebac, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("REBAC_ENDPOINT", endpoint)
    r = rebac("schema", "read")
    assert r.code == 4 and endpoint in r.err


def test_malformed_endpoint(rebac: Rebac) -> None:
    r = rebac("check", "document:a", "view", "user:b", "--endpoint", "nohostport")
    assert r.code == 3 and "--endpoint" in r.err


# -- credentials ----------------------------------------------------------------------------


class RequireToken(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Refuses every call without ``authorization: Bearer TOKEN``; records what it saw."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        headers = dict(handler_call_details.invocation_metadata or ())
        value = headers.get("authorization", "")
        self.seen.append(value)
        if value == f"Bearer {TOKEN}":
            return continuation(handler_call_details)

        def refuse(request: Any, context: grpc.ServicerContext) -> Any:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid token")

        return grpc.unary_unary_rpc_method_handler(refuse)


@pytest.fixture
def guarded(make_server: MakeServer, monkeypatch: pytest.MonkeyPatch) -> RequireToken:
    guard = RequireToken()
    server = make_server(interceptors=(guard,))
    monkeypatch.setenv("REBAC_ENDPOINT", server.address)
    return guard


def test_without_a_token_exit_5(rebac: Rebac, guarded: RequireToken, tmp_path: Path) -> None:
    schema = tmp_path / "s.zed"
    schema.write_text(SCHEMA)
    r = rebac("schema", "write", str(schema))
    assert r.code == conn.EXIT_AUTH
    assert "not authenticated" in r.err and "--token" in r.err


def test_token_flag(rebac: Rebac, guarded: RequireToken, tmp_path: Path) -> None:
    schema = tmp_path / "s.zed"
    schema.write_text(SCHEMA)
    assert rebac("schema", "write", str(schema), "--token", TOKEN).code == 0
    assert guarded.seen[-1] == f"Bearer {TOKEN}"


def test_token_from_the_environment(
    rebac: Rebac, guarded: RequireToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REBAC_TOKEN", TOKEN)
    assert rebac("schema", "read").code == 3  # authenticated; no schema yet
    assert guarded.seen[-1] == f"Bearer {TOKEN}"


def test_token_file(
    rebac: Rebac, guarded: RequireToken, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    assert rebac("schema", "read", "--token-file", str(path)).code == 3
    assert guarded.seen[-1] == f"Bearer {TOKEN}"
    monkeypatch.setenv("REBAC_TOKEN_FILE", str(path))
    assert rebac("schema", "read").code == 3
    assert guarded.seen[-1] == f"Bearer {TOKEN}"


def test_missing_token_file_is_an_error(
    rebac: Rebac, guarded: RequireToken, tmp_path: Path
) -> None:
    r = rebac("schema", "read", "--token-file", str(tmp_path / "nope"))
    assert r.code == 3 and "token file" in r.err
    assert guarded.seen == []  # nothing was sent


def test_development_token(rebac: Rebac, guarded: RequireToken, tmp_path: Path) -> None:
    """With no token given, the one ``rebac serve`` wrote in its data directory is used."""
    devmode = pytest.importorskip("server.auth.devmode")
    path = devmode.token_file()
    assert path.is_relative_to(tmp_path)  # REBAC_DATA_DIR, set by the conftest
    path.parent.mkdir(parents=True)
    path.write_text(TOKEN + "\n")
    assert rebac("schema", "read").code == 3  # authenticated; no schema yet
    assert guarded.seen[-1] == f"Bearer {TOKEN}"
    # ... but never offered to another machine.
    assert conn.resolve_token(_args(endpoint="10.1.2.3:50051")) is None
    assert conn.resolve_token(_args()) == TOKEN


def _args(**values: Any) -> argparse.Namespace:
    defaults: dict[str, Any] = {
        "endpoint": "127.0.0.1:50051",
        "store": "default",
        "token": None,
        "token_file": None,
        "tls": False,
        "ca_cert": None,
        "client_cert": None,
        "client_key": None,
        "insecure": False,
        "timeout": None,
    }
    return argparse.Namespace(**{**defaults, **values})


def test_token_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("from-file")
    monkeypatch.setenv("REBAC_TOKEN", "from-env")
    assert conn.resolve_token(_args(token="from-flag", token_file=path)) == "from-flag"
    assert conn.resolve_token(_args(token_file=path)) == "from-env"
    monkeypatch.delenv("REBAC_TOKEN")
    assert conn.resolve_token(_args(token_file=path)) == "from-file"
    monkeypatch.delenv("REBAC_TOKEN_FILE", raising=False)
    monkeypatch.setattr(conn, "dev_token_file", lambda: None)
    assert conn.resolve_token(_args()) is None


def test_no_clear_text_token_to_another_machine() -> None:
    with pytest.raises(conn.CliError, match="clear text"):
        conn.connect(_args(endpoint="10.1.2.3:50051", token="t"))
    # Loopback, a unix socket, TLS, or an explicit --insecure are fine.
    for args in (
        _args(endpoint="localhost:50051", token="t"),
        _args(endpoint="[::1]:50051", token="t"),
        _args(endpoint="unix:/tmp/rebac.sock", token="t"),
        _args(endpoint="10.1.2.3:50051", token="t", tls=True),
        _args(endpoint="10.1.2.3:50051", token="t", insecure=True),
        _args(endpoint="10.1.2.3:50051"),
    ):
        conn.connect(args).close()


def test_mutual_tls_needs_both_halves(tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    with pytest.raises(conn.CliError, match="together"):
        conn.connect(_args(client_cert=cert))
    with pytest.raises(conn.CliError, match="cannot read"):
        conn.connect(_args(ca_cert=tmp_path / "missing.pem"))


# -- flag values ----------------------------------------------------------------------------


def test_consistency_values() -> None:
    assert conn.parse_consistency("full").mode is ConsistencyMode.FULLY_CONSISTENT
    assert conn.parse_consistency("min").mode is ConsistencyMode.MINIMIZE_LATENCY
    fresh = conn.parse_consistency("abc")
    assert (fresh.mode, fresh.token) == (ConsistencyMode.AT_LEAST_AS_FRESH, "abc")
    exact = conn.parse_consistency("exact:abc")
    assert (exact.mode, exact.token) == (ConsistencyMode.AT_EXACT_SNAPSHOT, "abc")
    assert conn.parse_consistency("at-least:abc").mode is ConsistencyMode.AT_LEAST_AS_FRESH
    for bad in ("", "exact:", "at-least:"):
        with pytest.raises(conn.CliError):
            conn.parse_consistency(bad)


def test_offline_commands_do_not_load_grpc() -> None:
    """``rebac schema check`` and ``rebac validate`` must not pay for importing grpc."""
    code = (
        "import sys\n"
        "from rebac.cli.main import build_parser\n"
        "build_parser()\n"
        "print(sorted(m for m in ('grpc', 'rebac.client') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
