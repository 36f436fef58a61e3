"""The error table, each row produced by a real request, and the client mapping it back."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from rebac import errors as e
from rebac.api.v1 import core_pb2, permission_service_pb2, permission_service_pb2_grpc
from rebac.client import Client, InternalError, RpcError
from rebac.model import (
    CheckItem,
    ObjectRef,
    Operation,
    Precondition,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
    SubjectRef,
)
from rebac.revision import Consistency
from server import errors as server_errors
from server.app import RebacServer
from tests.server.conftest import MakeServer

C = grpc.StatusCode


def _fails(
    call: Callable[[], Any], code: grpc.StatusCode, reason: str, cls: type[Exception]
) -> e.RebacError:
    with pytest.raises(cls) as info:
        call()
    exc = info.value
    assert isinstance(exc, e.RebacError)
    assert exc.grpc_code is code, str(exc)  # type: ignore[attr-defined]
    assert exc.reason == reason
    assert exc.request_id  # type: ignore[attr-defined]
    return exc


def _update(text: str, op: Operation = Operation.TOUCH) -> RelationshipUpdate:
    return RelationshipUpdate(op, Relationship.parse(text))


def test_every_library_error_has_its_own_row() -> None:
    classes = [
        c
        for _, c in inspect.getmembers(e, inspect.isclass)
        if issubclass(c, e.RebacError) and c.__module__ == e.__name__
    ]
    missing = [c.__name__ for c in classes if c not in server_errors.TABLE]
    assert not missing, f"add these to server/errors.py TABLE: {missing}"


def test_no_user_error_maps_to_internal_and_reasons_are_distinct() -> None:
    rows = server_errors.TABLE
    assert all(m.code is not C.INTERNAL for m in rows.values())
    reasons = [m.reason for cls, m in rows.items() if cls is not server_errors.InvalidField]
    assert len(reasons) == len(set(reasons)), "two rows share a reason: the client could not tell"


def test_invalid_argument_names_the_field_and_value(loaded: Client) -> None:
    exc = _fails(
        lambda: loaded.check(ObjectRef("Doc!", "x"), "view", "user:alice"),
        C.INVALID_ARGUMENT,
        "ERROR_REASON_INVALID_ARGUMENT",
        e.InvalidRequest,
    )
    assert isinstance(exc, e.InvalidField)
    assert exc.details == {  # type: ignore[attr-defined]
        "type": "InvalidField",
        "field": "resource.object_type",
        "value": "Doc!",
        "request_id": exc.request_id,  # type: ignore[attr-defined]
    }
    assert "resource.object_type" in str(exc) and "'Doc!'" in str(exc)
    wildcard = _fails(
        lambda: loaded.check("document:readme", "view", SubjectRef("user", "*")),
        C.INVALID_ARGUMENT,
        "ERROR_REASON_INVALID_ARGUMENT",
        e.InvalidRequest,
    )
    assert wildcard.details["field"] == "subject.object.object_id"  # type: ignore[attr-defined]


def test_missing_store_id_is_invalid_argument(server: RebacServer) -> None:
    with Client(server.address, "") as anonymous:
        exc = _fails(
            lambda: anonymous.read_schema(),
            C.INVALID_ARGUMENT,
            "ERROR_REASON_INVALID_ARGUMENT",
            e.InvalidRequest,
        )
    assert exc.details["field"] == "store_id"  # type: ignore[attr-defined]


def test_schema_errors(client: Client) -> None:
    parse = _fails(
        lambda: client.write_schema("definition {"),
        C.INVALID_ARGUMENT,
        "ERROR_REASON_SCHEMA_PARSE_ERROR",
        e.SchemaError,
    )
    assert isinstance(parse, e.SchemaError) and parse.line == 1 and parse.column > 1
    _fails(
        lambda: client.write_schema("definition doc { relation v: nosuch }"),
        C.FAILED_PRECONDITION,
        "ERROR_REASON_SCHEMA_TYPE_ERROR",
        e.SchemaTypeError,
    )
    _fails(
        lambda: client.read_schema(),
        C.NOT_FOUND,
        "ERROR_REASON_NOT_FOUND",
        e.NotFound,
    )


def test_schema_in_use(loaded: Client) -> None:
    _fails(
        lambda: loaded.write_schema("definition user {}"),
        C.FAILED_PRECONDITION,
        "ERROR_REASON_SCHEMA_IN_USE",
        e.SchemaInUse,
    )


def test_unknown_names(loaded: Client) -> None:
    _fails(
        lambda: loaded.check("widget:x", "view", "user:alice"),
        C.FAILED_PRECONDITION,
        "ERROR_REASON_UNKNOWN_DEFINITION",
        e.UnknownDefinition,
    )
    _fails(
        lambda: loaded.check("document:readme", "viewz", "user:alice"),
        C.FAILED_PRECONDITION,
        "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION",
        e.UnknownRelation,
    )
    _fails(
        lambda: loaded.touch("document:x#viewer@user:a[no_such_caveat]"),
        C.FAILED_PRECONDITION,
        "ERROR_REASON_UNKNOWN_CAVEAT",
        e.UnknownCaveat,
    )


def test_relationships_that_do_not_fit_the_schema(loaded: Client) -> None:
    _fails(
        lambda: loaded.touch("document:x#owner@group:eng#member"),
        C.INVALID_ARGUMENT,
        "ERROR_REASON_INVALID_SUBJECT_TYPE",
        e.InvalidSubjectType,
    )
    _fails(
        lambda: loaded.touch("document:x#view@user:a"),
        C.INVALID_ARGUMENT,
        "ERROR_REASON_CANNOT_UPDATE_PERMISSION",
        e.CannotUpdatePermission,
    )


def test_write_conflicts(loaded: Client) -> None:
    _fails(
        lambda: loaded.create("group:eng#member@user:alice"),
        C.ALREADY_EXISTS,
        "ERROR_REASON_ATTEMPT_TO_RECREATE_RELATIONSHIP",
        e.AlreadyExists,
    )
    _fails(
        lambda: loaded.write(
            [_update("group:eng#member@user:zoe")],
            [Precondition(True, RelationshipFilter("document", "nonexistent"))],
        ),
        C.FAILED_PRECONDITION,
        "ERROR_REASON_WRITE_OR_DELETE_PRECONDITION_FAILURE",
        e.PreconditionFailed,
    )
    _fails(
        lambda: loaded.write([_update("group:eng#member@user:zoe")] * 2),
        C.INVALID_ARGUMENT,
        "ERROR_REASON_UPDATES_ON_SAME_RELATIONSHIP",
        e.UpdatesOnSameRelationship,
    )
    _fails(
        lambda: loaded.delete_relationships(RelationshipFilter("document"), limit=1),
        C.INVALID_ARGUMENT,
        "ERROR_REASON_TOO_MANY_RELATIONSHIPS_FOR_TRANSACTIONAL_DELETE",
        e.TooManyRelationshipsForDelete,
    )


def test_stores(client: Client) -> None:
    _fails(
        lambda: client.create_store("default"),
        C.ALREADY_EXISTS,
        "ERROR_REASON_STORE_ALREADY_EXISTS",
        e.StoreAlreadyExists,
    )
    _fails(
        lambda: client.for_store("nobody").read_schema(),
        C.NOT_FOUND,
        "ERROR_REASON_STORE_NOT_FOUND",
        e.StoreNotFound,
    )


def test_request_limits(make_server: MakeServer) -> None:
    _, client = make_server(
        max_updates_per_write=2,
        max_preconditions_per_write=1,
        max_bulk_check_items=1,
        max_page_size=5,
    )
    from tests.server.conftest import SCHEMA

    client.write_schema(SCHEMA)
    three = [_update(f"group:g#member@user:u{i}") for i in range(3)]
    _fails(
        lambda: client.write(three),
        C.INVALID_ARGUMENT,
        "ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST",
        e.TooManyUpdates,
    )
    two = [Precondition(False, RelationshipFilter("group"))] * 2
    _fails(
        lambda: client.write(three[:1], two),
        C.INVALID_ARGUMENT,
        "ERROR_REASON_TOO_MANY_PRECONDITIONS_IN_REQUEST",
        e.TooManyPreconditions,
    )
    item = CheckItem(ObjectRef("document", "d"), "view", SubjectRef("user", "u"))
    _fails(
        lambda: client.check_bulk([item, item]),
        C.INVALID_ARGUMENT,
        "ERROR_REASON_TOO_MANY_CHECKS_IN_REQUEST",
        e.LimitExceeded,
    )
    _fails(
        lambda: client.lookup_resources("document", "view", "user:u", limit=6),
        C.INVALID_ARGUMENT,
        "ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT",
        e.LimitExceeded,
    )


def test_message_size_limit(make_server: MakeServer) -> None:
    _, client = make_server(max_message_bytes=4096)
    with pytest.raises(RpcError) as info:
        client.write_schema("definition user {}\n" + "// padding\n" * 1000)
    assert info.value.grpc_code is C.RESOURCE_EXHAUSTED


def test_caveat_errors(client: Client) -> None:
    client.write_schema(
        """
        definition user {}
        caveat has_key(m map<int>, n int) { m["k"] == n }
        definition doc { relation viewer: user with has_key
                         permission view = viewer }
        """
    )
    client.touch("doc:d#viewer@user:u[has_key]")
    _fails(
        lambda: client.check("doc:d", "view", "user:u", {"m": {}, "n": 1}),
        C.INVALID_ARGUMENT,
        "ERROR_REASON_CAVEAT_EVALUATION_ERROR",
        e.CaveatEvaluationError,
    )
    _fails(
        lambda: client.check("doc:d", "view", "user:u", {"m": {}, "n": "one"}),
        C.INVALID_ARGUMENT,
        "ERROR_REASON_CAVEAT_PARAMETER_TYPE_ERROR",
        e.InvalidCaveatContext,
    )


TEAMS = """
    definition user {}
    definition team {
        relation direct: user | team#member
        relation blocked: user | team#member
        permission member = direct - blocked
    }
