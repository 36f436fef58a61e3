"""Paged reads with opaque cursors: ReadRelationships and bulk export on top of ``Store.read``.

A cursor pins the snapshot: every page of one listing is read at the revision of the first
page, so rows written meanwhile neither appear nor disappear half-way. It is bound to the store
and to the query (API name and filter, not the page size); handing it to another query raises
:class:`~rebac.errors.InvalidCursor` rather than silently starting over.
"""

from __future__ import annotations

from dataclasses import dataclass

from rebac.model import Relationship, RelationshipFilter
from rebac.revision import query_fingerprint
from rebac.store._checks import check_limit
from rebac.store.base import Store


@dataclass(frozen=True, slots=True)
class Page:
    relationships: tuple[Relationship, ...]
    revision: int  # the snapshot every page of this listing is read at
    cursor: str | None  # None: nothing follows


def read_page(
    store: Store,
    store_id: str,
    filter: RelationshipFilter | None,
    *,
    limit: int,
    revision: int | None = None,
    cursor: str | None = None,
    api: str = "read",
) -> Page:
    """One page of ``filter`` (None: everything), at ``revision`` or the cursor's snapshot.

    ``api`` names the calling API so that, e.g., an export cursor cannot resume a read.
    """
    check_limit(limit)
    query = query_fingerprint(api, filter)
    after = None
    if cursor is not None:
        revision, after = store.tokens.decode_cursor(cursor, store_id, query)
    elif revision is None:
        revision = store.head_revision(store_id)
    rels = store.read(store_id, filter, revision=revision, limit=limit, after=after)
    next_cursor = None
    if len(rels) == limit:
        next_cursor = store.tokens.encode_cursor(store_id, revision, query, rels[-1].key)
    return Page(tuple(rels), revision, next_cursor)
