"""A deployment per test: a real JWKS endpoint, a data-plane and an admin listener on port 0,
the auth runtime in front of them, and a spy behind it that sees every call reaching a
servicer."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from rebac.api.v1 import (
    core_pb2,
    permission_service_pb2,
    permission_service_pb2_grpc,
    relationship_service_pb2,
    relationship_service_pb2_grpc,
)
from rebac.datastore import Datastore
from server.app import RebacServer
from server.auth.runtime import AuthRuntime, build_auth
from server.auth.settings import AuthSettings
from server.settings import Settings
from tests.auth.helpers import (
    ADMIN_AUDIENCE,
    AUDIENCE,
    ISSUER,
    JwksServer,
    Outcome,
    SigningKey,
    Spy,
    ec_key,
    ed_key,
    rsa_key,
)

SCHEMA = """
definition user {}

definition document {
    relation viewer: user
    permission view = viewer
}
"""


@pytest.fixture(scope="session")
def keys() -> dict[str, SigningKey]:
    return {
        "rsa": rsa_key("rsa-1"),
        "ps": rsa_key("ps-1", "PS256"),
        "ec": ec_key("ec-1"),
        "ed": ed_key("ed-1"),
    }


@pytest.fixture
def jwks(keys: dict[str, SigningKey]) -> Iterator[JwksServer]:
    server = JwksServer()
    server.publish(*keys.values())
    yield server
    server.close()


def _outcome(error: grpc.RpcError) -> Outcome:
    assert isinstance(error, grpc.Call)
    return Outcome(error.code(), error.details() or "", dict(error.trailing_metadata() or ()))


@dataclass
class Deployment:
    data: RebacServer
    admin: RebacServer | None
    runtime: AuthRuntime
    spy: Spy
    jwks: JwksServer | None
    audit_path: Path
    datastore: Datastore
    channels: list[grpc.Channel] = field(default_factory=list)
    #: TLS credentials for the channels (None: plaintext)
    credentials: grpc.ChannelCredentials | None = None

    def channel(self, *, admin: bool = False) -> grpc.Channel:
        server = self.admin if admin else self.data
        assert server is not None
        if self.credentials is not None:
            ch = grpc.secure_channel(server.address, self.credentials)
        else:
            ch = grpc.insecure_channel(server.address)
        self.channels.append(ch)
        return ch

    def perm(self, *, admin: bool = False) -> permission_service_pb2_grpc.PermissionServiceStub:
        return permission_service_pb2_grpc.PermissionServiceStub(self.channel(admin=admin))

    def rels(self) -> relationship_service_pb2_grpc.RelationshipServiceStub:
        return relationship_service_pb2_grpc.RelationshipServiceStub(self.channel())

    # -- one call of each kind, returning how it ended ---------------------------------------

    def unary(self, metadata: Any, store: str = "default") -> Outcome:
        request = permission_service_pb2.CheckRequest(
            store_id=store,
            resource=core_pb2.ObjectReference(object_type="document", object_id="d1"),
            permission="view",
            subject=core_pb2.SubjectReference(
                object=core_pb2.ObjectReference(object_type="user", object_id="alice")
            ),
        )
        try:
            _, call = self.perm().Check.with_call(request, metadata=metadata, timeout=10)
        except grpc.RpcError as e:
            return _outcome(e)
        return Outcome(call.code(), "", dict(call.trailing_metadata() or ()))

    def server_stream(self, metadata: Any, store: str = "default") -> Outcome:
        request = permission_service_pb2.LookupResourcesRequest(
            store_id=store,
            resource_object_type="document",
            permission="view",
            subject=core_pb2.SubjectReference(
                object=core_pb2.ObjectReference(object_type="user", object_id="alice")
            ),
        )
        call = self.perm().LookupResources(request, metadata=metadata, timeout=10)
        try:
            list(call)
        except grpc.RpcError as e:
            return _outcome(e)
        return Outcome(call.code(), "", dict(call.trailing_metadata() or ()))

    def client_stream(self, metadata: Any, store: str = "default") -> Outcome:
        def requests() -> Iterator[relationship_service_pb2.ImportRequest]:
            yield relationship_service_pb2.ImportRequest(
                store_id=store,
                relationships=[
                    core_pb2.Relationship(
                        resource=core_pb2.ObjectReference(
                            object_type="document", object_id=uuid.uuid4().hex
                        ),
                        relation="viewer",
                        subject=core_pb2.SubjectReference(
                            object=core_pb2.ObjectReference(object_type="user", object_id="zed")
                        ),
                    )
                ],
            )

        try:
            _, call = self.rels().Import.with_call(requests(), metadata=metadata, timeout=10)
        except grpc.RpcError as e:
            return _outcome(e)
        return Outcome(call.code(), "", dict(call.trailing_metadata() or ()))

    def audit(self) -> list[dict[str, Any]]:
        self.runtime.audit.flush()  # admitted Checks' lines are written a moment later
        text = self.audit_path.read_text() if self.audit_path.exists() else ""
        return [json.loads(line) for line in text.splitlines()]

    def close(self) -> None:
        for ch in self.channels:
            ch.close()
        self.data.stop(0)  # and its companion, the admin listener
        self.runtime.close()


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


Deploy = Callable[..., Deployment]


def start_deployment(directory: Path, jwks: JwksServer, **overrides: Any) -> Deployment:
    """A started deployment whose audit log and data live in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    audit_path = directory / "audit.jsonl"
    values: dict[str, Any] = {
        "auth_issuer": ISSUER,
        "auth_audience": AUDIENCE,
        "auth_admin_audience": ADMIN_AUDIENCE,
        "auth_jwks": jwks.url,
        "audit_log": str(audit_path),
        "admin_listen": "127.0.0.1:0",
        **overrides,
    }
    return serve_runtime(build_auth(AuthSettings(**values), directory), jwks, audit_path)


