"""PermissionService: check, bulk check, expand, and the two paged lookups.

Every query runs at one revision. Work that can be large is done under the engine's lock in
bounded steps (bulk-check items, lookup chunks), checking the call's budget between steps, so
an expired deadline or a cancelled call stops evaluation; results are then streamed without
the lock, so a slow reader never holds up writers.

Every query may carry request-scoped (contextual) relationships, evaluated as if written and
never stored. They are checked against the schema here, before evaluation, so that a bad one is
refused as INVALID_ARGUMENT naming ``contextual_relationships[i]`` -- for CheckBulk that makes it
an error of the request, not of every item. The engine checks them again against the schema of
the snapshot it evaluates at (the same one unless the request is pinned to an older revision).

Check answers without caveat information are the same few messages for every call at one
revision: :class:`Answers` builds them once per store and revision (the consistency token is an
HMAC, not free) and hands out the same objects. They are shared, so nothing may change a
response after the servicer returned it (nothing does: gRPC serializes it, the audit reads it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import grpc

from rebac.api import convert as cv
from rebac.api.v1 import permission_service_pb2 as pb
from rebac.api.v1 import permission_service_pb2_grpc as pb_grpc
from rebac.engine import Snapshot
from rebac.errors import DeadlineExceeded, RebacError
from rebac.model import CheckResult, LookupResult, Relationship
from server.calls import Budget
from server.errors import TooManyChecks, describe, item_error_out
from server.services.base import Deps, Query, canonical_context

#: LookupResources decides candidates in chunks growing by this factor, up to the maximum:
#: few chunks for a big result, yet a deadline is noticed soon after it passes.
FIRST_CHUNK = 64
CHUNK_GROWTH = 4
MAX_CHUNK = 16_384


#: Lookup results per stream message. A message costs the server a send and a wait for its
#: completion (hundreds of microseconds on a busy server), a result a few microseconds; a
#: message of 500 resources with their cursors is ~100 KB, far below the message size limit.
RESULTS_PER_MESSAGE = 500

#: Stores whose latest Check answers are kept (one revision each).
MAX_ANSWER_STORES = 1024


class Answers:
    """Check responses without caveat information, per store at its latest revision seen.

    The token of a revision depends only on the datastore, the store and the revision, so the
    three possible answers are built once per (store, revision) and shared (never mutated)."""

    def __init__(self) -> None:
        self._by_store: dict[str, tuple[int, dict[int, pb.CheckResponse]]] = {}
        self._lock = threading.Lock()

    def response(self, store_id: str, snapshot: Snapshot, result: CheckResult) -> pb.CheckResponse:
        if result.missing_context:
            return pb.CheckResponse(
                checked_at=cv.token_out(snapshot.token),
                permissionship=cv.permissionship_out(result.permissionship),
                partial_caveat_info=cv.caveat_info_out(result.missing_context),
            )
        revision = snapshot.revision
        permissionship = int(result.permissionship)
        known = self._by_store.get(store_id)
        if known is not None and known[0] == revision:
            answer = known[1].get(permissionship)
            if answer is not None:
                return answer
        answer = pb.CheckResponse(
            checked_at=cv.token_out(snapshot.token),
            permissionship=cv.permissionship_out(result.permissionship),
        )
        with self._lock:
            known = self._by_store.get(store_id)
            if known is None or known[0] < revision:
                if len(self._by_store) >= MAX_ANSWER_STORES:
                    self._by_store.clear()
                known = self._by_store[store_id] = (revision, {})
            if known[0] == revision:
                known[1][permissionship] = answer
        return answer


class PermissionServicer(pb_grpc.PermissionServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps
        self.answers = Answers()

    def Check(self, request: pb.CheckRequest, context: grpc.ServicerContext) -> pb.CheckResponse:
        resource = cv.object_in(request.resource, "resource")
        permission = cv.relation_in(request.permission, "permission")
        subject = cv.subject_in(request.subject, "subject")
        ctx = cv.context_in(request.context, request.HasField("context"))
        contextual = cv.contextual_in(request.contextual_relationships)
        consistency = cv.consistency_in(request.consistency, request.HasField("consistency"))
        store_id = cv.store_id_in(request.store_id)
        engine = self.deps.datastore.engine(store_id)
        budget = self.deps.control.budget(context)
        snapshot = engine.snapshot(consistency)
        result = snapshot.check(
            resource, permission, subject, ctx, contextual=contextual, deadline=budget.end
        )
        return self.answers.response(store_id, snapshot, result)

    def CheckBulk(
        self, request: pb.CheckBulkRequest, context: grpc.ServicerContext
    ) -> pb.CheckBulkResponse:
        limit = self.deps.settings.max_bulk_check_items
        if len(request.items) > limit:
            raise TooManyChecks(
                f"items: {len(request.items)} checks in one request, more than the maximum "
                f"of {limit}"
            )
        items = [cv.check_item_in(item, i) for i, item in enumerate(request.items)]
        contextual = cv.contextual_in(request.contextual_relationships)
        consistency = cv.consistency_in(request.consistency, request.HasField("consistency"))
        engine = self.deps.datastore.engine(cv.store_id_in(request.store_id))
        budget = self.deps.control.budget(context)
        end = budget.end
        # The pairs are added to the response in place: building them apart and handing the
        # list to the response's constructor copies every pair once more.
        response = pb.CheckBulkResponse()
        pairs = response.pairs
        # Held across items so that the head cannot move: every item sees one revision.
        with engine.lock:
            snapshot = engine.snapshot(consistency)
            if contextual:  # a request error, not one per item
                snapshot.prepare(contextual)
            for raw, (resource, permission, subject, ctx) in zip(request.items, items, strict=True):
                budget.check()
                pair = pairs.add()
                pair.request.CopyFrom(raw)
                try:
                    r = snapshot.check(
                        resource, permission, subject, ctx, contextual=contextual, deadline=end
                    )
                except DeadlineExceeded:
                    raise  # the call is out of time, not this item
                except RebacError as exc:
                    pair.error.CopyFrom(item_error_out(describe(exc)))
                else:
                    pair.item.permissionship = cv.permissionship_out(r.permissionship)
                    info = cv.caveat_info_out(r.missing_context)
                    if info is not None:
                        pair.item.partial_caveat_info.CopyFrom(info)
            response.checked_at.token = snapshot.token
        return response

    def Expand(self, request: pb.ExpandRequest, context: grpc.ServicerContext) -> pb.ExpandResponse:
        resource = cv.object_in(request.resource, "resource")
        permission = cv.relation_in(request.permission, "permission")
        contextual = cv.contextual_in(request.contextual_relationships)
        consistency = cv.consistency_in(request.consistency, request.HasField("consistency"))
        engine = self.deps.datastore.engine(cv.store_id_in(request.store_id))
        budget = self.deps.control.budget(context)
        snapshot = engine.snapshot(consistency)
        tree = snapshot.expand(
            resource,
            permission,
            recursive=request.recursive,
            contextual=contextual,
            deadline=budget.end,
        )
        return pb.ExpandResponse(
            expanded_at=cv.token_out(snapshot.token), tree_root=cv.expand_out(tree)
        )

    # -- lookups ------------------------------------------------------------------------------

    def LookupResources(
        self, request: pb.LookupResourcesRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.LookupResourcesResponse]:
        rtype = cv.type_name_in(request.resource_object_type, "resource_object_type")
        permission = cv.relation_in(request.permission, "permission")
        subject = cv.subject_in(request.subject, "subject")
        ctx = cv.context_in(request.context, request.HasField("context"))
        limit = cv.limit_in(
            request.optional_limit, "optional_limit", self.deps.settings.max_page_size
        )
        consistency = cv.consistency_in(request.consistency, request.HasField("consistency"))
        cursor = request.optional_cursor.token if request.HasField("optional_cursor") else None
        contextual = cv.contextual_in(request.contextual_relationships)
        engine = self.deps.datastore.engine(cv.store_id_in(request.store_id))
        query = Query(
            engine,
            "LookupResources",
            rtype,
            permission,
            str(subject),
            canonical_context(ctx),
            *_contextual_part(contextual),
        )
        with self.deps.control.stream(context) as budget:
            with engine.lock:
                snapshot, position = query.snapshot(consistency, cursor)
                if contextual:  # validated and indexed once for every chunk
                    snapshot.prepare(contextual)
                after = position[0] if position else None
                found, complete = _decide_in_chunks(
                    budget,
                    limit,
                    lambda n, a: snapshot.lookup_resources(
                        rtype,
                        permission,
                        subject,
                        ctx,
                        limit=n,
                        after=a,
                        contextual=contextual,
                        deadline=budget.end,
                    ),
                    after,
                )
                revision, token = snapshot.revision, snapshot.token
            yield from _messages(
                pb.LookupResourcesResponse,
                cv.add_looked_up_resource,
                found,
                budget,
                query,
                (revision, token, complete),
            )

    def LookupSubjects(
        self, request: pb.LookupSubjectsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.LookupSubjectsResponse]:
        resource = cv.object_in(request.resource, "resource")
        permission = cv.relation_in(request.permission, "permission")
        stype = cv.type_name_in(request.subject_object_type, "subject_object_type")
        srel = cv.optional_relation_in(
            request.optional_subject_relation, "optional_subject_relation"
        )
        ctx = cv.context_in(request.context, request.HasField("context"))
        limit = cv.limit_in(
            request.optional_limit, "optional_limit", self.deps.settings.max_page_size
        )
        wildcards = (
            request.wildcard_option != pb.LookupSubjectsRequest.WILDCARD_OPTION_EXCLUDE_WILDCARDS
        )
        consistency = cv.consistency_in(request.consistency, request.HasField("consistency"))
        cursor = request.optional_cursor.token if request.HasField("optional_cursor") else None
        contextual = cv.contextual_in(request.contextual_relationships)
        engine = self.deps.datastore.engine(cv.store_id_in(request.store_id))
        query = Query(
            engine,
            "LookupSubjects",
            str(resource),
            permission,
            stype,
            srel,
            canonical_context(ctx),
            wildcards,
            *_contextual_part(contextual),
        )
        with self.deps.control.stream(context) as budget:
            with engine.lock:
                snapshot, position = query.snapshot(consistency, cursor)
                budget.check()
                found = snapshot.lookup_subjects(
                    resource,
                    permission,
                    stype,
                    srel,
                    ctx,
                    include_wildcards=wildcards,
                    limit=None if limit is None else limit + 1,
                    after=position[0] if position else None,
                    contextual=contextual,
                    deadline=budget.end,
                )
                revision, token = snapshot.revision, snapshot.token
            complete = limit is None or len(found) <= limit
            yield from _messages(
                pb.LookupSubjectsResponse,
                cv.add_looked_up_subject,
                found[:limit],
                budget,
                query,
                (revision, token, complete),
            )


Lookup = TypeVar("Lookup", pb.LookupResourcesResponse, pb.LookupSubjectsResponse)


def _messages(
    message: Callable[[], Lookup],
    add: Callable[[Lookup, LookupResult, str], None],
    found: Sequence[LookupResult],
    budget: Budget,
    query: Query,
    at: tuple[int, str, bool],
) -> Iterator[Lookup]:
    """``found`` as stream messages of RESULTS_PER_MESSAGE results, each result with the
    cursor that resumes after it; the last message (the only one when nothing was found)
    carries the end. ``at``: the revision, its token, and whether nothing follows."""
    revision, token, complete = at
    cursor = query.cursors(revision)
    last: str | None = None
    for start in range(0, max(len(found), 1), RESULTS_PER_MESSAGE):
        budget.check()
        out = message()
        for r in found[start : start + RESULTS_PER_MESSAGE]:
            last = cursor((r.id,))
            add(out, r, last)
        if start + RESULTS_PER_MESSAGE >= len(found):
            out.end.CopyFrom(cv.lookup_end_out(token, complete, last))
        yield out


def _decide_in_chunks(
    budget: Budget,
    limit: int | None,
    page: Callable[[int, str | None], list[LookupResult]],
    after: str | None,
) -> tuple[list[LookupResult], bool]:
    """Up to ``limit`` results (all when None) and whether nothing follows them.

    ``page(n, after)`` returns at most ``n`` results after the id ``after``. One result more
    than the limit is asked for, so ``complete`` is known without another call.
    """
    found: list[LookupResult] = []
    chunk = FIRST_CHUNK
    while True:
        budget.check()
        want = chunk if limit is None else min(chunk, limit + 1 - len(found))
        got = page(want, after)
        found.extend(got)
        if len(got) < want:
            return found[:limit] if limit is not None else found, True
        if limit is not None and len(found) > limit:
            return found[:limit], False
        after = got[-1].id
        chunk = min(chunk * CHUNK_GROWTH, MAX_CHUNK)


# -- contextual relationships -----------------------------------------------------------------


def _contextual_part(relationships: list[Relationship]) -> tuple[str, ...]:
    """The cursor-fingerprint part of contextual relationships: nothing when there are none,
    so that cursors of queries without them are what they always were."""
    return (cv.contextual_key(relationships),) if relationships else ()
