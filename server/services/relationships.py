"""RelationshipService: write, delete, and the streaming read, import and export.

Reads and exports are served by the store directly at one revision (MVCC), in key order,
page by page, so a long listing holds no lock and resumes exactly from a cursor.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from rebac.api import convert as cv
from rebac.api.v1 import relationship_service_pb2 as pb
from rebac.api.v1 import relationship_service_pb2_grpc as pb_grpc
from rebac.engine.engine import require_filter
from rebac.errors import TooManyPreconditions, TooManyUpdates, UpdatesOnSameRelationship
from rebac.model import Relationship, RelationshipFilter, RelationshipUpdate
from rebac.revision import Position
from rebac.store import Store
from server.calls import Budget
from server.errors import InvalidField
from server.services.base import Deps, Query

#: Relationships fetched from the store per round trip of a Read stream, and sent per message.
READ_PAGE = 500


class RelationshipServicer(pb_grpc.RelationshipServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps

    def _check_write_limits(self, updates: int, preconditions: int) -> None:
        s = self.deps.settings
        if updates > s.max_updates_per_write:
            raise TooManyUpdates(
                f"updates: {updates} in one write, more than the maximum of "
                f"{s.max_updates_per_write}"
            )
        if preconditions > s.max_preconditions_per_write:
            raise TooManyPreconditions(
                f"optional_preconditions: {preconditions} in one write, more than the maximum "
                f"of {s.max_preconditions_per_write}"
            )

    def Write(self, request: pb.WriteRequest, context: grpc.ServicerContext) -> pb.WriteResponse:
        self._check_write_limits(len(request.updates), len(request.optional_preconditions))
        updates = [cv.update_in(u, f"updates[{i}]") for i, u in enumerate(request.updates)]
        _refuse_repeats(updates)
        preconditions = [
            cv.precondition_in(p, f"optional_preconditions[{i}]")
            for i, p in enumerate(request.optional_preconditions)
        ]
        metadata = cv.context_in(
            request.optional_transaction_metadata,
            request.HasField("optional_transaction_metadata"),
        )
        engine = self.deps.datastore.engine(cv.store_id_in(request.store_id))
        revision = engine.write(updates, preconditions, metadata)
        return pb.WriteResponse(written_at=cv.token_out(engine.token_for(revision)))

    def Delete(self, request: pb.DeleteRequest, context: grpc.ServicerContext) -> pb.DeleteResponse:
        self._check_write_limits(0, len(request.optional_preconditions))
        filter = cv.filter_in(request.filter, "filter")
        preconditions = [
            cv.precondition_in(p, f"optional_preconditions[{i}]")
            for i, p in enumerate(request.optional_preconditions)
        ]
        limit = cv.limit_in(
            request.optional_limit, "optional_limit", self.deps.settings.max_page_size
        )
        metadata = cv.context_in(
            request.optional_transaction_metadata,
            request.HasField("optional_transaction_metadata"),
        )
        engine = self.deps.datastore.engine(cv.store_id_in(request.store_id))
        result = engine.delete_relationships(
            filter,
            limit=limit,
            allow_partial=request.optional_allow_partial_deletions,
            preconditions=preconditions,
            metadata=metadata,
        )
        progress = (
            pb.DeleteResponse.DELETION_PROGRESS_COMPLETE
            if result.complete
            else pb.DeleteResponse.DELETION_PROGRESS_PARTIAL
        )
        return pb.DeleteResponse(
            deleted_at=cv.token_out(engine.token_for(result.revision)),
            deletion_progress=progress,
            relationships_deleted_count=result.deleted,
        )

    def Read(
        self, request: pb.ReadRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ReadResponse]:
        if not request.HasField("filter"):
            raise InvalidField("filter", None, "required")
        filter = cv.filter_in(request.filter, "filter")
        require_filter(filter)
        limit = cv.limit_in(
            request.optional_limit, "optional_limit", self.deps.settings.max_page_size
        )
        consistency = cv.consistency_in(request.consistency, request.HasField("consistency"))
        cursor = request.optional_cursor.token if request.HasField("optional_cursor") else None
        engine = self.deps.datastore.engine(cv.store_id_in(request.store_id))
        query = Query(engine, "Read", filter)
        with self.deps.control.stream(context) as budget:
            revision, position = query.revision(consistency, cursor)
            token = cv.token_out(engine.token_for(revision))
            page_size = READ_PAGE if limit is None else min(READ_PAGE, limit)
            pages = _pages(
                engine.store, engine.store_id, filter, revision, position, page_size, budget
            )
            cursor_after = query.cursors(revision)  # one per relationship: the MAC prefix once
            sent = 0
            for page in pages:  # one message per page fetched from the store
                if limit is not None:
                    page = page[: limit - sent]
                message = pb.ReadResponse(read_at=token)
                results = message.results
                for rel in page:
                    result = results.add()
                    cv.relationship_into(result.relationship, rel)
                    result.after_result_cursor.token = cursor_after(rel.key)
                sent += len(page)
                yield message
                if limit is not None and sent >= limit:
                    return

    def Import(
        self, request_iterator: Iterator[pb.ImportRequest], context: grpc.ServicerContext
    ) -> pb.ImportResponse:
        budget = self.deps.control.budget(context)
        requests = iter(request_iterator)
        first = next(requests, None)
        if first is None:
            raise InvalidField("store_id", "", "required (the stream carried no message)")
        store_id = cv.store_id_in(first.store_id)
        engine = self.deps.datastore.engine(store_id)

        def batches() -> Iterator[list[Relationship]]:
            for n, message in enumerate(_chain(first, requests)):
                budget.check()
                if message.store_id not in ("", store_id):
                    raise InvalidField(
                        f"messages[{n}].store_id", message.store_id, f"differs from {store_id!r}"
                    )
                yield [
                    cv.relationship_in(r, f"messages[{n}].relationships[{i}]")
                    for i, r in enumerate(message.relationships)
                ]

        result = engine.import_relationships(batches())
        return pb.ImportResponse(
            num_loaded=result.loaded, written_at=cv.token_out(engine.token_for(result.revision))
        )

    def Export(
        self, request: pb.ExportRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ExportResponse]:
        filter: RelationshipFilter | None = None
        if request.HasField("optional_filter"):
            filter = cv.filter_in(request.optional_filter, "optional_filter")
            require_filter(filter)
        s = self.deps.settings
        page_size = cv.limit_in(request.optional_limit, "optional_limit", s.max_export_page_size)
        page_size = page_size or min(1000, s.max_export_page_size)
        consistency = cv.consistency_in(request.consistency, request.HasField("consistency"))
        cursor = request.optional_cursor.token if request.HasField("optional_cursor") else None
        engine = self.deps.datastore.engine(cv.store_id_in(request.store_id))
        query = Query(engine, "Export", filter)
        with self.deps.control.stream(context) as budget:
            revision, position = query.revision(consistency, cursor)
            token = cv.token_out(engine.token_for(revision))
            after = position or None
            while True:
                budget.check()
                page = engine.store.read(
                    engine.store_id, filter, revision=revision, limit=page_size, after=after
                )
                if not page:
                    return
                after = page[-1].key
                yield pb.ExportResponse(
                    exported_at=token,
                    relationships=[cv.relationship_out(r) for r in page],
                    after_result_cursor=cv.cursor_out(query.cursor(revision, after)),
                )
                if len(page) < page_size:
                    return


def _refuse_repeats(updates: list[RelationshipUpdate]) -> None:
    """The store's rule, checked before the engine so the reason is the specific one.

    (``Engine.write`` raises a plain InvalidRequest for this; see the server issue's notes.)
    """
    seen: set[tuple[str, str, str, str, str, str | None]] = set()
    for i, u in enumerate(updates):
        key = u.relationship.key
        if key in seen:
            raise UpdatesOnSameRelationship(
                f"updates[{i}]: relationship '{u.relationship}' is updated more than once "
                "in one write"
            )
        seen.add(key)


def _chain(first: pb.ImportRequest, rest: Iterator[pb.ImportRequest]) -> Iterator[pb.ImportRequest]:
    yield first
    yield from rest


def _pages(
    store: Store,
    store_id: str,
    filter: RelationshipFilter,
    revision: int,
    position: Position,
    page_size: int,
    budget: Budget,
) -> Iterator[list[Relationship]]:
    """The non-empty pages of the relationships matching after ``position`` at ``revision``."""
    after = position or None
    while True:
        budget.check()
        page = store.read(store_id, filter, revision=revision, limit=page_size, after=after)
        if page:
            yield page
        if len(page) < page_size:
            return
        after = page[-1].key