def serve_runtime(runtime: AuthRuntime, jwks: JwksServer | None, audit_path: Path) -> Deployment:
    """The listeners ``runtime`` builds, on port 0, over an in-memory datastore with two
    stores (``default`` and ``acme``) holding the same schema and one relationship."""
    runtime.start()
    settings = Settings(listen="127.0.0.1:0", store="memory:", grace_period=0)
    datastore = Datastore.open("memory:")
    for store in ("default", "acme"):
        datastore.create_store(store)
        engine = datastore.engine(store)
        engine.write_schema(SCHEMA)
        engine.touch("document:d1#viewer@user:alice")
    spy = Spy()
    data = runtime.build_server(settings, datastore, [spy])
    data.start()
    admin = data.companions[0] if data.companions else None
    return Deployment(data, admin, runtime, spy, jwks, audit_path, datastore)


@pytest.fixture
def deploy(tmp_path: Path, jwks: JwksServer) -> Iterator[Deploy]:
    """``deploy(**auth_settings)`` -> a started deployment (JWKS from the ``jwks`` fixture)."""
    made: list[Deployment] = []

    def make(**overrides: Any) -> Deployment:
        deployment = start_deployment(tmp_path / f"d{len(made)}", jwks, **overrides)
        made.append(deployment)
        return deployment

    yield make
    for d in made:
        d.close()


@pytest.fixture
def deployment(deploy: Deploy) -> Deployment:
    return deploy()


@pytest.fixture(scope="module")
def shared(
    tmp_path_factory: pytest.TempPathFactory, keys: dict[str, SigningKey]
) -> Iterator[Deployment]:
    """One deployment for a whole module of tests that only make calls (the attack list)."""
    server = JwksServer()
    server.publish(*keys.values())
    deployment = start_deployment(tmp_path_factory.mktemp("shared"), server)
    yield deployment
    deployment.close()
    server.close()
