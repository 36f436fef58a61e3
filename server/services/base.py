"""What every servicer needs: the datastore, the limits, per-call budgets; cursor helpers.

Cursors are signed by the datastore's :class:`~rebac.revision.TokenCodec` and bound to the
query they came from (a fingerprint of its parameters) and to a revision: resuming evaluates at
that exact revision, as SpiceDB does, so pages of one listing never mix states.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rebac.datastore import Datastore
from rebac.engine import Engine, Snapshot
from rebac.revision import Consistency, Position, query_fingerprint
from server.calls import CallControl
from server.settings import Settings


@dataclass(frozen=True)
class Deps:
    datastore: Datastore
    settings: Settings
    control: CallControl


def canonical_context(context: Mapping[str, Any] | None) -> str:
    """A context's stable text, for query fingerprints (dict order must not matter)."""
    return json.dumps(context, sort_keys=True, separators=(",", ":"), default=str)


class Query:
    """One paged query of one store: its fingerprint, and cursors to resume it."""

    def __init__(self, engine: Engine, *parts: object):
        self.engine = engine
        self.fingerprint = query_fingerprint(*parts)

    def cursor(self, revision: int, position: Sequence[str | None]) -> str:
        return self.engine.store.tokens.encode_cursor(
            self.engine.store_id, revision, self.fingerprint, position
        )

    def cursors(self, revision: int) -> Callable[[Sequence[str | None]], str]:
        """:meth:`cursor` for the many positions of one response (one per lookup result)."""
        return self.engine.store.tokens.cursors(self.engine.store_id, revision, self.fingerprint)

    def resume(self, cursor: str) -> tuple[int, Position]:
        """``(revision, position)`` of a cursor; InvalidCursor if it is not this query's."""
        return self.engine.store.tokens.decode_cursor(
            cursor, self.engine.store_id, self.fingerprint
        )

    def snapshot(
        self, consistency: Consistency | None, cursor: str | None
    ) -> tuple[Snapshot, Position]:
        """The snapshot to evaluate at: the cursor's revision if resuming, else per consistency."""
        if cursor is None:
            return self.engine.snapshot(consistency), ()
        revision, position = self.resume(cursor)
        pinned = Consistency.at_exact_snapshot(self.engine.token_for(revision))
        return self.engine.snapshot(pinned), position

    def revision(self, consistency: Consistency | None, cursor: str | None) -> tuple[int, Position]:
        """Like :meth:`snapshot` for reads served by the store directly (MVCC at a revision)."""
        if cursor is None:
            return self.engine.snapshot(consistency).revision, ()
        return self.resume(cursor)
