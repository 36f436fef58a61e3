"""SQLite backend: the embedded default. One file, WAL mode, ``synchronous=FULL``.

Concurrency: each thread gets its own connection (WAL lets readers run beside the writer and
each read runs in one transaction, so it sees one consistent snapshot). Writes are serialised
twice: by a process-wide lock, so threads queue in Python instead of spinning on SQLITE_BUSY,
and by ``BEGIN IMMEDIATE``, so that another *process* using the same file cannot interleave.
There is one connection per thread that ever used the store (a bounded set with a thread
pool); :meth:`SQLiteStore.close` closes them all.

A failure anywhere inside a write rolls the whole transaction back, so a batch is applied
completely or not at all; the revision is taken from ``stores.head`` inside that same
transaction, so it can never be issued twice or go back, even across a crash.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
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
from rebac.store._rows import LIVE, Key, Row, is_live, key_of_position, now_micros, rel_of, row_of
from rebac.store._sqlfilter import ORDER_BY, ROW_COLUMNS, after_sql, filter_sql, index_hint
from rebac.store._sqlschema import connect, initialise
from rebac.store._walindex import WalIndexHeader
from rebac.store.base import (
    ChangeSet,
    DeleteResult,
    ImportResult,
    SchemaGuard,
    SchemaVersion,
    StoreConfig,
)

SNAPSHOT_PAGE = 5000

_INSERT = (
    "INSERT INTO relationships (store, rtype, rid, rel, stype, sid, srel, caveat, context_json, "
    "expires_at, created_rev, deleted_rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: A whole batch as one statement: ``?`` 2 is a JSON array of rows (see Row).
_INSERT_JSON = (
    "INSERT INTO relationships (store, rtype, rid, rel, stype, sid, srel, caveat, context_json, "
    "expires_at, created_rev, deleted_rev) SELECT ?1, "
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(9))
    + f", ?3, {LIVE} FROM json_each(?2)"
)
_SELECT_LIVE = (
    "SELECT rowid, caveat, context_json, expires_at FROM relationships WHERE store = ? "
    "AND rtype = ? AND rid = ? AND rel = ? AND stype = ? AND sid = ? AND srel = ? "
    f"AND deleted_rev = {LIVE}"
)
_CLOSE_ROW = "UPDATE relationships SET deleted_rev = ? WHERE rowid = ?"


def _live_rows(
    conn: sqlite3.Connection, num: int, f: RelationshipFilter, now_us: int, limit: int | None
) -> list[Row]:
    """Live, unexpired rows matching ``f`` in key order (the head, inside a transaction)."""
    where, params = filter_sql(f)
    sql = (
        f"SELECT {ROW_COLUMNS} FROM relationships{index_hint(f)} WHERE store = ? "
        f"AND deleted_rev = {LIVE} AND (expires_at IS NULL OR expires_at > ?){where} {ORDER_BY}"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return conn.execute(sql, [num, now_us, *params]).fetchall()


class _Reader:
    """StoreReader over the write transaction's connection (see ``write_schema``)."""

    def __init__(self, conn: sqlite3.Connection, num: int, now_us: int):
        self._conn, self._num, self._now = conn, num, now_us

    def first(self, filter: RelationshipFilter) -> Relationship | None:
        checks.check_filter(filter)
        rows = _live_rows(self._conn, self._num, filter, self._now, 1)
        return rel_of(rows[0]) if rows else None

    def exists(self, filter: RelationshipFilter) -> bool:
        return self.first(filter) is not None


