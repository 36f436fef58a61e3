"""rebac watch: one line per change, resumable from a token, ends cleanly."""

from __future__ import annotations

import threading
import time

import pytest

from rebac.client import Client
from server.app import RebacServer
from tests.cli.conftest import SCHEMA, Rebac, Result


@pytest.fixture
def start(client: Client) -> str:
    """The token of the schema write: watching --since it shows every relationship change."""
    return client.write_schema(SCHEMA)


def test_changes_since_a_token(rebac: Rebac, client: Client, start: str) -> None:
    client.touch("document:d1#viewer@user:a")
    client.touch("document:d2#viewer@user:b")
    client.delete("document:d1#viewer@user:a")
    r = rebac("watch", "--since", start, "--count", "3")
    assert (r.code, r.lines) == (
        0,
        [
            "touch document:d1#viewer@user:a",
            "touch document:d2#viewer@user:b",
            "delete document:d1#viewer@user:a",
        ],
    )


def test_one_revision_is_printed_whole(rebac: Rebac, client: Client, start: str) -> None:
    client.touch("document:d1#viewer@user:a", "document:d1#viewer@user:b")
    client.touch("document:d3#viewer@user:c")
    r = rebac("watch", "--since", start, "--count", "1")
    assert r.lines == ["touch document:d1#viewer@user:a", "touch document:d1#viewer@user:b"]


def test_type_and_filter(rebac: Rebac, client: Client, start: str) -> None:
    client.touch("group:eng#member@user:a")
    client.touch("document:d1#viewer@user:a")
    client.touch("document:d2#owner@user:a")
    by_type = rebac("watch", "--since", start, "--type", "document", "--count", "2")
    assert by_type.lines == ["touch document:d1#viewer@user:a", "touch document:d2#owner@user:a"]
    by_filter = rebac("watch", "--since", start, "--filter", "document#owner", "--count", "1")
    assert by_filter.lines == ["touch document:d2#owner@user:a"]


def test_show_token_resumes_after_what_was_shown(rebac: Rebac, client: Client, start: str) -> None:
    client.touch("document:d1#viewer@user:a")
    client.touch("document:d2#viewer@user:b")
    first = rebac("watch", "--since", start, "--count", "1", "--show-token")
    assert first.lines == ["touch document:d1#viewer@user:a"]
    token = first.err.removeprefix("token: ").strip()
    rest = rebac("watch", "--since", token, "--count", "1")
    assert rest.lines == ["touch document:d2#viewer@user:b"]


def test_schema_changes(rebac: Rebac, client: Client, start: str) -> None:
    client.write_schema(SCHEMA + "\ndefinition folder {}\n")
    r = rebac("watch", "--since", start, "--schema", "--count", "1")
    assert r.lines == ["schema updated"]


def test_live_changes(rebac: Rebac, client: Client, start: str) -> None:
    """Without --since only changes made after the call show up."""
    client.touch("document:old#viewer@user:a")
    result: dict[str, Result] = {}
    watcher = threading.Thread(target=lambda: result.update(r=rebac("watch", "--count", "1")))
    watcher.start()
    n = 0
    deadline = time.monotonic() + 10
    while watcher.is_alive() and time.monotonic() < deadline:
        n += 1
        client.touch(f"document:new{n}#viewer@user:a")
        watcher.join(0.1)
    watcher.join(5)
    assert not watcher.is_alive()
    lines = result["r"].lines
    assert len(lines) == 1 and lines[0].startswith("touch document:new")


def test_server_shutdown_says_how_to_resume(
    rebac: Rebac, client: Client, server: RebacServer, start: str
) -> None:
    client.touch("document:d1#viewer@user:a")
    result: dict[str, Result] = {}
    watcher = threading.Thread(target=lambda: result.update(r=rebac("watch", "--since", start)))
    watcher.start()
    time.sleep(0.5)  # connected, caught up and printed the change
    server.stop(5)
    watcher.join(10)
    assert not watcher.is_alive()
    r = result["r"]
    assert r.code == 4
    assert r.lines == ["touch document:d1#viewer@user:a"]
    assert "shutting down" in r.err and "resume with --since " in r.err


def test_bad_arguments(rebac: Rebac, server: RebacServer) -> None:
    assert rebac("watch", "--count", "-1").code == 3
    assert rebac("watch", "--filter", "document:", "--count", "1").code == 3
    bad_token = rebac("watch", "--since", "not-a-token", "--count", "1")
    assert bad_token.code == 3 and "Traceback" not in bad_token.err
