"""Call and audit-event ids: unique within a process, across forks, and shaped like before."""

from __future__ import annotations

import os
import re

from server.ids import new_id


def test_ids_are_32_hex_digits_and_never_repeat() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_child_draws_ids_of_its_own() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first ids, back through the pipe
        try:
            os.write(write, " ".join(new_id() for _ in range(3)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        theirs = pipe.read().split()
    os.waitpid(pid, 0)
    ours = [new_id() for _ in range(3)]
    assert len(theirs) == 3 and not set(theirs) & set(ours)
    assert {i[:16] for i in theirs} != {i[:16] for i in ours}  # another prefix, not a gap
