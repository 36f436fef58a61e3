"""The SQLite file layout: tables, indexes, pragmas and the datastore identity.

Why this shape:

* ``relationships`` is an MVCC table: a row is visible at revision ``r`` when
  ``created_rev <= r < deleted_rev``; a live row has ``deleted_rev = LIVE``. Updates never
  overwrite a row, they close it and insert a new one, so any revision in the GC window can be
  read and the changelog is the rows themselves (created or deleted at a revision).
* ``rel_key`` (the key plus ``deleted_rev``) is unique: at most one *live* row per relationship,
  enforced by SQLite itself, which makes bulk import's "fails if any row exists" a plain
  INSERT. It also serves filtered reads in the order they must come out in.
* ``rel_subject`` serves subject filters ("everything of user:alice"); ``rel_created`` and the
  partial ``rel_deleted`` (only closed rows) serve the changelog and GC; the partial
  ``rel_expires`` lets GC find expired rows without a scan.
* Store ids map to a small integer (``stores.num``) that is part of every key: rows stay short,
  and a store deleted and created again keeps its number and its revision counter.
"""

from __future__ import annotations

import os
import sqlite3
import uuid

from rebac.store._rows import LIVE

FORMAT_VERSION = "1"

DDL = f"""
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stores (
    num      INTEGER PRIMARY KEY AUTOINCREMENT,
    store_id TEXT NOT NULL UNIQUE,    -- case-sensitive (BINARY collation)
    created  REAL NOT NULL,
    deleted  REAL,                    -- NULL while the store exists
    head     INTEGER NOT NULL,        -- latest revision, kept when deleted
    oldest   INTEGER NOT NULL         -- oldest readable revision (GC horizon)
);
CREATE TABLE IF NOT EXISTS transactions (
    store          INTEGER NOT NULL,
    revision       INTEGER NOT NULL,
    ts             REAL NOT NULL,
    metadata       TEXT,
    schema_changed INTEGER NOT NULL,
    PRIMARY KEY (store, revision)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS schemas (
    store    INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    text     TEXT NOT NULL,
    PRIMARY KEY (store, revision)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS relationships (
    store        INTEGER NOT NULL,
    rtype        TEXT NOT NULL,
    rid          TEXT NOT NULL,
    rel          TEXT NOT NULL,
    stype        TEXT NOT NULL,
    sid          TEXT NOT NULL,
    srel         TEXT NOT NULL,       -- '' for no subject relation
    caveat       TEXT,
    context_json TEXT,
    expires_at   INTEGER,             -- microseconds since the epoch
    created_rev  INTEGER NOT NULL,
    deleted_rev  INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS rel_key
    ON relationships (store, rtype, rid, rel, stype, sid, srel, deleted_rev);
CREATE INDEX IF NOT EXISTS rel_subject ON relationships (store, stype, sid, srel);
CREATE INDEX IF NOT EXISTS rel_created ON relationships (store, created_rev);
CREATE INDEX IF NOT EXISTS rel_deleted ON relationships (store, deleted_rev)
    WHERE deleted_rev < {LIVE};
CREATE INDEX IF NOT EXISTS rel_expires ON relationships (store, expires_at)
    WHERE expires_at IS NOT NULL;
"""


def connect(path: str, *, durable: bool) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with our pragmas."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    # FULL: the WAL is fsynced at every commit, so an acknowledged write survives power loss.
    conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'OFF'}")
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA cache_size = -65536")  # 64 MiB: index inserts on large tables
    conn.execute("PRAGMA temp_store = MEMORY")
    return conn


def initialise(conn: sqlite3.Connection) -> tuple[str, bytes]:
    """Create or check the layout; returns the datastore's (id, token secret)."""
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise RuntimeError(f"could not switch the SQLite file to WAL mode (got {mode!r})")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in DDL.split(";"):
            if statement.strip():
                conn.execute(statement)
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if not meta:
            meta = {
                "format": FORMAT_VERSION,
                "datastore_id": uuid.uuid4().hex,
                "token_key": os.urandom(32).hex(),
            }
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
        elif meta.get("format") != FORMAT_VERSION:
            raise RuntimeError(
                f"unsupported datastore format {meta.get('format')!r} (expected {FORMAT_VERSION})"
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return meta["datastore_id"], bytes.fromhex(meta["token_key"])
