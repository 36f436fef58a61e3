"""Every RPC of every service, through rebac.client against a real in-process server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from rebac.client import Client
from rebac.errors import RebacError, UnknownRelation
from rebac.model import (
    CheckItem,
    ObjectRef,
    Operation,
    Permissionship,
    Precondition,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
    SubjectFilter,
    SubjectRef,
)
from rebac.revision import Consistency
from rebac.schema.diff import SchemaChange
from server.app import SERVICE_NAMES, RebacServer
from tests.server.conftest import SCHEMA


def test_check_has_no_and_conditional(loaded: Client) -> None:
    has = loaded.check("document:readme", "view", "user:alice")
    assert has.allowed and has.token
    assert loaded.check("document:readme", "view", "user:bob").permissionship is (
        Permissionship.NO_PERMISSION
    )
    cond = loaded.check("document:weekday", "view", "user:dave")
    assert cond.permissionship is Permissionship.CONDITIONAL_PERMISSION
    assert cond.result.missing_context == ("day",)
    assert loaded.check("document:weekday", "view", "user:dave", {"day": "monday"}).allowed
    assert not loaded.check("document:weekday", "view", "user:dave", {"day": "sunday"}).allowed


def test_check_bulk_keeps_order_and_reports_errors_per_item(loaded: Client) -> None:
    items = [
        CheckItem(ObjectRef("document", "readme"), "view", SubjectRef("user", "alice")),
        CheckItem(ObjectRef("document", "readme"), "nope", SubjectRef("user", "alice")),
        CheckItem(ObjectRef("document", "weekday"), "view", SubjectRef("user", "dave")),
        CheckItem(
            ObjectRef("document", "weekday"), "view", SubjectRef("user", "dave"), {"day": "tue"}
        ),
    ]
    bulk = loaded.check_bulk(items)
    first, second, third, fourth = bulk.results
    assert not isinstance(first, RebacError) and first.allowed
    assert isinstance(second, UnknownRelation) and "nope" in str(second)
    assert second.reason == "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION"
    assert not isinstance(third, RebacError)
    assert third.permissionship is Permissionship.CONDITIONAL_PERMISSION
    assert not isinstance(fourth, RebacError) and fourth.allowed
    assert bulk.token


def test_expand_returns_the_tree(loaded: Client) -> None:
    tree = loaded.expand("document:readme", "view").tree
    assert tree.kind == "exclusion"
    assert tree.resource == ObjectRef("document", "readme")
    union, banned = tree.children
    assert union.kind == "union"
    viewer_leaf = union.children[0]
    assert [s.subject for s in viewer_leaf.subjects] == [SubjectRef("group", "eng", "member")]
    assert [s.subject for s in banned.subjects] == [SubjectRef("user", "bob")]
    recursive = loaded.expand("document:readme", "view", recursive=True).tree
    found = {str(s.subject) for leaf in recursive.leaves() for s in leaf.subjects}
    assert {"user:alice", "user:bob", "user:carol"} <= found


def test_lookups(loaded: Client) -> None:
    page = loaded.lookup_resources("document", "view", "user:alice")
    assert page.ids == ["public", "readme"] and page.complete and page.token
    subjects = loaded.lookup_subjects("document:readme", "view", "user")
    assert subjects.ids == ["alice", "carol"] and subjects.complete
    public = loaded.lookup_subjects("document:public", "view", "user")
    assert public.ids == ["*"]
    assert (
        loaded.lookup_subjects("document:public", "view", "user", include_wildcards=False).ids == []
    )
    weekday = loaded.lookup_resources("document", "view", "user:dave")
    by_id = {r.id: r for r in weekday.results}
    assert by_id["weekday"].permissionship is Permissionship.CONDITIONAL_PERMISSION
    assert by_id["weekday"].missing_context == ("day",)


def test_write_with_preconditions_metadata_caveats_and_expiration(loaded: Client) -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    rel = Relationship(
        ObjectRef("document", "plan"),
        "viewer",
        SubjectRef("user", "erin"),
        "on_weekday",
        {"day": "monday"},
        None,
    )
    expiring = Relationship(
        ObjectRef("document", "plan"), "owner", SubjectRef("user", "frank"), expires_at=expires
    )
    token = loaded.write(
        [RelationshipUpdate(Operation.CREATE, rel)],
        [Precondition(True, RelationshipFilter("document", "readme"))],
        {"reason": "test"},
    )
    assert token
    loaded.touch(expiring)
    read = loaded.read_relationships(RelationshipFilter("document", "plan"))
    assert read.relationships == [expiring, rel]
    assert read.relationships[0].expires_at == expires
    assert read.relationships[1].caveat_context == {"day": "monday"}


def test_delete_by_filter(loaded: Client) -> None:
    deleted = loaded.delete_relationships(
        RelationshipFilter("group", subject=SubjectFilter("user"))
    )
    assert deleted.count == 2 and deleted.complete and deleted.token
    assert not loaded.check("document:readme", "view", "user:alice").allowed


def test_delete_single_and_partial(loaded: Client) -> None:
    loaded.delete("group:eng#member@user:alice")
    partial = loaded.delete_relationships(
        RelationshipFilter("document"), limit=2, allow_partial=True
    )
    assert partial.count == 2 and not partial.complete


def test_import_then_export(loaded: Client) -> None:
    batches = [[f"document:d{i:03d}#viewer@user:u{j}" for j in range(3)] for i in range(10)]
    imported = loaded.import_relationships(batches)
    assert imported.loaded == 30 and imported.token
    pages = list(loaded.export(page_size=8))
    exported = [r for p in pages for r in p.relationships]
    assert len(exported) == 30 + 7
    assert all(len(p.relationships) <= 8 for p in pages)
    assert len({p.token for p in pages}) == 1
    only = list(loaded.export(RelationshipFilter("group")))
    assert [str(r) for p in only for r in p.relationships] == [
        "group:eng#member@user:alice",
        "group:eng#member@user:bob",
    ]


def test_schema_write_read_diff(client: Client) -> None:
    token = client.write_schema(SCHEMA)
    read = client.read_schema(consistency=Consistency.at_least_as_fresh(token))
    assert "definition document" in read.text and read.token
    candidate = SCHEMA.replace("permission edit = owner", "permission edit = owner + viewer")
    candidate += "\ndefinition folder {}\n"
    diff = client.diff_schema(candidate)
    assert diff.changes == [
        SchemaChange("permission_expr_changed", "document", "edit"),
        SchemaChange("definition_added", "folder"),
    ]


def test_watch_sees_a_write(loaded: Client) -> None:
    token = loaded.touch("document:w#viewer@user:zed")
    second = loaded.touch("document:w#viewer@user:amy")
    events = loaded.watch(token)
    event = next(events)
    events.close()
    assert [str(r) for r in event.touched] == ["document:w#viewer@user:amy"]
    assert event.token == second


def test_stores_admin(client: Client) -> None:
    assert client.list_stores() == ["default"]
    assert client.create_store("tenant-b") == "tenant-b"
    assert client.list_stores() == ["default", "tenant-b"]
    other = client.for_store("tenant-b")
    other.write_schema("definition user {}")
    assert "definition user" in other.read_schema().text
    client.delete_store("tenant-b")
    assert client.list_stores() == ["default"]


def test_health_and_reflection(server: RebacServer) -> None:
    with grpc.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", *SERVICE_NAMES):
            reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        reply = next(iter(stub.ServerReflectionInfo(iter([request]), timeout=5)))
        listed = {s.name for s in reply.list_services_response.service}
        assert set(SERVICE_NAMES) <= listed
