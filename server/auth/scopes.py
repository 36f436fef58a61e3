"""The RPC -> scope table: what each operation requires, on which listener, with what extra care.

One row per method of the public API. A method not in the table is refused (fail closed): a
new RPC cannot become reachable just because nobody thought about its scope. Scopes are
compared exactly; none implies another.

Listeners: the data-plane listener serves everything but the admin operations, which it does
not expose at all (a call gets the same UNIMPLEMENTED as a method that does not exist); the
admin listener serves the schema and store services only.

Step-up (a recent multi-factor user authentication, see :mod:`server.auth.stepup`) is required
for schema writes, store deletion, and deletes by a filter that names no resource id (one call
that can wipe a whole type).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

CHECK = "rebac:check"
LOOKUP = "rebac:lookup"
EXPAND = "rebac:expand"
READ = "rebac:read"
WRITE = "rebac:write"
SCHEMA_READ = "rebac:schema:read"
SCHEMA_WRITE = "rebac:schema:write"
ADMIN = "rebac:admin"

ALL_SCOPES = (CHECK, LOOKUP, EXPAND, READ, WRITE, SCHEMA_READ, SCHEMA_WRITE, ADMIN)
DATA_SCOPES = (CHECK, LOOKUP, EXPAND, READ, WRITE, SCHEMA_READ)
ADMIN_SCOPES = (SCHEMA_READ, SCHEMA_WRITE, ADMIN)

_API = "/rebac.api.v1."
HEALTH_PREFIX = "/grpc.health.v1.Health/"
REFLECTION_PREFIX = "/grpc.reflection."


class Listener(Enum):
    """Which API surface a listener serves. ``COMBINED`` (everything on one address) exists for
    development mode only (:mod:`server.auth.devmode`)."""

    DATA = "data"
    ADMIN = "admin"
    COMBINED = "combined"


BOTH = frozenset({Listener.DATA, Listener.ADMIN})
DATA_ONLY = frozenset({Listener.DATA})
ADMIN_ONLY = frozenset({Listener.ADMIN})


def _always(request: Any) -> bool:
    return True


def _delete_without_resource_id(request: Any) -> bool:
    """A DeleteRequest whose filter names no single resource: it may remove a whole type."""
    f = request.filter
    return not (f.HasField("optional_resource_id") and f.optional_resource_id)


@dataclass(frozen=True, slots=True)
class MethodPolicy:
    """What one RPC requires. ``step_up`` decides from the request whether it is high-risk;
    ``store_field`` names the request field holding the store id ('' when there is none)."""

    scope: str
    listeners: frozenset[Listener]
    step_up: Callable[[Any], bool] | None = None
    store_field: str = "store_id"


def _p(
    scope: str,
    listeners: frozenset[Listener] = DATA_ONLY,
    step_up: Callable[[Any], bool] | None = None,
    store_field: str = "store_id",
) -> MethodPolicy:
    return MethodPolicy(scope, listeners, step_up, store_field)


TABLE: Mapping[str, MethodPolicy] = {
    f"{_API}PermissionService/Check": _p(CHECK),
    f"{_API}PermissionService/CheckBulk": _p(CHECK),
    f"{_API}PermissionService/Expand": _p(EXPAND),
    f"{_API}PermissionService/LookupResources": _p(LOOKUP),
    f"{_API}PermissionService/LookupSubjects": _p(LOOKUP),
    f"{_API}RelationshipService/Read": _p(READ),
    f"{_API}RelationshipService/Export": _p(READ),
    f"{_API}RelationshipService/Write": _p(WRITE),
    f"{_API}RelationshipService/Import": _p(WRITE),
    f"{_API}RelationshipService/Delete": _p(WRITE, step_up=_delete_without_resource_id),
    f"{_API}WatchService/Watch": _p(READ),
    f"{_API}SchemaService/ReadSchema": _p(SCHEMA_READ, BOTH),
    f"{_API}SchemaService/DiffSchema": _p(SCHEMA_READ, BOTH),
    f"{_API}SchemaService/WriteSchema": _p(SCHEMA_WRITE, ADMIN_ONLY, step_up=_always),
    f"{_API}StoreService/CreateStore": _p(ADMIN, ADMIN_ONLY),
    f"{_API}StoreService/ListStores": _p(ADMIN, ADMIN_ONLY, store_field=""),
    f"{_API}StoreService/DeleteStore": _p(ADMIN, ADMIN_ONLY, step_up=_always),
}


def policy_for(method: str) -> MethodPolicy | None:
    return TABLE.get(method)


def exposed(policy: MethodPolicy, listener: Listener) -> bool:
    """Whether ``listener`` serves the method at all."""
    return listener is Listener.COMBINED or listener in policy.listeners


def is_admin_action(policy: MethodPolicy | None, listener: Listener) -> bool:
    """Calls whose audit can never be switched off."""
    return listener is Listener.ADMIN or (policy is not None and policy.listeners == ADMIN_ONLY)


def is_public(method: str) -> bool:
    """Health checking answers without credentials (it reveals only a serving status)."""
    return method.startswith(HEALTH_PREFIX)


def is_reflection(method: str) -> bool:
    """Reflection needs an authenticated caller but no scope (it describes the API only)."""
    return method.startswith(REFLECTION_PREFIX)
