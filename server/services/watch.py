"""WatchService: every change of a store, in revision order, resumable from any token.

The store's changelog is the source (the same one the engines' indexes follow), polled every
``watch_poll_interval``: that is what makes a change written by *another* worker process visible
here. A stream ends only when the client goes, its own deadline passes, or the server shuts
down (UNAVAILABLE with reason ERROR_REASON_SERVER_STOPPING: resume from the last token).
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from rebac.api import convert as cv
from rebac.api.v1 import watch_service_pb2 as pb
from rebac.api.v1 import watch_service_pb2_grpc as pb_grpc
from server.services.base import Deps

#: Revisions read from the changelog per poll while catching up.
CHANGES_PER_POLL = 100


class WatchServicer(pb_grpc.WatchServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps

    def Watch(
        self, request: pb.WatchRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.WatchResponse]:
        watched = cv.watch_filters_in(request)
        kinds = set(request.optional_update_kinds) or {pb.WatchRequest.KIND_RELATIONSHIP_UPDATES}
        relationships = pb.WatchRequest.KIND_RELATIONSHIP_UPDATES in kinds
        schema = pb.WatchRequest.KIND_SCHEMA_UPDATES in kinds
        checkpoints = pb.WatchRequest.KIND_CHECKPOINTS in kinds
        engine = self.deps.datastore.engine(cv.store_id_in(request.store_id))
        store, store_id = engine.store, engine.store_id
        if request.HasField("optional_start_cursor"):
            last = store.tokens.decode(request.optional_start_cursor.token, store_id)
        else:
            last = store.head_revision(store_id)
        reported = last
        poll = self.deps.settings.watch_poll_interval
        with self.deps.control.stream(context, endless=True) as budget:
            while True:
                budget.check_stopping()
                changes = store.changes(store_id, last, limit=CHANGES_PER_POLL)
                for cs in changes:
                    token = engine.token_for(cs.revision)
                    message = cv.change_set_out(
                        cs, token, watched, relationships=relationships, schema=schema
                    )
                    last = cs.revision
                    if message is not None:
                        budget.check()
                        reported = last
                        yield message
                if len(changes) == CHANGES_PER_POLL:
                    continue  # still catching up
                if checkpoints and reported != last:
                    reported = last
                    yield pb.WatchResponse(
                        changes_through=cv.token_out(engine.token_for(last)), is_checkpoint=True
                    )
                budget.wait(poll)
