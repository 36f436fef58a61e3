"""Authorization of the API itself: operation scopes, the two listeners, step-up for
high-risk actions, tenancy, and what stays reachable without a token (health only)."""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from rebac.api.v1 import (
    core_pb2,
    relationship_service_pb2,
    schema_service_pb2,
    schema_service_pb2_grpc,
    store_service_pb2,
    store_service_pb2_grpc,
)
from server.auth.scopes import ADMIN_ONLY, ALL_SCOPES, TABLE, Listener
from server.auth.statuses import UNAUTHENTICATED_MESSAGE
from server.auth.stepup import MESSAGE as STEP_UP_MESSAGE
from tests.auth.conftest import SCHEMA, Deploy, Deployment, bearer
from tests.auth.helpers import (
    SigningKey,
    admin_claims,
    api_methods,
    claims,
    error_info,
    invoke,
)

Keys = dict[str, SigningKey]
FIXED_ID = [("x-request-id", "fixed-1")]


def _all_but(scope: str) -> str:
    return " ".join(s for s in ALL_SCOPES if s != scope)


# -- the scope table ----------------------------------------------------------------------------


def test_every_rpc_of_the_api_has_a_scope() -> None:
    assert set(api_methods()) == set(TABLE), "a method without a scope row is refused to all"


@pytest.mark.parametrize("method", sorted(TABLE))
def test_a_missing_scope_is_permission_denied_naming_it(
    shared: Deployment, keys: Keys, method: str
) -> None:
    policy = TABLE[method]
    admin = policy.listeners == ADMIN_ONLY
    make = admin_claims if admin else claims
    token = keys["ec"].sign(make(scope=_all_but(policy.scope)))
    before = len(shared.spy.calls)
    outcomes = [
        invoke(shared.channel(admin=admin), method, b"", bearer(token) + FIXED_ID) for _ in range(2)
    ]
    assert outcomes[0].code is grpc.StatusCode.PERMISSION_DENIED
    assert outcomes[0].details == f"permission denied: {method} requires scope '{policy.scope}'"
    assert outcomes[0].status_bytes() == outcomes[1].status_bytes()  # deterministic
    info = error_info(outcomes[0])
    assert info.reason == "ERROR_REASON_MISSING_SCOPE"
    assert info.metadata["required_scope"] == policy.scope
    assert shared.spy.calls[before:] == []


@pytest.mark.parametrize(
    "granted",
    [
        "rebac:check:all",
        "rebac",
        "REBAC:CHECK",
        "rebac:*",
        "rebac:admin",
        " rebac:checkx",
    ],
)
def test_scopes_match_exactly(shared: Deployment, keys: Keys, granted: str) -> None:
    outcome = shared.unary(bearer(keys["ec"].sign(claims(scope=granted))))
    assert outcome.code is grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    "claim",
    [
        {"scope": "rebac:check"},
        {"scope": "openid rebac:check email"},
        {"scope": None, "scp": ["rebac:check"]},
        {"scope": None, "scp": "rebac:read rebac:check"},
    ],
)
def test_scope_or_scp(shared: Deployment, keys: Keys, claim: dict[str, Any]) -> None:
    assert shared.unary(bearer(keys["ec"].sign(claims(**claim)))).code is grpc.StatusCode.OK


# -- the two listeners ----------------------------------------------------------------------------


def test_admin_operations_do_not_exist_on_the_data_listener(shared: Deployment, keys: Keys) -> None:
    before = len(shared.spy.calls)
    nonexistent = invoke(shared.channel(), "/rebac.api.v1.StoreService/Nope", b"", [])
    assert nonexistent.code is grpc.StatusCode.UNIMPLEMENTED
    token = keys["ec"].sign(admin_claims(aud="rebac-api"))  # every admin scope, step-up
    for method, policy in TABLE.items():
        if Listener.DATA in policy.listeners:
            continue
        for metadata in ([], bearer(token)):
            outcome = invoke(shared.channel(), method, b"", metadata)
            assert (outcome.code, outcome.details) == (nonexistent.code, nonexistent.details)
    assert shared.spy.calls[before:] == []


def test_data_operations_do_not_exist_on_the_admin_listener(shared: Deployment, keys: Keys) -> None:
    token = keys["ec"].sign(admin_claims(scope=" ".join(ALL_SCOPES)))
    for method, policy in TABLE.items():
        if Listener.ADMIN in policy.listeners:
            continue
        outcome = invoke(shared.channel(admin=True), method, b"", bearer(token))
        assert outcome.code is grpc.StatusCode.UNIMPLEMENTED, method


def test_schema_reads_are_served_on_both_listeners(shared: Deployment, keys: Keys) -> None:
    request = schema_service_pb2.ReadSchemaRequest(store_id="default")
    for admin, make in ((False, claims), (True, admin_claims)):
        stub = schema_service_pb2_grpc.SchemaServiceStub(shared.channel(admin=admin))
        token = keys["ec"].sign(make())
        assert stub.ReadSchema(request, metadata=bearer(token), timeout=10).schema_text


# -- without a token ---------------------------------------------------------------------------


