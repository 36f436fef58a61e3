"""In-memory backend: for tests and ephemeral use; same contract as SQLite, nothing durable.

Rows are MVCC versions (``created <= r < deleted`` is visible at revision ``r``), so a snapshot
read needs no copy of the data; one lock serialises every call, which is plenty for a backend
whose reads are bulk loads and whose writes are short. Keys are kept in a sorted list so that
filtered reads and paging walk only the range they need.
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rebac.errors import (
    AlreadyExists,
    NotFound,
    PreconditionFailed,
    StoreAlreadyExists,
    TooManyRelationshipsForDelete,
)
from rebac.model import (
    Operation,
    Precondition,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
)
from rebac.revision import Position, TokenCodec
from rebac.store import _checks as checks
from rebac.store._rows import (
    LIVE,
    Key,
    Row,
    is_live,
    key_of_position,
    now_micros,
    rel_of,
    row_matches,
    row_of,
)
from rebac.store.base import (
    ChangeSet,
    DeleteResult,
    ImportResult,
    SchemaGuard,
    SchemaVersion,
    StoreConfig,
)


class _Version:
    __slots__ = ("created", "deleted", "row")

    def __init__(self, row: Row, created: int):
        self.row = row
        self.created = created
        self.deleted = LIVE


@dataclass(slots=True)
class _Txn:
    revision: int
    ts: float
    metadata: str | None
    schema_changed: bool = False
    touched: list[Row] = field(default_factory=list)
    deleted: list[Row] = field(default_factory=list)


class _Tenant:
    """One store: versions by key, sorted keys, the changelog and the schema history."""

    __slots__ = ("_keys", "_new_keys", "head", "log", "oldest", "schemas", "versions")

    def __init__(self, head: int):
        self.head = head
        self.oldest = head  # log[i] is revision oldest + 1 + i
        self.versions: dict[Key, list[_Version]] = {}
        # Sorted keys for range scans. New keys wait in _new_keys and are merged on the next
        # scan: inserting each one in place would make a bulk import quadratic.
        self._keys: list[Key] = []
        self._new_keys: list[Key] = []
        self.log: list[_Txn] = []
        self.schemas: list[tuple[int, str]] = []

    def live_version(self, key: Key) -> _Version | None:
        vs = self.versions.get(key)
        if vs and vs[-1].deleted == LIVE:
            return vs[-1]
        return None

    def add(self, row: Row, revision: int) -> None:
        key: Key = row[:6]
        vs = self.versions.get(key)
        if vs is None:
            self.versions[key] = vs = []
            self._new_keys.append(key)
        elif vs[-1].deleted == LIVE:
            vs[-1].deleted = revision  # superseded (a TOUCH, or an expired row re-created)
        vs.append(_Version(row, revision))

    @property
    def keys(self) -> list[Key]:
        """Every key ever stored, sorted."""
        if self._new_keys:
            self._keys.extend(self._new_keys)
            self._keys.sort()  # Timsort: linear when a sorted run is extended
            self._new_keys.clear()
        return self._keys

    def retain_keys(self, keys: list[Key]) -> None:
        """Keep only ``keys`` (sorted), dropping every other key's history (GC)."""
        self._keys = keys
        self._new_keys = []
        self.versions = {k: self.versions[k] for k in keys}

    def scan(
        self, f: RelationshipFilter | None, revision: int, now_us: int, after: Key | None
    ) -> Iterator[Row]:
        """Rows visible at ``revision``, unexpired at ``now_us``, matching ``f``, in key order."""
        exact: tuple[str, ...] = ()  # leading key columns the filter fixes
        prefix: str | None = None
        if f is not None and f.resource_type is not None:
            exact = (f.resource_type,)
            if f.resource_id is not None:
                exact += (f.resource_id,) if f.relation is None else (f.resource_id, f.relation)
            prefix = f.resource_id_prefix
        start = bisect.bisect_left(self.keys, exact if prefix is None else (*exact, prefix))
        if after is not None:
            start = max(start, bisect.bisect_right(self.keys, after))
        n = len(exact)
        for key in itertools.islice(self.keys, start, None):
            if key[:n] != exact or (prefix is not None and not key[1].startswith(prefix)):
                break  # past the contiguous range the filter selects
            for v in reversed(self.versions[key]):
                if v.created <= revision < v.deleted:
                    row = v.row
                    if is_live(row[8], now_us) and (f is None or row_matches(f, row)):
                        yield row
                    break


class _Reader:
    """StoreReader at the head, used by schema guards while the lock is held."""

    def __init__(self, tenant: _Tenant, now_us: int):
        self._t = tenant
        self._now = now_us

    def first(self, filter: RelationshipFilter) -> Relationship | None:
        checks.check_filter(filter)
        row = next(self._t.scan(filter, self._t.head, self._now, None), None)
        return None if row is None else rel_of(row)

    def exists(self, filter: RelationshipFilter) -> bool:
        return self.first(filter) is not None


