"""SQLite durability: a writer killed with SIGKILL at random moments loses nothing it acknowledged.

Each round starts a writer process, lets it acknowledge some batches, kills it with SIGKILL at
a random moment (mid-transaction more often than not), reopens the file and checks that every
acknowledged batch is there at its revision, that no batch is half-applied, and that the
revision counter never went back.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from rebac.model import RelationshipFilter
from rebac.store import SQLiteStore
from tests.store.kill_writer import BATCH, STORE

ROUNDS = 5
WRITER = Path(__file__).with_name("kill_writer.py")
ROOT = Path(__file__).resolve().parents[2]


def _run_and_kill(path: Path, iteration: int, rng: random.Random) -> list[tuple[str, int]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(path), str(iteration)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    acked: list[tuple[str, int]] = []
    first = threading.Event()

    def collect() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.endswith("\n"):
                break  # cut short by the kill: an acknowledgment is a whole line
            name, rev = line.split()
            acked.append((name, int(rev)))
            first.set()

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    try:
        if not first.wait(15):
            raise AssertionError(
                f"writer acknowledged nothing: {proc.stderr.read() if proc.stderr else ''}"
            )
        time.sleep(rng.uniform(0.02, 0.4))
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(10)
    reader.join(10)
    assert proc.returncode == -signal.SIGKILL
    return acked


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "kill.db"
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    all_acked: list[tuple[str, int]] = []
    last_head = 0
    deadline = time.monotonic() + 20
    for iteration in range(ROUNDS):
        if time.monotonic() > deadline and iteration >= 2:
            break
        acked = _run_and_kill(path, iteration, rng)
        assert acked, f"round {iteration} (seed {seed}) acknowledged nothing"
        all_acked += acked
        print(f"round {iteration}: {len(acked)} acknowledged, last revision {acked[-1][1]}")
        store = SQLiteStore(path)
        try:
            head = store.head_revision(STORE)
            assert head >= last_head, f"revision went back: {last_head} -> {head} (seed {seed})"
            assert head >= max(rev for _, rev in acked)
            last_head = head
            rows = store.read(STORE, RelationshipFilter("document"), revision=head)
            per_batch = Counter(r.resource.id.rsplit("_", 1)[0] for r in rows)
            half = {name: n for name, n in per_batch.items() if n != BATCH}
            assert not half, f"half-applied batches {half} (seed {seed})"
            for name, _ in all_acked:
                assert per_batch[name] == BATCH, f"acknowledged batch {name} lost (seed {seed})"
            changes = {c.revision: c for c in store.changes(STORE, 0)}
            for name, rev in acked:
                c = changes[rev]
                assert {r.resource.id.rsplit("_", 1)[0] for r in c.touched} == {name}
                assert len(c.touched) == BATCH
                assert c.metadata in (None, {"batch": name})
            assert sorted(changes) == list(range(1, head + 1))
        finally:
            store.close()


def test_two_handles_on_one_file_share_one_revision_sequence(tmp_path: Path) -> None:
    """Two SQLiteStore objects (as two processes would have) never issue a revision twice."""
    from tests.store.helpers import touch

    a = SQLiteStore(tmp_path / "shared.db", durable=False)
    b = SQLiteStore(tmp_path / "shared.db", durable=False)
    try:
        a.create_store(STORE)
        revs = []
        for i in range(10):
            handle = a if i % 2 else b
            revs.append(handle.write(STORE, touch(f"document:d{i}#viewer@user:u")))
        assert revs == list(range(1, 11))
        assert a.tokens.datastore_id == b.tokens.datastore_id
        assert len(b.read(STORE, None, revision=10)) == 10
    finally:
        a.close()
        b.close()


def test_the_file_is_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "w.db")
    try:
        conn = store._conn()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        store.close()
