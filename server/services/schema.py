"""SchemaService: write, read, and diff a candidate against the stored schema."""

from __future__ import annotations

import grpc

from rebac.api import convert as cv
from rebac.api.v1 import schema_service_pb2 as pb
from rebac.api.v1 import schema_service_pb2_grpc as pb_grpc
from rebac.errors import NotFound, StoreNotFound
from rebac.schema import compile_schema
from rebac.schema.compiler import CompiledSchema
from rebac.schema.diff import diff_schemas
from server.services.base import Deps


class SchemaServicer(pb_grpc.SchemaServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps

    def WriteSchema(
        self, request: pb.WriteSchemaRequest, context: grpc.ServicerContext
    ) -> pb.WriteSchemaResponse:
        engine = self.deps.datastore.engine(cv.store_id_in(request.store_id))
        revision = engine.write_schema(request.schema)
        return pb.WriteSchemaResponse(written_at=cv.token_out(engine.token_for(revision)))

    def ReadSchema(
        self, request: pb.ReadSchemaRequest, context: grpc.ServicerContext
    ) -> pb.ReadSchemaResponse:
        consistency = cv.consistency_in(request.consistency, request.HasField("consistency"))
        engine = self.deps.datastore.engine(cv.store_id_in(request.store_id))
        snapshot = engine.snapshot(consistency)
        text, _ = engine.store.read_schema(engine.store_id, snapshot.revision)
        return pb.ReadSchemaResponse(schema_text=text, read_at=cv.token_out(snapshot.token))

    def DiffSchema(
        self, request: pb.DiffSchemaRequest, context: grpc.ServicerContext
    ) -> pb.DiffSchemaResponse:
        candidate = compile_schema(request.comparison_schema)
        consistency = cv.consistency_in(request.consistency, request.HasField("consistency"))
        engine = self.deps.datastore.engine(cv.store_id_in(request.store_id))
        snapshot = engine.snapshot(consistency)
        current: CompiledSchema | None
        try:
            text, _ = engine.store.read_schema(engine.store_id, snapshot.revision)
            current = compile_schema(text)
        except StoreNotFound:
            raise
        except NotFound:
            current = None  # no schema yet: everything in the candidate is an addition
        return pb.DiffSchemaResponse(
            read_at=cv.token_out(snapshot.token),
            diffs=[cv.schema_diff_out(c) for c in diff_schemas(current, candidate)],
        )