class MemoryStore:
    """The in-memory datastore. See :class:`rebac.store.base.Store` for the contract."""

    def __init__(
        self, config: StoreConfig | None = None, *, clock: Callable[[], float] = time.time
    ):
        self._config = config or StoreConfig()
        self._clock = clock
        self._lock = threading.RLock()
        self._tenants: dict[str, _Tenant] = {}
        self._tombstones: dict[str, int] = {}  # deleted store id -> its last revision
        self._tokens = TokenCodec(uuid.uuid4().hex, os.urandom(32))
        self._closed = False

    @property
    def config(self) -> StoreConfig:
        return self._config

    @property
    def tokens(self) -> TokenCodec:
        return self._tokens

    def _tenant(self, store_id: str) -> _Tenant:
        if self._closed:
            raise RuntimeError("the store is closed")
        t = self._tenants.get(store_id)
        if t is None:
            raise checks.store_not_found(store_id)
        return t

    def _now_us(self) -> int:
        return now_micros(self._clock())

    # -- tenants ----------------------------------------------------------------------------------

    def create_store(self, store_id: str) -> None:
        checks.check_store_id(store_id)
        with self._lock:
            if self._closed:
                raise RuntimeError("the store is closed")
            if store_id in self._tenants:
                raise StoreAlreadyExists(f"store {store_id!r} already exists")
            self._tenants[store_id] = _Tenant(self._tombstones.pop(store_id, 0))

    def delete_store(self, store_id: str) -> None:
        with self._lock:
            t = self._tenant(store_id)
            del self._tenants[store_id]
            self._tombstones[store_id] = t.head

    def list_stores(self) -> list[str]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the store is closed")
            return sorted(self._tenants)

    # -- revisions --------------------------------------------------------------------------------

    def head_revision(self, store_id: str) -> int:
        with self._lock:
            return self._tenant(store_id).head

    def oldest_revision(self, store_id: str) -> int:
        with self._lock:
            return self._tenant(store_id).oldest

    # -- writes -----------------------------------------------------------------------------------

    def _commit(self, t: _Txn, tenant: _Tenant) -> int:
        tenant.log.append(t)
        tenant.head = t.revision
        return t.revision

    def _check_preconditions(
        self, t: _Tenant, preconditions: Sequence[Precondition], now_us: int
    ) -> None:
        reader = _Reader(t, now_us)
        for p in preconditions:
            if reader.exists(p.filter) != p.must_match:
                kind = "MUST_MATCH" if p.must_match else "MUST_NOT_MATCH"
                raise PreconditionFailed(f"precondition {kind} failed for filter {p.filter}")

    def write(
        self,
        store_id: str,
        updates: Sequence[RelationshipUpdate],
        preconditions: Sequence[Precondition] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        rows = checks.prepare_updates(updates, self._config)
        checks.check_preconditions(preconditions, self._config)
        meta = checks.encode_metadata(metadata)
        with self._lock:
            t = self._tenant(store_id)
            now_us = self._now_us()
            self._check_preconditions(t, preconditions, now_us)
            txn = _Txn(t.head + 1, self._clock(), meta)
            # Decide everything first: a failure must leave the tenant untouched.
            adds: list[Row] = []
            dels: list[_Version] = []
            for op, row in rows:
                v = t.live_version(row[:6])
                live = v is not None and is_live(v.row[8], now_us)
                if op is Operation.DELETE:
                    if live:
                        assert v is not None
                        dels.append(v)
                elif op is Operation.CREATE and live:
                    raise AlreadyExists(checks.already_exists_message(str(rel_of(row))))
                elif not (live and v is not None and v.row == row):  # identical TOUCH: no-op
                    adds.append(row)
            for v in dels:
                v.deleted = txn.revision
                txn.deleted.append(v.row)
            for row in adds:
                t.add(row, txn.revision)
                txn.touched.append(row)
            txn.touched.sort()
            txn.deleted.sort()
            return self._commit(txn, t)

    def delete(
        self,
        store_id: str,
        filter: RelationshipFilter,
        *,
        limit: int | None = None,
        allow_partial: bool = False,
        preconditions: Sequence[Precondition] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> DeleteResult:
        checks.check_filter(filter)
        checks.check_limit(limit)
        checks.check_preconditions(preconditions, self._config)
        meta = checks.encode_metadata(metadata)
        with self._lock:
            t = self._tenant(store_id)
            now_us = self._now_us()
            self._check_preconditions(t, preconditions, now_us)
            take = None if limit is None else limit + 1
            rows = list(itertools.islice(t.scan(filter, t.head, now_us, None), take))
            complete = True
            if limit is not None and len(rows) > limit:
                if not allow_partial:
                    raise TooManyRelationshipsForDelete(checks.too_many_message(limit))
                rows, complete = rows[:limit], False
            txn = _Txn(t.head + 1, self._clock(), meta)
            for row in rows:
                v = t.live_version(row[:6])
                assert v is not None
                v.deleted = txn.revision
                txn.deleted.append(row)
            return DeleteResult(self._commit(txn, t), len(rows), complete)

    def import_relationships(
        self, store_id: str, batches: Iterable[Iterable[Relationship]]
    ) -> ImportResult:
        with self._lock:
            t = self._tenant(store_id)
            now_us = self._now_us()
            rows: dict[Key, Row] = {}
            for batch in batches:
                for rel in batch:
                    row = row_of(rel)
                    key: Key = row[:6]
                    v = t.live_version(key)
                    if key in rows or (v is not None and is_live(v.row[8], now_us)):
                        raise AlreadyExists(checks.already_exists_message(str(rel)))
                    rows[key] = row
            txn = _Txn(t.head + 1, self._clock(), None)
            for row in rows.values():
                t.add(row, txn.revision)
            txn.touched = sorted(rows.values())
            return ImportResult(self._commit(txn, t), len(rows))

    # -- reads ------------------------------------------------------------------------------------

    def read(
        self,
        store_id: str,
        filter: RelationshipFilter | None,
        *,
        revision: int,
        limit: int | None = None,
        after: Position | None = None,
    ) -> list[Relationship]:
        if filter is not None:
            checks.check_filter(filter)
        checks.check_limit(limit)
        start = None if after is None else key_of_position(after)
        with self._lock:
            t = self._tenant(store_id)
            checks.check_revision(revision, t.oldest, t.head)
            rows = t.scan(filter, revision, self._now_us(), start)
            return [rel_of(r) for r in itertools.islice(rows, limit)]

    def snapshot(self, store_id: str, revision: int) -> Iterator[Relationship]:
        return iter(self.read(store_id, None, revision=revision))

    def changes(
        self,
        store_id: str,
        after_revision: int,
        *,
        up_to: int | None = None,
        limit: int | None = None,
    ) -> list[ChangeSet]:
        checks.check_limit(limit)
        with self._lock:
            t = self._tenant(store_id)
            checks.check_revision(after_revision, t.oldest, t.head)
            end = t.head if up_to is None else min(up_to, t.head)
            if end <= after_revision:
                return []
            if limit is not None:
                end = min(end, after_revision + limit)
            txns = t.log[after_revision - t.oldest : end - t.oldest]
            return [_change_set(x) for x in txns]

    # -- schema -----------------------------------------------------------------------------------

    def write_schema(self, store_id: str, text: str, *, guard: SchemaGuard | None = None) -> int:
        if not isinstance(text, str):
            raise TypeError("schema text must be a str")
        with self._lock:
            t = self._tenant(store_id)
            if guard is not None:
                guard(_Reader(t, self._now_us()))
            txn = _Txn(t.head + 1, self._clock(), None, schema_changed=True)
            t.schemas.append((txn.revision, text))
            return self._commit(txn, t)

    def read_schema(self, store_id: str, revision: int | None = None) -> SchemaVersion:
        with self._lock:
            t = self._tenant(store_id)
            at = t.head if revision is None else revision
            checks.check_revision(at, t.oldest, t.head)
            for rev, text in reversed(t.schemas):
                if rev <= at:
                    return SchemaVersion(text, rev)
            raise NotFound(f"no schema has been written to store {store_id!r}")

    # -- maintenance ------------------------------------------------------------------------------

    def gc(self, store_id: str, now: float | None = None) -> int:
        with self._lock:
            t = self._tenant(store_id)
            cutoff = (self._clock() if now is None else now) - self._config.gc_window
            horizon = t.oldest
            for txn in t.log:
                if txn.ts <= cutoff:
                    horizon = txn.revision
            if horizon <= t.oldest:
                return t.oldest
            expired_before = now_micros(min(cutoff, self._clock()))
            for key in list(t.keys):
                vs = [v for v in t.versions[key] if v.deleted > horizon]
                last = vs[-1] if vs else None
                if (
                    last is not None
                    and last.deleted == LIVE
                    and last.created <= horizon
                    and not is_live(last.row[8], expired_before)
                ):
                    vs = []  # expired long ago and in no retained changeset: invisible forever
                t.versions[key] = vs
            t.retain_keys([k for k in t.keys if t.versions[k]])
            del t.log[: horizon - t.oldest]
            keep = [s for s in t.schemas if s[0] <= horizon][-1:]
            t.schemas = keep + [s for s in t.schemas if s[0] > horizon]
            t.oldest = horizon
            return horizon

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._tenants.clear()


def _change_set(t: _Txn) -> ChangeSet:
    return ChangeSet(
        t.revision,
        t.ts,
        tuple(rel_of(r) for r in t.touched),
        tuple(rel_of(r) for r in t.deleted),
        t.schema_changed,
        None if t.metadata is None else json.loads(t.metadata),
    )
