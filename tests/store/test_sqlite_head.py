"""The SQLite head revision, as fully consistent queries ask for it on every call: answered
from the wal-index header when nothing was committed since the last statement, and never
stale, whoever committed (another handle, another process, a plain sqlite3 connection)."""

from __future__ import annotations

import os
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rebac.errors import StoreNotFound
from rebac.store import SQLiteStore
from rebac.store._walindex import HEADER_BYTES, WalIndexHeader
from tests.store.helpers import touch

ROOT = Path(__file__).resolve().parents[2]
STORE = "s"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "head.db", durable=False)
    s.create_store(STORE)
    yield s
    s.close()


def _statements(store: SQLiteStore) -> list[str]:
    """Every statement this thread's connection runs from now on."""
    seen: list[str] = []
    store._conn().set_trace_callback(seen.append)
    return seen


def test_an_unchanged_file_answers_without_a_statement(store: SQLiteStore) -> None:
    head = store.write(STORE, touch("document:d#viewer@user:u"))
    assert store.head_revision(STORE) == head
    seen = _statements(store)
    assert [store.head_revision(STORE) for _ in range(5)] == [head] * 5
    assert seen == []


def test_another_handles_commit_is_seen_at_once(store: SQLiteStore, tmp_path: Path) -> None:
    other = SQLiteStore(tmp_path / "head.db", durable=False)
    try:
        for i in range(20):
            assert store.head_revision(STORE) == i  # remembered between commits
            assert other.write(STORE, touch(f"document:d{i}#viewer@user:u")) == i + 1
            assert store.head_revision(STORE) == i + 1
    finally:
        other.close()


def test_a_plain_sqlite_connection_changing_the_head_is_seen(
    store: SQLiteStore, tmp_path: Path
) -> None:
    assert store.head_revision(STORE) == 0
    outside = sqlite3.connect(tmp_path / "head.db", isolation_level=None)
    try:
        outside.execute("UPDATE stores SET head = 41 WHERE store_id = ?", (STORE,))
        assert store.head_revision(STORE) == 41
    finally:
        outside.close()


def test_another_process_commit_is_seen(store: SQLiteStore, tmp_path: Path) -> None:
    assert store.head_revision(STORE) == 0
    script = (
        "import sys\n"
        "from rebac.store import SQLiteStore\n"
        "from tests.store.helpers import touch\n"
        "s = SQLiteStore(sys.argv[1], durable=False)\n"
        "print(s.write('s', touch('document:p#viewer@user:u')))\n"
        "s.close()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "head.db")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    assert int(out.stdout) == 1
    assert store.head_revision(STORE) == 1


def test_a_checkpoint_between_commits_keeps_the_answer_right(store: SQLiteStore) -> None:
    conn = store._conn()
    for i in range(1, 6):
        store.write(STORE, touch(f"document:d{i}#viewer@user:u"))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert store.head_revision(STORE) == i


def test_a_deleted_store_is_not_found_though_its_head_was_remembered(
    store: SQLiteStore,
) -> None:
    assert store.head_revision(STORE) == 0
    store.delete_store(STORE)
    with pytest.raises(StoreNotFound):
        store.head_revision(STORE)


def test_without_a_readable_header_every_call_asks_sqlite(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WalIndexHeader, "marker", lambda self: None)
    seen = _statements(store)
    assert store.head_revision(STORE) == 0
    assert store.head_revision(STORE) == 0
    assert len(seen) == 2


def _header_file(path: Path, first: bytes, second: bytes) -> Path:
    path.write_bytes(first + second + bytes(40))
    return path


def _copy(change: int, *, init: int = 1) -> bytes:
    # iVersion, unused, iChange, isInit, bigEndCksum, szPage, then the rest zeroed
    head = struct.pack("=IIIBBH", 3007000, 0, change, init, 0, 4096)
    return head + bytes(HEADER_BYTES // 2 - len(head))


@pytest.mark.parametrize(
    ("first", "second", "trusted"),
    [
        (_copy(7), _copy(7), True),
        (_copy(7), _copy(8), False),  # a writer between the two copies
        (_copy(7, init=0), _copy(7, init=0), False),  # being rebuilt
    ],
    ids=["copies-agree", "copies-differ", "not-initialised"],
)
def test_the_header_is_trusted_only_when_both_copies_agree(
    tmp_path: Path, first: bytes, second: bytes, trusted: bool
) -> None:
    _header_file(tmp_path / "x.db-shm", first, second)
    header = WalIndexHeader(str(tmp_path / "x.db"))
    try:
        assert header.marker() == (first if trusted else None)
    finally:
        header.close()


def test_no_wal_index_file_or_a_short_one_means_no_marker(tmp_path: Path) -> None:
    missing = WalIndexHeader(str(tmp_path / "none.db"))
    assert missing.marker() is None
    (tmp_path / "short.db-shm").write_bytes(b"\0" * 10)
    short = WalIndexHeader(str(tmp_path / "short.db"))
    assert short.marker() is None
    missing.close()
    short.close()


def test_a_closed_header_gives_no_marker(tmp_path: Path) -> None:
    _header_file(tmp_path / "x.db-shm", _copy(1), _copy(1))
    header = WalIndexHeader(str(tmp_path / "x.db"))
    assert header.marker() is not None
    header.close()
    assert header.marker() is None
