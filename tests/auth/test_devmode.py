"""Development mode and ``rebac token``: real token checks with a key the server made for
itself, one loopback listener, and a token where the command line finds it."""

from __future__ import annotations

import argparse
import stat
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from rebac.api.v1 import schema_service_pb2
from rebac.cli import token_cmd
from server.auth import devmode
from server.auth.apikeys import ApiKeys
from server.auth.runtime import build_auth
from server.auth.settings import AuthSettings
from tests.auth.conftest import SCHEMA, Deployment, bearer, serve_runtime
from tests.auth.helpers import invoke


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Deployment]:
    runtime = build_auth(AuthSettings(), tmp_path)
    assert runtime.dev_mode
    deployment = serve_runtime(runtime, None, tmp_path / "audit.jsonl")
    yield deployment
    deployment.close()


def _token_cli(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="rebac")
    token_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["token", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out.strip(), err


def _write_schema(d: Deployment, token: str) -> grpc.StatusCode:
    request = schema_service_pb2.WriteSchemaRequest(store_id="default", schema=SCHEMA)
    path = "/rebac.api.v1.SchemaService/WriteSchema"
    return invoke(d.channel(), path, request.SerializeToString(), bearer(token)).code


def test_dev_mode_checks_real_tokens_on_one_listener(dev: Deployment, tmp_path: Path) -> None:
    path = devmode.write_token(tmp_path)
    assert path == devmode.token_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "dev-auth" / "signing-key.pem").stat().st_mode) == 0o600
    token = path.read_text().strip()
    assert dev.unary(bearer(token)).code is grpc.StatusCode.OK
    assert dev.unary([]).code is grpc.StatusCode.UNAUTHENTICATED  # still checked
    assert _write_schema(dev, token) is grpc.StatusCode.OK  # admin API on the same listener
    assert dev.audit()[-1]["rpc"] == "/rebac.api.v1.SchemaService/WriteSchema"
    assert dev.audit()[-1]["listener"] == "combined"


def test_the_dev_key_survives_restarts(tmp_path: Path) -> None:
    first = devmode.ensure_key(tmp_path)[1]
    assert devmode.ensure_key(tmp_path)[1] == first
    assert devmode.load_key(tmp_path)[1] == first


def test_token_mint(dev: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, token, _ = _token_cli(
        "mint", "--sub", "me", "--scope", "rebac:check", "--store", "default",
        "--data-dir", str(tmp_path), capsys=capsys,
    )  # fmt: skip
    assert code == 0
    assert dev.unary(bearer(token)).code is grpc.StatusCode.OK
    assert dev.unary(bearer(token), store="acme").code is grpc.StatusCode.NOT_FOUND
    assert dev.server_stream(bearer(token)).code is grpc.StatusCode.PERMISSION_DENIED
    assert dev.audit()[-1]["principal"]["sub"] == "me"
    _, everything, _ = _token_cli(
        "mint", "--sub", "me", "--store", "*", "--data-dir", str(tmp_path), capsys=capsys
    )
    assert _write_schema(dev, everything) is grpc.StatusCode.UNAUTHENTICATED  # no step-up
    _, stepped, _ = _token_cli(
        "mint", "--sub", "me", "--store", "*", "--step-up", "--data-dir", str(tmp_path),
        capsys=capsys,
    )  # fmt: skip
    assert _write_schema(dev, stepped) is grpc.StatusCode.OK


def test_token_mint_needs_the_dev_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _token_cli(
        "mint", "--sub", "me", "--store", "x", "--data-dir", str(tmp_path / "none"), capsys=capsys
    )
    assert (code, out) == (2, "")
    assert "rebac serve" in err
    devmode.ensure_key(tmp_path)
    code, _, err = _token_cli(
        "mint", "--sub", "me", "--store", "x", "--scope", "rebac:everything",
        "--data-dir", str(tmp_path), capsys=capsys,
    )  # fmt: skip
    assert code == 2 and "unknown scopes" in err


def test_api_key_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _token_cli(
        "api-key", "--id", "batch", "--sub", "svc:batch", "--scope", "rebac:check",
        "--store", "default", capsys=capsys,
    )  # fmt: skip
    assert code == 0
    key = out.splitlines()[0].rsplit(" ", 1)[1]
    entry = out.split("keys_file:\n", 1)[1]
    (tmp_path / "keys.toml").write_text(entry)
    principal = ApiKeys.load(tmp_path / "keys.toml").authenticate(key)
    assert principal is not None and principal.sub == "svc:batch"
    assert key not in entry
    code, _, err = _token_cli(
        "api-key", "--id", "a", "--sub", "s", "--scope", "rebac:admin", "--store", "d",
        capsys=capsys,
    )  # fmt: skip
    assert code == 2 and "cannot be given" in err