class SQLiteStore:
    """The SQLite datastore. See :class:`rebac.store.base.Store` for the contract.

    ``durable=False`` turns fsync off (tests and benchmarks of the SQL, never production).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        config: StoreConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        durable: bool = True,
    ):
        self._path = os.fspath(path)
        self._config = config or StoreConfig()
        self._clock = clock
        self._durable = durable
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._closed = False
        #: store id -> (wal-index header read before the statement, head it returned)
        self._heads: dict[str, tuple[bytes, int]] = {}
        datastore_id, key = initialise(self._conn())
        self._wal_index = WalIndexHeader(self._path)
        self._tokens = TokenCodec(datastore_id, key)

    @property
    def config(self) -> StoreConfig:
        return self._config

    @property
    def tokens(self) -> TokenCodec:
        return self._tokens

    @property
    def path(self) -> str:
        return self._path

    # -- connections and transactions -------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("the store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._path, durable=self._durable)
            with self._conns_lock:
                self._conns.append(conn)
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN")  # deferred: one snapshot for every statement of this read
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def _store(self, conn: sqlite3.Connection, store_id: str) -> tuple[int, int, int]:
        """``(num, head, oldest)`` of an existing store; StoreNotFound otherwise."""
        rows = conn.execute(
            "SELECT num, head, oldest FROM stores WHERE store_id = ? AND deleted IS NULL",
            (store_id,),
        ).fetchall()  # (all: the statement finishes, so outside BEGIN its read ends here)
        if not rows:
            raise checks.store_not_found(store_id)
        num, head, oldest = rows[0]
        return int(num), int(head), int(oldest)

    def _commit_revision(
        self,
        conn: sqlite3.Connection,
        num: int,
        revision: int,
        metadata: str | None,
        schema_changed: bool = False,
    ) -> int:
        conn.execute(
            "INSERT INTO transactions (store, revision, ts, metadata, schema_changed) "
            "VALUES (?, ?, ?, ?, ?)",
            (num, revision, self._clock(), metadata, int(schema_changed)),
        )
        conn.execute("UPDATE stores SET head = ? WHERE num = ?", (revision, num))
        return revision

    def _now_us(self) -> int:
        return now_micros(self._clock())

    # -- tenants ----------------------------------------------------------------------------------

    def create_store(self, store_id: str) -> None:
        checks.check_store_id(store_id)
        with self._write() as conn:
            row = conn.execute(
                "SELECT deleted FROM stores WHERE store_id = ?", (store_id,)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO stores (store_id, created, head, oldest) VALUES (?, ?, 0, 0)",
                    (store_id, self._clock()),
                )
            elif row[0] is None:
                raise StoreAlreadyExists(f"store {store_id!r} already exists")
            else:  # created again: same number, the revision count goes on
                conn.execute(
                    "UPDATE stores SET deleted = NULL, created = ?, oldest = head "
                    "WHERE store_id = ?",
                    (self._clock(), store_id),
                )

    def delete_store(self, store_id: str) -> None:
        with self._write() as conn:
            num, _, _ = self._store(conn, store_id)
            for table in ("relationships", "transactions", "schemas"):
                conn.execute(f"DELETE FROM {table} WHERE store = ?", (num,))
            conn.execute("UPDATE stores SET deleted = ? WHERE num = ?", (self._clock(), num))

    def list_stores(self) -> list[str]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT store_id FROM stores WHERE deleted IS NULL ORDER BY store_id"
            ).fetchall()
        return [r[0] for r in rows]

    # -- revisions --------------------------------------------------------------------------------

    def head_revision(self, store_id: str) -> int:
        # A fully consistent query asks this on every call. Nothing committed since the last
        # statement (the wal-index header is unchanged, see _walindex) means the same answer;
        # otherwise one statement, its own read transaction (no BEGIN and COMMIT around it).
        marker = self._wal_index.marker()
        if marker is not None:
            known = self._heads.get(store_id)
            if known is not None and known[0] == marker:
                return known[1]
        head = self._store(self._conn(), store_id)[1]
        if marker is not None:
            self._heads[store_id] = (marker, head)
        return head

    def oldest_revision(self, store_id: str) -> int:
        return self._store(self._conn(), store_id)[2]

    # -- writes -----------------------------------------------------------------------------------

    def _check_preconditions(
        self, conn: sqlite3.Connection, num: int, preconditions: Sequence[Precondition], now: int
    ) -> None:
        for p in preconditions:
            if bool(_live_rows(conn, num, p.filter, now, 1)) != p.must_match:
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
        with self._write() as conn:
            num, head, _ = self._store(conn, store_id)
            now_us = self._now_us()
            self._check_preconditions(conn, num, preconditions, now_us)
            rev = head + 1
            closes: list[tuple[int, int]] = []
            inserts: list[tuple[object, ...]] = []
            for op, row in rows:
                cur = conn.execute(_SELECT_LIVE, (num, *row[:6])).fetchone()
                live = cur is not None and is_live(cur[3], now_us)
                if op is Operation.DELETE:
                    if live:
                        closes.append((rev, cur[0]))
                    continue
                if op is Operation.CREATE and live:
                    raise AlreadyExists(checks.already_exists_message(str(rel_of(row))))
                if live and (cur[1], cur[2], cur[3]) == row[6:]:
                    continue  # identical TOUCH: nothing changes
                if cur is not None:
                    closes.append((rev, cur[0]))  # replaced, or expired and created anew
                inserts.append((num, *row, rev, LIVE))
            conn.executemany(_CLOSE_ROW, closes)
            conn.executemany(_INSERT, inserts)
            return self._commit_revision(conn, num, rev, meta)

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
        with self._write() as conn:
            num, head, _ = self._store(conn, store_id)
            now_us = self._now_us()
            self._check_preconditions(conn, num, preconditions, now_us)
            rows = _live_rows(conn, num, filter, now_us, None if limit is None else limit + 1)
            complete = True
            if limit is not None and len(rows) > limit:
                if not allow_partial:
                    raise TooManyRelationshipsForDelete(checks.too_many_message(limit))
                rows, complete = rows[:limit], False
            rev = head + 1
            conn.executemany(
                f"UPDATE relationships SET deleted_rev = ? WHERE store = ? AND rtype = ? "
                f"AND rid = ? AND rel = ? AND stype = ? AND sid = ? AND srel = ? "
                f"AND deleted_rev = {LIVE}",
                [(rev, num, *row[:6]) for row in rows],
            )
            self._commit_revision(conn, num, rev, meta)
            return DeleteResult(rev, len(rows), complete)

    def import_relationships(
        self, store_id: str, batches: Iterable[Iterable[Relationship]]
    ) -> ImportResult:
        """One transaction; each batch is one INSERT, run on a writer thread while this thread
        takes the next batch from ``batches``.

        Why a thread: taking a batch is Python work (a caller parses and validates as it
        streams), while an INSERT is SQLite's own work, done without the GIL. The batch goes
        to SQLite as one JSON text that ``json_each`` unpacks, so the whole batch is a single
        step outside the GIL; ``executemany`` would take the GIL back for every row, and wait
        for it behind this thread each time. At most one batch is in flight, so the connection
        is never used by both threads at once.

        The unique key index detects existing rows. Only a batch that hits one is redone row by
        row, to replace rows that have merely expired and to name the relationship that really
        exists.
        """
        with self._write() as conn:
            num, head, _ = self._store(conn, store_id)
            rev = head + 1
            now_us = self._now_us()
            count = 0
            with ThreadPoolExecutor(1, thread_name_prefix="rebac-import") as writer:
                pending: Future[None] | None = None
                for batch in batches:
                    rows = [row_of(r) for r in batch]
                    if not rows:
                        continue
                    payload = json.dumps(rows, ensure_ascii=False)
                    if pending is not None:
                        pending.result()
                    pending = writer.submit(
                        self._insert_batch, conn, num, rev, rows, payload, now_us
                    )
                    count += len(rows)
                if pending is not None:
                    pending.result()
                # (on an error, leaving the executor waits for the batch in flight, so the
                # transaction is rolled back only once the connection is free)
            self._commit_revision(conn, num, rev, None)
            return ImportResult(rev, count)

    def _insert_batch(
        self,
        conn: sqlite3.Connection,
        num: int,
        rev: int,
        rows: list[Row],
        payload: str,
        now_us: int,
    ) -> None:
        try:
            conn.execute(_INSERT_JSON, (num, payload, rev))
        except sqlite3.IntegrityError:  # the statement changed nothing (SQLite's ABORT)
            self._import_slowly(conn, num, rev, rows, now_us)

    def _import_slowly(
        self, conn: sqlite3.Connection, num: int, rev: int, rows: list[Row], now_us: int
    ) -> None:
        for row in rows:
            cur = conn.execute(_SELECT_LIVE, (num, *row[:6])).fetchone()
            if cur is not None:
                if is_live(cur[3], now_us):
                    raise AlreadyExists(checks.already_exists_message(str(rel_of(row))))
                conn.execute(_CLOSE_ROW, (rev, cur[0]))
            conn.execute(_INSERT, (num, *row, rev, LIVE))

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
        paging = after_sql(filter, start)
        with self._read() as conn:
            num, head, oldest = self._store(conn, store_id)
            checks.check_revision(revision, oldest, head)
            if paging is None:
                return []
            rows = self._visible(conn, num, filter, revision, paging, limit)
        return [rel_of(r) for r in rows]

    def _visible(
        self,
        conn: sqlite3.Connection,
        num: int,
        f: RelationshipFilter | None,
        revision: int,
        paging: tuple[str, list[object]],
        limit: int | None,
    ) -> list[Row]:
        where, params = filter_sql(f)
        sql = (
            f"SELECT {ROW_COLUMNS} FROM relationships{index_hint(f)} WHERE store = ? "
            f"AND created_rev <= ? AND deleted_rev > ? AND (expires_at IS NULL OR expires_at > ?)"
            f"{where}{paging[0]} {ORDER_BY}"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        args = [num, revision, revision, self._now_us(), *params, *paging[1]]
        return conn.execute(sql, args).fetchall()

    def snapshot(self, store_id: str, revision: int) -> Iterator[Relationship]:
        """Pages of ``SNAPSHOT_PAGE`` rows, each its own short read.

        MVCC makes the pages one consistent snapshot without holding a transaction open
        between yields (which would pin the WAL and break the thread's next transaction);
        if GC overtakes ``revision`` meanwhile, the next page raises RevisionExpired.
        """
        after: Position | None = None
        while True:
            page = self.read(store_id, None, revision=revision, limit=SNAPSHOT_PAGE, after=after)
            yield from page
            if len(page) < SNAPSHOT_PAGE:
                return
            after = page[-1].key

    def changes(
        self,
        store_id: str,
        after_revision: int,
        *,
        up_to: int | None = None,
        limit: int | None = None,
    ) -> list[ChangeSet]:
        checks.check_limit(limit)
        with self._read() as conn:
            num, head, oldest = self._store(conn, store_id)
            checks.check_revision(after_revision, oldest, head)
            end = head if up_to is None else min(up_to, head)
            if limit is not None:
                end = min(end, after_revision + limit)
            if end <= after_revision:
                return []
            span = (num, after_revision, end)
            txns = conn.execute(
                "SELECT revision, ts, metadata, schema_changed FROM transactions "
                "WHERE store = ? AND revision > ? AND revision <= ? ORDER BY revision",
                span,
            ).fetchall()
            created = conn.execute(
                f"SELECT created_rev, {ROW_COLUMNS} FROM relationships WHERE store = ? "
                f"AND created_rev > ? AND created_rev <= ? ORDER BY created_rev, "
                f"rtype, rid, rel, stype, sid, srel",
                span,
            ).fetchall()
            deleted = conn.execute(
                f"SELECT deleted_rev, {ROW_COLUMNS} FROM relationships WHERE store = ? "
                f"AND deleted_rev > ? AND deleted_rev <= ? AND deleted_rev < {LIVE} "
                f"ORDER BY deleted_rev, rtype, rid, rel, stype, sid, srel",
                span,
            ).fetchall()
        touched_at: dict[int, list[Row]] = {}
        for r in created:
            touched_at.setdefault(r[0], []).append(r[1:])
        deleted_at: dict[int, list[Row]] = {}
        for r in deleted:
            deleted_at.setdefault(r[0], []).append(r[1:])
        out = []
        for rev, ts, meta, schema_changed in txns:
            touched = touched_at.get(rev, [])
            replaced: set[Key] = {t[:6] for t in touched}
            gone = [d for d in deleted_at.get(rev, []) if d[:6] not in replaced]
            out.append(
                ChangeSet(
                    rev,
                    ts,
                    tuple(rel_of(t) for t in touched),
                    tuple(rel_of(d) for d in gone),
                    bool(schema_changed),
                    None if meta is None else json.loads(meta),
                )
            )
        return out

    # -- schema -----------------------------------------------------------------------------------

    def write_schema(self, store_id: str, text: str, *, guard: SchemaGuard | None = None) -> int:
        if not isinstance(text, str):
            raise TypeError("schema text must be a str")
        with self._write() as conn:
            num, head, _ = self._store(conn, store_id)
            if guard is not None:
                guard(_Reader(conn, num, self._now_us()))
            rev = head + 1
            conn.execute(
                "INSERT INTO schemas (store, revision, text) VALUES (?, ?, ?)", (num, rev, text)
            )
            return self._commit_revision(conn, num, rev, None, schema_changed=True)

    def read_schema(self, store_id: str, revision: int | None = None) -> SchemaVersion:
        with self._read() as conn:
            num, head, oldest = self._store(conn, store_id)
            at = head if revision is None else revision
            checks.check_revision(at, oldest, head)
            row = conn.execute(
                "SELECT text, revision FROM schemas WHERE store = ? AND revision <= ? "
                "ORDER BY revision DESC LIMIT 1",
                (num, at),
            ).fetchone()
        if row is None:
            raise NotFound(f"no schema has been written to store {store_id!r}")
        return SchemaVersion(row[0], int(row[1]))

    # -- maintenance ------------------------------------------------------------------------------

    def gc(self, store_id: str, now: float | None = None) -> int:
        cutoff = (self._clock() if now is None else now) - self._config.gc_window
        with self._write() as conn:
            num, _, oldest = self._store(conn, store_id)
            found = conn.execute(
                "SELECT max(revision) FROM transactions WHERE store = ? AND ts <= ?",
                (num, cutoff),
            ).fetchone()[0]
            if found is None or found <= oldest:
                return oldest
            horizon = int(found)
            conn.execute(
                f"DELETE FROM relationships WHERE store = ? AND deleted_rev <= ? "
                f"AND deleted_rev < {LIVE}",
                (num, horizon),
            )
            # Expired long ago and in no retained changeset: invisible to every future read.
            conn.execute(
                f"DELETE FROM relationships WHERE store = ? AND expires_at IS NOT NULL "
                f"AND expires_at <= ? AND deleted_rev = {LIVE} AND created_rev <= ?",
                (num, now_micros(min(cutoff, self._clock())), horizon),
            )
            conn.execute(
                "DELETE FROM transactions WHERE store = ? AND revision <= ?", (num, horizon)
            )
            conn.execute(
                "DELETE FROM schemas WHERE store = ? AND revision < (SELECT max(revision) "
                "FROM schemas WHERE store = ? AND revision <= ?)",
                (num, num, horizon),
            )
            conn.execute("UPDATE stores SET oldest = ? WHERE num = ?", (horizon, num))
            return horizon

    def close(self) -> None:
        with self._conns_lock:
            self._closed = True
            conns, self._conns = self._conns, []
        self._wal_index.close()
        for conn in conns:
            conn.close()
