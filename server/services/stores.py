"""StoreService (admin): create, list and delete stores.

An administrative surface: the authentication layer restricts it (its own scope and, per the
auth design, its own listener); this servicer only does the work.
"""

from __future__ import annotations

import grpc

from rebac.api import convert as cv
from rebac.api.v1 import store_service_pb2 as pb
from rebac.api.v1 import store_service_pb2_grpc as pb_grpc
from server.services.base import Deps


class StoreServicer(pb_grpc.StoreServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps

    def CreateStore(
        self, request: pb.CreateStoreRequest, context: grpc.ServicerContext
    ) -> pb.CreateStoreResponse:
        store_id = cv.store_id_in(request.store_id)
        self.deps.datastore.create_store(store_id)
        return pb.CreateStoreResponse(store_id=store_id)

    def ListStores(
        self, request: pb.ListStoresRequest, context: grpc.ServicerContext
    ) -> pb.ListStoresResponse:
        return pb.ListStoresResponse(store_ids=self.deps.datastore.list_stores())

    def DeleteStore(
        self, request: pb.DeleteStoreRequest, context: grpc.ServicerContext
    ) -> pb.DeleteStoreResponse:
        self.deps.datastore.delete_store(cv.store_id_in(request.store_id))
        return pb.DeleteStoreResponse()
