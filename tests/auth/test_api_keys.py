"""Static API keys: hashed at rest, compared in constant time, data plane only, never
enough for an admin or high-risk action."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from server.auth.apikeys import ApiKeys, digest, new_key
from server.auth.grants import GrantError
from server.auth.statuses import UNAUTHENTICATED_MESSAGE
from tests.auth.conftest import Deploy, bearer
from tests.auth.helpers import invoke


def _keys_file(
    path: Path, key: str, scopes: str = '"rebac:check"', stores: str = '"default"'
) -> Path:
    path.write_text(
        f"""
[[key]]
id = "billing-batch"
sha256 = "{digest(key).hex()}"
sub = "svc:billing-batch"
scopes = [{scopes}]
stores = [{stores}]
"""
    )
    return path


def test_an_api_key_authenticates_a_low_risk_workload(deploy: Deploy, tmp_path: Path) -> None:
    key = new_key()
    d = deploy(auth_api_keys_file=str(_keys_file(tmp_path / "keys.toml", key)))
    assert d.unary(bearer(key)).code is grpc.StatusCode.OK
    event = d.audit()[-1]
    assert event["auth_method"] == "api_key" and event["credential"] == "billing-batch"
    assert key not in d.audit_path.read_text()
    wrong = d.unary(bearer(new_key()))
    assert (wrong.code, wrong.details) == (grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)
    assert d.audit()[-1]["reason"] == "unknown_api_key"
    # its scopes are exact like any other principal's
    assert d.server_stream(bearer(key)).code is grpc.StatusCode.PERMISSION_DENIED
    # and it never reaches the admin listener
    admin = invoke(d.channel(admin=True), "/rebac.api.v1.StoreService/ListStores", b"", bearer(key))
    assert admin.code is grpc.StatusCode.UNAUTHENTICATED
    assert d.spy.calls == ["/rebac.api.v1.PermissionService/Check"]


def test_api_keys_alone_need_no_issuer_or_audience(deploy: Deploy, tmp_path: Path) -> None:
    key = new_key()
    d = deploy(
        auth_issuer=None,
        auth_audience=None,
        auth_admin_audience=None,
        admin_listen=None,
        auth_jwks=None,
        auth_api_keys_file=str(_keys_file(tmp_path / "keys.toml", key)),
    )
    assert d.unary(bearer(key)).code is grpc.StatusCode.OK
    assert d.unary([]).code is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("scopes", "stores"),
    [
        ('"rebac:admin"', '"default"'),
        ('"rebac:schema:write"', '"default"'),
        ('"rebac:chek"', '"x"'),
    ],
)
def test_static_keys_cannot_hold_admin_or_unknown_scopes(
    tmp_path: Path, scopes: str, stores: str
) -> None:
    with pytest.raises(GrantError):
        ApiKeys.load(_keys_file(tmp_path / "keys.toml", new_key(), scopes, stores))


def test_malformed_key_files_are_refused(tmp_path: Path) -> None:
    bad = [
        "[[key]]\nid = 'a'\nsha256 = 'nothex'\nsub = 's'\n",
        "[[key]]\nsha256 = '" + "0" * 64 + "'\nsub = 's'\n",
        "[[key]]\nid = 'a'\nsha256 = '" + "0" * 64 + "'\n",
        "key = 3\n",
        "not toml [",
    ]
    for n, text in enumerate(bad):
        path = tmp_path / f"k{n}.toml"
        path.write_text(text)
        with pytest.raises(GrantError):
            ApiKeys.load(path)


def test_keys_are_compared_by_hash() -> None:
    key = new_key()
    entry = f'[[key]]\nid = "a"\nsha256 = "{digest(key).hex()}"\nsub = "s"\nscopes = []\n'
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(entry)
    keys = ApiKeys.load(Path(f.name))
    assert keys.authenticate(key) is not None
    assert keys.authenticate(key[:-1]) is None
    assert keys.authenticate("short") is None
    Path(f.name).unlink()
