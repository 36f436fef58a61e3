"""Many stores (tenants) over one :class:`~rebac.store.Store`, each with its own engine.

The server holds one :class:`Datastore`; every request names a store id and gets that store's
:class:`~rebac.engine.Engine` (created on first use, with its in-memory index built from the
store). A store that does not exist and one the caller may not see are indistinguishable: both
raise :class:`~rebac.errors.StoreNotFound` with the same message.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from rebac.engine import Engine
from rebac.engine.engine import DEFAULT_MAX_DEPTH
from rebac.errors import StoreNotFound
from rebac.store import Store, open_store


class Datastore:
    def __init__(
        self,
        store: Store,
        *,
        max_depth: int = DEFAULT_MAX_DEPTH,
        quantum: float = 0.1,
        clock: Callable[[], float] = time.time,
    ):
        self.store = store
        self.max_depth = max_depth
        self.quantum = quantum
        self.clock = clock
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls, spec: str, *, max_depth: int = DEFAULT_MAX_DEPTH, quantum: float = 0.1
    ) -> Datastore:
        """``memory:`` or ``sqlite:PATH`` (see :func:`rebac.store.open_store`)."""
        return cls(open_store(spec), max_depth=max_depth, quantum=quantum)

    def create_store(self, store_id: str) -> None:
        self.store.create_store(store_id)

    def delete_store(self, store_id: str) -> None:
        with self._lock:
            self.store.delete_store(store_id)
            self._engines.pop(store_id, None)

    def list_stores(self) -> list[str]:
        return self.store.list_stores()

    def engine(self, store_id: str) -> Engine:
        """The engine of ``store_id``; StoreNotFound if there is no such store."""
        engine = self._engines.get(store_id)
        if engine is not None:
            return engine
        with self._lock:
            engine = self._engines.get(store_id)
            if engine is None:
                self.store.head_revision(store_id)  # raises StoreNotFound
                engine = Engine(
                    store=self.store,
                    store_id=store_id,
                    max_depth=self.max_depth,
                    quantum=self.quantum,
                    clock=self.clock,
                )
                self._engines[store_id] = engine
            return engine

    def gc(self, now: float | None = None) -> None:
        """Forget history older than the GC window in every store (see Store.gc)."""
        for store_id in self.store.list_stores():
            with contextlib.suppress(StoreNotFound):  # deleted meanwhile
                self.store.gc(store_id, now)

    def start_gc(self, interval: float = 600.0) -> threading.Event:
        """Run :meth:`gc` every ``interval`` seconds in a daemon thread until the returned
        event is set (old revisions and long-expired relationships are dropped)."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                try:
                    self.gc()
                except Exception:  # a failed round is retried next interval
                    logging.getLogger(__name__).exception("garbage collection failed")

        threading.Thread(target=loop, name="rebac-gc", daemon=True).start()
        return stop

    def close(self) -> None:
        self.store.close()
