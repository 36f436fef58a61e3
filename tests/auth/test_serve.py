"""``rebac serve`` with authentication configured, as an operator runs it: a real process, a
JWKS file, the data-plane and admin listeners, the banner, the audit file, a clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rebac.client import Client, Unauthenticated
from tests.auth.conftest import SCHEMA
from tests.auth.helpers import ADMIN_AUDIENCE, AUDIENCE, ISSUER, SigningKey, admin_claims, claims

Keys = dict[str, SigningKey]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBAC_")}
    return subprocess.Popen(
        [sys.executable, "-m", "rebac.cli", "serve", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_serving(address: str, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                return
            except grpc.RpcError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)


def test_serve_with_jwt_authentication_and_an_admin_listener(tmp_path: Path, keys: Keys) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [keys["ec"].public_jwk()]}))
    data, admin = f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"
    proc = _serve(
        tmp_path,
        "--listen", data, "--admin-listen", admin,
        "--auth-issuer", ISSUER, "--auth-audience", AUDIENCE,
        "--auth-admin-audience", ADMIN_AUDIENCE, "--auth-jwks", str(jwks),
    )  # fmt: skip
    try:
        _wait_serving(data)
        _wait_serving(admin)
        admin_md = [("authorization", "Bearer " + keys["ec"].sign(admin_claims()))]
        data_md = [("authorization", "Bearer " + keys["ec"].sign(claims()))]
        with Client(admin, timeout=10, metadata=admin_md) as operator:
            assert operator.list_stores() == ["default"]
            operator.write_schema(SCHEMA)
        with Client(data, timeout=10, metadata=data_md) as workload:
            workload.touch("document:d1#viewer@user:alice")
            assert workload.check("document:d1", "view", "user:alice").allowed
            with pytest.raises(Exception) as caught:
                workload.list_stores()  # not served on the data-plane listener
            assert getattr(caught.value, "grpc_code", None) is grpc.StatusCode.UNIMPLEMENTED
        with Client(data, timeout=10) as anonymous, pytest.raises(Unauthenticated):
            anonymous.check("document:d1", "view", "user:alice")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"listening on {data}" in out and f"admin listener: {admin}" in out
    assert f"authentication: JWT from issuer '{ISSUER}'" in out
    lines = (tmp_path / ".rebac-data" / "audit.jsonl").read_text().splitlines()
    rpcs = [json.loads(line)["rpc"].rsplit("/", 1)[1] for line in lines]
    assert rpcs == ["ListStores", "WriteSchema", "Write", "Check", "Check"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--auth-jwks", "jwks.json"], "auth_audience is required"),
        (["--auth-jwks", "jwks.json", "--auth-audience", "a"], "auth_issuer is required"),
        (["--auth-issuer", "i", "--auth-audience", "a"], "no credential source"),
        (["--auth-leeway", "120", "--auth-issuer", "i"], "less than or equal to 60"),
        (["--auth-keys", "k:HS256:x.pem"], "HS256"),
        (["--auth-jwks", "http://issuer.example/jwks", "--auth-issuer", "i",
          "--auth-audience", "a"], "plain http"),
    ],
)  # fmt: skip
def test_serve_refuses_an_unusable_auth_configuration(
    tmp_path: Path, args: list[str], message: str
) -> None:
    proc = _serve(tmp_path, "--listen", "127.0.0.1:0", *args)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2, out
    assert message in out
