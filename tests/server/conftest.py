"""An in-process server on port 0 per test, and a client for it.

Each test gets a fresh server over an in-memory datastore (cheap: well under 100 ms), so tests
never see each other's stores. ``make_server`` builds one with other settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rebac.client import Client
from server.app import RebacServer, build_server, ensure_default_store, open_datastore
from server.settings import Settings

SCHEMA = """
use expiration

definition user {}

definition group {
    relation member: user | group#member
}

caveat on_weekday(day string) {
    day != "saturday" && day != "sunday"
}

definition document {
    relation owner: user | user with expiration
    relation viewer: user | user:* | group#member | user with on_weekday
    relation banned: user
    permission edit = owner
    permission view = (viewer + owner) - banned
}
"""

MakeServer = Callable[..., tuple[RebacServer, Client]]


@pytest.fixture
def make_server() -> Iterator[MakeServer]:
    """``make_server(**settings)`` -> a started server and a client for its ``default`` store."""
    started: list[tuple[RebacServer, Client]] = []

    def make(**overrides: Any) -> tuple[RebacServer, Client]:
        values: dict[str, Any] = {
            "listen": "127.0.0.1:0",
            "store": "memory:",
            "grace_period": 2.0,
            "watch_poll_interval": 0.02,
            **overrides,
        }
        settings = Settings(**values)
        datastore = open_datastore(settings)
        ensure_default_store(datastore, "default")
        server = build_server(settings, datastore)
        server.start()
        client = Client(server.address, "default", timeout=10)
        started.append((server, client))
        return server, client

    yield make
    for server, client in started:
        client.close()
        server.stop(0)


@pytest.fixture
def server(make_server: MakeServer) -> RebacServer:
    return make_server()[0]


@pytest.fixture
def client(server: RebacServer) -> Iterator[Client]:
    with Client(server.address, "default", timeout=10) as c:
        yield c


@pytest.fixture
def loaded(client: Client) -> Client:
    """The client, with SCHEMA written and a few relationships."""
    client.write_schema(SCHEMA)
    client.touch(
        "group:eng#member@user:alice",
        "group:eng#member@user:bob",
        "document:readme#viewer@group:eng#member",
        "document:readme#owner@user:carol",
        "document:readme#banned@user:bob",
        "document:public#viewer@user:*",
        "document:weekday#viewer@user:dave[on_weekday]",
    )
    return client