"""


def test_depth_and_cycles(make_server: MakeServer) -> None:
    _, client = make_server(max_depth=3)
    client.write_schema(TEAMS)
    client.touch(*(f"team:t{i}#direct@team:t{i + 1}#member" for i in range(6)))
    client.touch("team:t6#direct@user:u")  # at the far end: the walk must go that deep
    exc = _fails(
        lambda: client.check("team:t0", "member", "user:u"),
        C.RESOURCE_EXHAUSTED,
        "ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED",
        e.MaximumDepthExceeded,
    )
    assert exc.details["max_depth"] == "3"  # type: ignore[attr-defined]
    _, client = make_server()
    client.write_schema(TEAMS)
    client.touch(
        "team:a#direct@user:u", "team:a#blocked@team:b#member", "team:b#direct@team:a#member"
    )
    _fails(
        lambda: client.check("team:a", "member", "user:u"),
        C.RESOURCE_EXHAUSTED,
        "ERROR_REASON_CYCLE_DETECTED",
        e.CycleDetected,
    )


def test_tokens_and_cursors(loaded: Client, server: RebacServer) -> None:
    loaded.create_store("other")
    other = loaded.for_store("other")
    other.write_schema("definition user {}")
    foreign = other.touch()
    _fails(
        lambda: loaded.check(
            "document:readme",
            "view",
            "user:alice",
            consistency=Consistency.at_least_as_fresh(foreign),
        ),
        C.OUT_OF_RANGE,
        "ERROR_REASON_INVALID_REVISION",
        e.RevisionError,
    )
    old = loaded.touch("group:eng#member@user:old")
    loaded.touch("group:eng#member@user:new")
    server.datastore.store.gc("default", now=1e12)  # everything before the head is history
    _fails(
        lambda: loaded.check(
            "document:readme", "view", "user:old", consistency=Consistency.at_exact_snapshot(old)
        ),
        C.OUT_OF_RANGE,
        "ERROR_REASON_REVISION_EXPIRED",
        e.RevisionExpired,
    )
    page = loaded.lookup_resources("document", "view", "user:alice", limit=1)
    _fails(
        lambda: loaded.lookup_resources("document", "edit", "user:alice", cursor=page.cursor),
        C.FAILED_PRECONDITION,
        "ERROR_REASON_INVALID_CURSOR",
        e.InvalidCursor,
    )


def test_unexpected_exception_is_internal_with_only_a_request_id(
    server: RebacServer,
    loaded: Client,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(store_id: str) -> Any:
        raise RuntimeError("secret internals: /etc/passwd")

    monkeypatch.setattr(server.datastore, "engine", broken)
    with caplog.at_level(logging.ERROR, logger="rebac.server"):
        exc = _fails(
            lambda: loaded.check("document:readme", "view", "user:alice"),
            C.INTERNAL,
            "ERROR_REASON_INTERNAL",
            InternalError,
        )
    assert "secret" not in str(exc) and exc.request_id in str(exc)  # type: ignore[attr-defined]
    logged = [r for r in caplog.records if exc.request_id in r.getMessage()]  # type: ignore[attr-defined]
    assert logged and logged[0].exc_info is not None


def test_request_id_from_the_caller_is_kept(loaded: Client, server: RebacServer) -> None:
    with grpc.insecure_channel(server.address) as channel:
        stub = permission_service_pb2_grpc.PermissionServiceStub(channel)
        request = permission_service_pb2.CheckRequest(
            store_id="default",
            resource=core_pb2.ObjectReference(object_type="document", object_id="readme"),
            permission="view",
            subject=core_pb2.SubjectReference(
                object=core_pb2.ObjectReference(object_type="user", object_id="alice")
            ),
        )
        _, call = stub.Check.with_call(request, metadata=(("x-request-id", "abc-123"),))
        assert ("x-request-id", "abc-123") in tuple(call.trailing_metadata())