def test_health_needs_no_token_and_tells_only_the_status(shared: Deployment) -> None:
    for admin in (False, True):
        stub = health_pb2_grpc.HealthStub(shared.channel(admin=admin))
        for metadata in ([], [("authorization", "Bearer garbage")]):
            response = stub.Check(health_pb2.HealthCheckRequest(), metadata=metadata, timeout=10)
            assert response.status == health_pb2.HealthCheckResponse.SERVING
            assert response.ListFields() == [
                (health_pb2.HealthCheckResponse.DESCRIPTOR.fields_by_name["status"], 1)
            ]


def test_reflection_needs_a_token(shared: Deployment, keys: Keys) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(shared.channel())
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    token = keys["ec"].sign(claims(scope=""))  # any authenticated caller, no scope needed
    responses = list(stub.ServerReflectionInfo(iter([request]), metadata=bearer(token), timeout=10))
    assert responses[0].list_services_response.service


# -- step-up ---------------------------------------------------------------------------------------


def _write_schema(d: Deployment, token: str) -> Any:
    request = schema_service_pb2.WriteSchemaRequest(store_id="default", schema=SCHEMA)
    return invoke(
        d.channel(admin=True),
        "/rebac.api.v1.SchemaService/WriteSchema",
        request.SerializeToString(),
        bearer(token),
    )


@pytest.mark.parametrize(
    "weak",
    [
        {"amr": None},
        {"amr": ["pwd"]},
        {"auth_time": None},
        {"auth_time": int(time.time()) - 600},
        {"acr": "urn:mfa", "amr": None},
    ],
    ids=["no amr", "password only", "no auth_time", "sign-in too old", "unconfigured acr"],
)
def test_schema_write_needs_recent_multi_factor_authentication(
    shared: Deployment, keys: Keys, weak: dict[str, Any]
) -> None:
    before = len(shared.spy.calls)
    outcome = _write_schema(shared, keys["ec"].sign(admin_claims(**weak)))
    assert outcome.code is grpc.StatusCode.UNAUTHENTICATED
    assert outcome.details == STEP_UP_MESSAGE
    info = error_info(outcome)
    assert info.reason == "insufficient_user_authentication"
    assert info.metadata["max_age"] == "300"
    assert info.metadata["amr_values"] == "mfa"
    assert "insufficient_user_authentication" in outcome.trailers["www-authenticate"]
    assert shared.spy.calls[before:] == []
    assert shared.audit()[-1]["reason"] == "insufficient_user_authentication"


def test_schema_write_with_step_up_succeeds(shared: Deployment, keys: Keys) -> None:
    assert _write_schema(shared, keys["ec"].sign(admin_claims())).code is grpc.StatusCode.OK


def test_acr_values_and_max_age_are_configurable(deploy: Deploy, keys: Keys) -> None:
    d = deploy(auth_stepup_acr="urn:example:mfa", auth_stepup_amr="", auth_stepup_max_age=60)
    now = int(time.time())
    ok = admin_claims(acr="urn:example:mfa", amr=None, auth_time=now - 30)
    assert _write_schema(d, keys["ec"].sign(ok)).code is grpc.StatusCode.OK
    outcome = _write_schema(d, keys["ec"].sign(admin_claims(auth_time=now - 30)))  # amr only
    assert outcome.code is grpc.StatusCode.UNAUTHENTICATED
    info = error_info(outcome)
    assert (info.metadata["acr_values"], info.metadata["max_age"]) == ("urn:example:mfa", "60")
    old = admin_claims(acr="urn:example:mfa", amr=None, auth_time=now - 90)
    assert _write_schema(d, keys["ec"].sign(old)).code is grpc.StatusCode.UNAUTHENTICATED


def _delete(d: Deployment, token: str, resource_id: str | None) -> Any:
    f = core_pb2.RelationshipFilter(resource_type="document")
    if resource_id is not None:
        f.optional_resource_id = resource_id
    request = relationship_service_pb2.DeleteRequest(store_id="default", filter=f)
    return invoke(
        d.channel(),
        "/rebac.api.v1.RelationshipService/Delete",
        request.SerializeToString(),
        bearer(token),
    )


def test_delete_by_filter_without_resource_id_needs_step_up(
    deployment: Deployment, keys: Keys
) -> None:
    plain = keys["ec"].sign(claims())
    assert _delete(deployment, plain, "d1").code is grpc.StatusCode.OK
    outcome = _delete(deployment, plain, None)
    assert outcome.code is grpc.StatusCode.UNAUTHENTICATED
    assert error_info(outcome).reason == "insufficient_user_authentication"
    assert _delete(deployment, plain, "").code is grpc.StatusCode.UNAUTHENTICATED
    stepped = keys["ec"].sign(claims(amr=["mfa"], auth_time=int(time.time())))
    assert _delete(deployment, stepped, None).code is grpc.StatusCode.OK


