"""In-process servers for the server and CLI tests, and the schema both load.

A server here listens on port 0 over an in-memory datastore with a ``default`` store: cheap
(well under 100 ms), so each test gets its own and never sees another test's stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from server.app import RebacServer, build_server, ensure_default_store, open_datastore
from server.settings import Settings

SCHEMA = """\
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


def start_server(interceptors: Sequence[Any] = (), **overrides: Any) -> RebacServer:
    """A started server; ``overrides`` are settings (short grace and Watch poll by default)."""
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
    server = build_server(settings, datastore, interceptors)
    server.start()
    return server
