"""What the Check path remembers between calls must never change an answer: remembered
conversions still refuse bad input naming the right field, shared Check answers follow the
revision (and stay untouched), answers with caveat information are never shared, and a method
is wrapped once however many calls it serves (at registration when no plain interceptor
follows the layers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

from rebac.api import convert as cv
from rebac.api.v1 import core_pb2, permission_service_pb2, permission_service_pb2_grpc
from rebac.client import Client
from rebac.errors import InvalidField
from rebac.model import Permissionship
from server.app import RebacServer
from server.errors import REQUEST_ID_KEY
from server.interceptors import RequestInterceptor
from tests.servers import SCHEMA, start_server


def _obj(t: str, i: str) -> core_pb2.ObjectReference:
    return core_pb2.ObjectReference(object_type=t, object_id=i)


def _subject(t: str, i: str, relation: str = "") -> core_pb2.SubjectReference:
    return core_pb2.SubjectReference(object=_obj(t, i), optional_relation=relation)


def test_a_remembered_reference_does_not_let_an_invalid_one_through() -> None:
    assert cv.object_in(_obj("document", "d1"), "resource").id == "d1"
    with pytest.raises(InvalidField) as refused:
        cv.object_in(_obj("document", "d 1"), "resource")
    assert refused.value.field == "resource.object_id"
    with pytest.raises(InvalidField) as refused:
        cv.object_in(_obj("Doc!", "d1"), "items[3].resource")
    assert refused.value.field == "items[3].resource.object_type"
    assert cv.subject_in(_subject("user", "*"), "s", allow_wildcard=True).id == "*"
    with pytest.raises(InvalidField) as refused:
        cv.subject_in(_subject("user", "*"), "subject")  # remembered only where allowed
    assert refused.value.field == "subject.object.object_id"
    assert cv.relation_in("view", "permission") == "view"
    with pytest.raises(InvalidField):
        cv.relation_in("", "permission")


def test_remembered_references_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cv, "KNOWN_LIMIT", 10)
    for n in range(50):
        assert cv.object_in(_obj("document", f"bound{n}"), "resource").id == f"bound{n}"
    assert len(cv._known_objects) <= 10


def _check(stub: Any, user: str, context: dict[str, Any] | None = None) -> Any:
    request = permission_service_pb2.CheckRequest(
        store_id="default",
        resource=_obj("document", "doc"),
        permission="view",
        subject=_subject("user", user),
    )
    if context is not None:
        request.context.update(context)
    return stub.Check(request, timeout=10)


def test_shared_check_answers_follow_the_revision(client: Client, server: RebacServer) -> None:
    from tests.server.conftest import SCHEMA

    client.write_schema(SCHEMA)
    client.touch("document:doc#viewer@user:ann")
    with grpc.insecure_channel(server.address) as channel:
        stub = permission_service_pb2_grpc.PermissionServiceStub(channel)
        first = _check(stub, "ann")
        again = _check(stub, "ann")
        assert first == again
        assert first.permissionship == core_pb2.PERMISSIONSHIP_HAS_PERMISSION
        token = client.touch("document:doc#viewer@user:bob")
        fresh = permission_service_pb2.CheckRequest(
            store_id="default",
            resource=_obj("document", "doc"),
            permission="view",
            subject=_subject("user", "bob"),
            consistency=core_pb2.Consistency(
                at_least_as_fresh=core_pb2.ConsistencyToken(token=token)
            ),
        )
        later = stub.Check(fresh, timeout=10)
        assert later.permissionship == core_pb2.PERMISSIONSHIP_HAS_PERMISSION
        assert later.checked_at.token != first.checked_at.token
        assert _check(stub, "zed").permissionship == core_pb2.PERMISSIONSHIP_NO_PERMISSION


def test_answers_with_caveat_information_are_not_shared(client: Client) -> None:
    from tests.server.conftest import SCHEMA

    client.write_schema(SCHEMA)
    client.touch("document:doc#viewer@user:dave[on_weekday]")
    missing = client.check("document:doc", "view", "user:dave")
    assert missing.permissionship is Permissionship.CONDITIONAL_PERMISSION
    assert missing.result.missing_context == ("day",)
    weekday = client.check("document:doc", "view", "user:dave", {"day": "monday"})
    assert weekday.allowed
    assert client.check("document:doc", "view", "user:dave").result.missing_context == ("day",)


CHECK = "/rebac.api.v1.PermissionService/Check"


def test_without_plain_interceptors_grpc_runs_no_interceptor_per_call(server: RebacServer) -> None:
    """Every layer folds: the handlers were wrapped at registration (Registrar), so gRPC has
    no interceptor pipeline to run on its polling thread, and a call still goes through the
    request scope (its request id comes back as a trailer, on an error too)."""
    state = server.server._state  # type: ignore[attr-defined]
    assert state.interceptor_pipeline is None
    registered = state.registered_method_handlers[CHECK]
    with grpc.insecure_channel(server.address) as channel:
        stub = permission_service_pb2_grpc.PermissionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as failed:
            _check(stub, "ann")  # no schema yet: an error is a call too
    trailers = dict(failed.value.trailing_metadata())  # type: ignore[attr-defined]
    assert trailers.get(REQUEST_ID_KEY)
    assert state.registered_method_handlers[CHECK] is registered


class PassThrough(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """A plain interceptor: with one, the request interceptor runs through gRPC's pipeline."""

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        return continuation(details)


def test_with_a_plain_interceptor_a_method_is_wrapped_once_for_all_its_calls() -> None:
    server = start_server([PassThrough()])
    try:
        interceptor = next(
            i
            for i in server.server._state.interceptor_pipeline.interceptors  # type: ignore[attr-defined]
            if isinstance(i, RequestInterceptor)
        )
        with grpc.insecure_channel(server.address) as channel:
            stub = permission_service_pb2_grpc.PermissionServiceStub(channel)
            for _ in range(3):
                with pytest.raises(grpc.RpcError):
                    _check(stub, "ann")
        assert CHECK in interceptor._wrapped
        first = interceptor._wrapped[CHECK][1]
        with grpc.insecure_channel(server.address) as channel:
            stub = permission_service_pb2_grpc.PermissionServiceStub(channel)
            with pytest.raises(grpc.RpcError):
                _check(stub, "ann")
        assert interceptor._wrapped[CHECK][1] is first
    finally:
        server.stop(0)


def test_a_malformed_bulk_item_is_refused_naming_its_index(
    client: Client, server: RebacServer
) -> None:
    """Bulk items are converted without their field names; a refused one is named in full."""
    client.write_schema(SCHEMA)
    good = permission_service_pb2.CheckBulkRequestItem(
        resource=_obj("document", "doc"), permission="view", subject=_subject("user", "ann")
    )
    bad = permission_service_pb2.CheckBulkRequestItem(
        resource=_obj("document", "d 1"), permission="view", subject=_subject("user", "ann")
    )
    request = permission_service_pb2.CheckBulkRequest(store_id="default", items=[good, good, bad])
    with grpc.insecure_channel(server.address) as channel:
        stub = permission_service_pb2_grpc.PermissionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.CheckBulk(request, timeout=10)
        answered = stub.CheckBulk(
            permission_service_pb2.CheckBulkRequest(store_id="default", items=[good, good]),
            timeout=10,
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "items[2].resource.object_id" in refused.value.details()  # type: ignore[attr-defined]
    assert [p.request for p in answered.pairs] == [good, good]
    assert answered.checked_at.token
