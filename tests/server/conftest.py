"""An in-process server on port 0 per test (tests.servers), and a client for it.

``make_server`` builds one with other settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rebac.client import Client
from server.app import RebacServer
from tests.servers import SCHEMA, start_server

__all__ = ["SCHEMA", "MakeServer"]

MakeServer = Callable[..., tuple[RebacServer, Client]]


@pytest.fixture
def make_server() -> Iterator[MakeServer]:
    """``make_server(**settings)`` -> a started server and a client for its ``default`` store."""
    started: list[tuple[RebacServer, Client]] = []

    def make(**overrides: Any) -> tuple[RebacServer, Client]:
        server = start_server(**overrides)
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
