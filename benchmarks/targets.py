"""What a workload runs against: the engine in this process, or a server over gRPC.

Both answer the same five calls with plain values (a boolean, a count), so a workload, its
expected answers and its timing code are written once and every runner measures the same thing.
Consistency is fixed when a target is made: one target is one (runner, mode) cell.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rebac import CheckItem, Engine, ObjectRef, Permissionship, Relationship, SubjectRef
from rebac.revision import Consistency

MINIMIZE_LATENCY = "minimize_latency"
FULLY_CONSISTENT = "fully_consistent"
MODES = (MINIMIZE_LATENCY, FULLY_CONSISTENT)

#: The largest page a server hands out (``max_page_size``); a full lookup over gRPC asks for
#: everything in one stream instead (limit 0).
PAGE = 1000

#: Longest a single call may take before it counts as an error: a bound on any one cell.
CALL_TIMEOUT = 60.0

CheckTriple = tuple[str, str, str]  # (resource, permission, subject)


class Target(Protocol):
    """One way of asking: in-process or over gRPC, at one consistency mode."""

    def check(self, resource: str, permission: str, subject: str) -> bool: ...

    def check_bulk(self, items: Sequence[CheckTriple]) -> list[bool]: ...

    def lookup_resources(
        self, resource_type: str, permission: str, subject: str, limit: int | None
    ) -> int: ...

    def lookup_subjects(self, resource: str, permission: str, subject_type: str) -> int: ...

    def write(self, relationship: str) -> None: ...


def consistency_of(mode: str) -> Consistency | None:
    """The engine/client argument for ``mode``; None for minimize_latency, which is what a
    caller who passes nothing gets (and the engine's fast path)."""
    if mode == MINIMIZE_LATENCY:
        return None
    if mode == FULLY_CONSISTENT:
        return Consistency.fully_consistent()
    raise ValueError(f"unknown consistency mode {mode!r} (one of {', '.join(MODES)})")


def _allowed(result: object) -> bool:
    """A bulk item's answer: False for an error item as for a denial."""
    return getattr(result, "permissionship", None) is Permissionship.HAS_PERMISSION


class InProcessTarget:
    """The library as a service embeds it: ``Engine`` calls with strings, no conversion."""

    def __init__(self, engine: Engine, mode: str):
        self.engine = engine
        self.mode = mode
        self.consistency = consistency_of(mode)

    def check(self, resource: str, permission: str, subject: str) -> bool:
        result = self.engine.check(resource, permission, subject, consistency=self.consistency)
        return result.permissionship is Permissionship.HAS_PERMISSION

    def check_bulk(self, items: Sequence[CheckTriple]) -> list[bool]:
        batch = [CheckItem(ObjectRef.parse(r), p, SubjectRef.parse(s)) for r, p, s in items]
        results = self.engine.check_bulk(batch, consistency=self.consistency)
        return [_allowed(r) for r in results]

    def lookup_resources(
        self, resource_type: str, permission: str, subject: str, limit: int | None
    ) -> int:
        snapshot = self.engine.snapshot(self.consistency)
        deadline = time.monotonic() + CALL_TIMEOUT
        found = snapshot.lookup_resources(
            resource_type, permission, subject, limit=limit, deadline=deadline
        )
        return len(found)

    def lookup_subjects(self, resource: str, permission: str, subject_type: str) -> int:
        deadline = time.monotonic() + CALL_TIMEOUT
        found = self.engine.lookup_subjects(
            resource, permission, subject_type, consistency=self.consistency, deadline=deadline
        )
        return len(found)

    def write(self, relationship: str) -> None:
        self.engine.touch(Relationship.parse(relationship))


@dataclass(frozen=True)
class GrpcSpec:
    """Everything a process needs to open its own connections (picklable, for child
    processes). ``connections``: TCP connections the target spreads its calls over; a server
    with several workers shares its port by ``SO_REUSEPORT``, which spreads *connections*, so
    one connection would load one worker."""

    address: str
    store_id: str
    token: str | None
    mode: str
    connections: int = 1

    def open(self) -> GrpcTarget:
        return GrpcTarget(self)


class GrpcTarget:
    """The same calls through :class:`rebac.client.Client`, as a remote service makes them."""

    def __init__(self, spec: GrpcSpec):
        import grpc  # only where it is used

        from rebac.client import Client

        metadata = (("authorization", f"Bearer {spec.token}"),) if spec.token else ()
        # A private subchannel pool: channels with equal arguments would otherwise share one
        # TCP connection, within a process.
        options = [("grpc.use_local_subchannel_pool", 1)]
        self.clients = [
            Client(
                spec.address,
                spec.store_id,
                timeout=CALL_TIMEOUT,
                metadata=metadata,
                channel=grpc.insecure_channel(spec.address, options=options),
            )
            for _ in range(max(1, spec.connections))
        ]
        self._next = itertools.cycle(self.clients).__next__
        self.consistency = consistency_of(spec.mode)

    def close(self) -> None:
        for c in self.clients:
            c.close()

    def check(self, resource: str, permission: str, subject: str) -> bool:
        c = self._next()
        r = c.check(resource, permission, subject, consistency=self.consistency)
        return r.permissionship is Permissionship.HAS_PERMISSION

    def check_bulk(self, items: Sequence[CheckTriple]) -> list[bool]:
        batch = [CheckItem(ObjectRef.parse(r), p, SubjectRef.parse(s)) for r, p, s in items]
        results = self._next().check_bulk(batch, consistency=self.consistency).results
        return [_allowed(r) for r in results]

    def lookup_resources(
        self, resource_type: str, permission: str, subject: str, limit: int | None
    ) -> int:
        page = self._next().lookup_resources(
            resource_type, permission, subject, limit=limit or 0, consistency=self.consistency
        )
        return len(page.results)

    def lookup_subjects(self, resource: str, permission: str, subject_type: str) -> int:
        page = self._next().lookup_subjects(
            resource, permission, subject_type, consistency=self.consistency
        )
        return len(page.results)

    def write(self, relationship: str) -> None:
        self._next().touch(relationship)