def test_store_deletion_needs_step_up_and_creation_does_not(
    deployment: Deployment, keys: Keys
) -> None:
    stub = store_service_pb2_grpc.StoreServiceStub(deployment.channel(admin=True))
    weak = bearer(keys["ec"].sign(admin_claims(amr=None, rebac_store="*")))
    stub.CreateStore(store_service_pb2.CreateStoreRequest(store_id="tmp"), metadata=weak)
    with pytest.raises(grpc.RpcError) as caught:
        stub.DeleteStore(store_service_pb2.DeleteStoreRequest(store_id="tmp"), metadata=weak)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    assert "tmp" in deployment.datastore.list_stores()
    strong = bearer(keys["ec"].sign(admin_claims(rebac_store="*")))
    stub.DeleteStore(store_service_pb2.DeleteStoreRequest(store_id="tmp"), metadata=strong)
    assert "tmp" not in deployment.datastore.list_stores()


def test_api_keys_and_plain_tokens_never_step_up(shared: Deployment, keys: Keys) -> None:
    """A token without auth_time is a workload token: it can never do a high-risk action."""
    token = keys["ec"].sign(admin_claims(auth_time=None, amr=["mfa", "hwk"]))
    assert _write_schema(shared, token).code is grpc.StatusCode.UNAUTHENTICATED


# -- tenancy -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["unary", "server_stream", "client_stream"])
def test_another_tenants_store_looks_exactly_like_no_store(
    shared: Deployment, keys: Keys, kind: str
) -> None:
    call = getattr(shared, kind)
    mine = bearer(keys["ec"].sign(claims(rebac_store="default"))) + FIXED_ID
    everything = bearer(keys["ec"].sign(claims(rebac_store="*"))) + FIXED_ID
    before = len(shared.spy.calls)
    other = call(mine, store="acme")  # exists, belongs to someone else
    missing = call(mine, store="nope")  # does not exist (a name of the same length)
    assert shared.spy.calls[before:] == [], "the handler ran for a store not granted"
    real_missing = call(everything, store="nope")  # answered by the datastore itself
    assert other.code is grpc.StatusCode.NOT_FOUND
    assert missing.status_bytes() == real_missing.status_bytes()
    assert (missing.code, missing.details) == (real_missing.code, real_missing.details)
    assert other.details.replace("acme", "nope") == missing.details
    assert other.status_bytes().replace(b"acme", b"nope") == missing.status_bytes()
    assert call(mine, store="default").code is grpc.StatusCode.OK


def test_a_token_without_a_store_claim_reaches_no_store(shared: Deployment, keys: Keys) -> None:
    outcome = shared.unary(bearer(keys["ec"].sign(claims(rebac_store=None))))
    assert outcome.code is grpc.StatusCode.NOT_FOUND


def test_the_store_claim_name_is_configurable(deploy: Deploy, keys: Keys) -> None:
    d = deploy(auth_store_claim="tenant")
    token = keys["ec"].sign(claims(rebac_store=None, tenant="default"))
    assert d.unary(bearer(token)).code is grpc.StatusCode.OK
    assert d.unary(bearer(keys["ec"].sign(claims()))).code is grpc.StatusCode.NOT_FOUND


def test_an_import_stream_cannot_switch_store(deployment: Deployment, keys: Keys) -> None:
    def requests() -> Any:
        for store in ("default", "acme"):
            yield relationship_service_pb2.ImportRequest(
                store_id=store,
                relationships=[
                    core_pb2.Relationship(
                        resource=core_pb2.ObjectReference(object_type="document", object_id="x"),
                        relation="viewer",
                        subject=core_pb2.SubjectReference(
                            object=core_pb2.ObjectReference(object_type="user", object_id=store)
                        ),
                    )
                ],
            )

    token = bearer(keys["ec"].sign(claims()))
    with pytest.raises(grpc.RpcError) as caught:
        deployment.rels().Import(requests(), metadata=token, timeout=10)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    engine = deployment.datastore.engine("acme")
    assert not engine.snapshot().check("document:x", "view", "user:acme").allowed


def test_list_stores_shows_only_granted_stores(shared: Deployment, keys: Keys) -> None:
    stub = store_service_pb2_grpc.StoreServiceStub(shared.channel(admin=True))
    request = store_service_pb2.ListStoresRequest()
    token = bearer(keys["ec"].sign(admin_claims(rebac_store=["acme", "nosuch"])))
    assert list(stub.ListStores(request, metadata=token).store_ids) == ["acme"]
    everything = bearer(keys["ec"].sign(admin_claims(rebac_store="*")))
    assert {"acme", "default"} <= set(stub.ListStores(request, metadata=everything).store_ids)


def test_creating_a_store_outside_the_claim_is_denied(shared: Deployment, keys: Keys) -> None:
    stub = store_service_pb2_grpc.StoreServiceStub(shared.channel(admin=True))
    token = bearer(keys["ec"].sign(admin_claims(rebac_store=["default"])))
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateStore(store_service_pb2.CreateStoreRequest(store_id="mine-now"), metadata=token)
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    assert "mine-now" not in shared.datastore.list_stores()


def test_unauthenticated_message_is_not_the_step_up_one() -> None:
    assert UNAUTHENTICATED_MESSAGE != STEP_UP_MESSAGE
