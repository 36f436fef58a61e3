"""Whether anything was committed to a SQLite file since we last looked, without a statement.

A fully consistent query must see every write committed before it began, including writes by
other processes (``rebac serve --workers N`` shares one file). Asking SQLite for the head
revision is one statement per query, and on a busy server every statement lets go of the GIL
and queues to get it back: tens of microseconds per call. But the answer rarely changes.

In WAL mode every connection to the file, in every process, shares the *wal-index* (the
``-shm`` file next to the database, mapped into memory). Its header is documented as part of
the file format (https://www.sqlite.org/walformat.html, "the WAL-index header"): a writer
updates it at every commit (``iChange`` counts transactions; ``mxFrame``, salts and the
header checksum move with it), writing copy 2 then copy 1, and readers trust it only when the
two copies agree. :class:`WalIndexHeader` reads the same 96 bytes from its own read-only
mapping, a memory copy that takes no lock and no system call.

How the store uses it (see ``SQLiteStore.head_revision``): read the header, *then* run the
statement, and remember the header with the answer. When a later header is byte for byte the
same, nothing was committed since the first read, so the remembered answer is still the head.
A header that cannot be read (no file yet, copies that disagree mid-update, not initialised)
is ``None`` and the statement runs, so the worst case is the old cost, never a stale answer.
A checkpoint also rewrites the header without a commit: that only costs one statement.
"""

from __future__ import annotations

import mmap
import os

#: Two copies of the 48-byte header (the checkpoint information after them is not needed).
HEADER_BYTES = 96
_COPY = HEADER_BYTES // 2
#: ``isInit``: the header was written by a connection (zero while the index is being rebuilt).
_IS_INIT = 12


class WalIndexHeader:
    """The wal-index header of the SQLite database at ``path``, mapped read-only on first use.

    Map only while the store keeps a connection open: SQLite truncates and rebuilds the file
    when the first connection opens it, never while another has it open. ``close`` unmaps.
    """

    def __init__(self, path: str):
        self._path = path + "-shm"
        self._map: mmap.mmap | None = None
        self._closed = False

    def marker(self) -> bytes | None:
        """The current header, or None when it cannot be trusted right now."""
        view = self._map
        if view is None:
            view = self._open()
            if view is None:
                return None
        try:
            header = view[:HEADER_BYTES]
        except ValueError:  # closed by another thread: the store is closing
            return None
        first = header[:_COPY]
        if not first[_IS_INIT] or first != header[_COPY:]:
            return None  # not initialised, or a writer is between the two copies
        return first

    def _open(self) -> mmap.mmap | None:
        if self._closed:
            return None
        try:
            fd = os.open(self._path, os.O_RDONLY)
        except OSError:
            return None  # no wal-index yet: the store falls back to the statement
        try:
            if os.fstat(fd).st_size < HEADER_BYTES:
                return None
            self._map = mmap.mmap(fd, HEADER_BYTES, mmap.MAP_SHARED, mmap.PROT_READ)
        except (OSError, ValueError):
            return None
        finally:
            os.close(fd)  # the mapping keeps the file itself
        return self._map

    def close(self) -> None:
        self._closed = True
        view, self._map = self._map, None
        if view is not None:
            view.close()
