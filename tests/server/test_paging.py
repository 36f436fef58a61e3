"""Lookups, reads and exports page with cursors that resume exactly, at the first page's revision,
and say when the result is complete."""

from __future__ import annotations

from typing import Any

import grpc

from rebac.api.v1 import (
    core_pb2,
    permission_service_pb2,
    permission_service_pb2_grpc,
    relationship_service_pb2,
    relationship_service_pb2_grpc,
)
from rebac.client import Client, LookupPage
from rebac.model import RelationshipFilter
from server.app import RebacServer
from server.services.relationships import READ_PAGE


def _collect(fetch: object, page_size: int) -> tuple[list[str], list[LookupPage]]:
    assert callable(fetch)
    pages: list[LookupPage] = []
    cursor: str | None = None
    while True:
        page: LookupPage = fetch(limit=page_size, cursor=cursor)
        pages.append(page)
        if page.complete:
            return [i for p in pages for i in p.ids], pages
        cursor = page.cursor
        assert cursor is not None


def _load(client: Client, n: int) -> None:
    from tests.server.conftest import SCHEMA

    client.write_schema(SCHEMA)
    client.import_relationships(
        [
            [f"document:d{i:03d}#viewer@group:eng#member" for i in range(n)],
            [f"group:eng#member@user:u{i:03d}" for i in range(n)],
            ["document:d000#viewer@user:*"],
        ]
    )


def test_lookup_resources_pages(client: Client) -> None:
    _load(client, 25)
    everything = client.lookup_resources("document", "view", "user:u001")
    assert everything.complete and len(everything.ids) == 25

    def fetch(**kw: object) -> LookupPage:
        return client.lookup_resources("document", "view", "user:u001", **kw)  # type: ignore[arg-type]

    ids, pages = _collect(fetch, 10)
    assert ids == everything.ids
    assert [len(p.ids) for p in pages] == [10, 10, 5]
    assert [p.complete for p in pages] == [False, False, True]
    # A page that ends exactly at the last result knows it is complete.
    exact = client.lookup_resources("document", "view", "user:u001", limit=25)
    assert exact.complete and len(exact.ids) == 25


def test_lookup_subjects_pages_including_the_wildcard(client: Client) -> None:
    _load(client, 25)
    everything = client.lookup_subjects("document:d000", "view", "user")
    assert everything.ids[0] == "*" and len(everything.ids) == 26

    def fetch(**kw: object) -> LookupPage:
        return client.lookup_subjects("document:d000", "view", "user", **kw)  # type: ignore[arg-type]

    ids, pages = _collect(fetch, 7)
    assert ids == everything.ids
    assert [len(p.ids) for p in pages] == [7, 7, 7, 5]


def test_an_empty_page_is_complete_with_a_token(client: Client) -> None:
    _load(client, 3)
    page = client.lookup_resources("document", "edit", "user:nobody", limit=5)
    assert page.ids == [] and page.complete and page.cursor is None and page.token


def test_a_cursor_resumes_at_its_own_revision(client: Client) -> None:
    _load(client, 6)
    first = client.lookup_resources("document", "view", "user:u001", limit=3)
    assert first.cursor is not None
    client.touch("document:d002x#viewer@user:u001")  # sorts inside the remaining page
    client.delete("group:eng#member@user:u001")  # and takes every other away
    rest = client.lookup_resources("document", "view", "user:u001", cursor=first.cursor)
    assert first.ids + rest.ids == [f"d{i:03d}" for i in range(6)]
    assert rest.token == first.token
    subjects = client.lookup_subjects("document:d001", "view", "user", limit=2)
    client.touch("group:eng#member@user:u001")
    more = client.lookup_subjects("document:d001", "view", "user", cursor=subjects.cursor)
    assert "u001" not in subjects.ids + more.ids  # the cursor's revision predates the re-add


def test_read_and_export_resume_from_cursors(client: Client) -> None:
    _load(client, 12)
    f = RelationshipFilter("document")
    first = client.read_relationships(f, limit=5)
    assert len(first.relationships) == 5
    rest = client.read_relationships(f, cursor=first.cursor)
    everything = client.read_relationships(f)
    assert first.relationships + rest.relationships == everything.relationships
    pages = list(client.export(page_size=10))
    resumed = list(client.export(page_size=10, cursor=pages[0].cursor))
    assert [r for p in pages[1:] for r in p.relationships] == [
        r for p in resumed for r in p.relationships
    ]


def _messages(server: RebacServer, method: str, request: object) -> list[Any]:
    with grpc.insecure_channel(server.address) as channel:
        stub = permission_service_pb2_grpc.PermissionServiceStub(channel)
        return list(getattr(stub, method)(request, timeout=30))


def _users_of(document: str) -> permission_service_pb2.LookupSubjectsRequest:
    return permission_service_pb2.LookupSubjectsRequest(
        store_id="default",
        resource=core_pb2.ObjectReference(object_type="document", object_id=document),
        permission="view",
        subject_object_type="user",
    )


def test_lookups_send_many_results_to_a_message_and_the_end_on_the_last(
    client: Client, server: RebacServer
) -> None:
    from server.services.permissions import RESULTS_PER_MESSAGE

    n = 2 * RESULTS_PER_MESSAGE + 37
    _load(client, n)
    subject = core_pb2.SubjectReference(
        object=core_pb2.ObjectReference(object_type="user", object_id="u001")
    )
    resources = _messages(
        server,
        "LookupResources",
        permission_service_pb2.LookupResourcesRequest(
            store_id="default", resource_object_type="document", permission="view", subject=subject
        ),
    )
    assert [len(m.resources) for m in resources] == [RESULTS_PER_MESSAGE] * 2 + [37]
    assert [m.HasField("end") for m in resources] == [False, False, True]
    ids = [r.resource_object_id for m in resources for r in m.resources]
    assert ids == client.lookup_resources("document", "view", "user:u001").ids
    assert len(set(ids)) == n
    # Every result's cursor resumes right after it, whichever message it came in.
    middle = resources[1].resources[3]
    rest = client.lookup_resources(
        "document", "view", "user:u001", cursor=middle.after_result_cursor.token
    )
    assert rest.ids == ids[RESULTS_PER_MESSAGE + 4 :]
    last = resources[-1]
    assert last.end.complete
    assert last.end.after_result_cursor == last.resources[-1].after_result_cursor
    subjects = _messages(
        server,
        "LookupSubjects",
        _users_of("d001"),
    )
    assert [len(m.subjects) for m in subjects] == [RESULTS_PER_MESSAGE] * 2 + [37]
    assert [m.HasField("end") for m in subjects] == [False, False, True]


def test_a_lookup_without_results_is_one_message_with_the_end(
    client: Client, server: RebacServer
) -> None:
    _load(client, 3)
    [only] = _messages(
        server,
        "LookupSubjects",
        _users_of("nothing"),
    )
    assert len(only.subjects) == 0 and only.end.complete
    assert only.end.looked_up_at.token and not only.end.after_result_cursor.token


def test_read_sends_a_page_of_relationships_to_a_message(
    client: Client, server: RebacServer
) -> None:
    """Read streams its relationships 500 to a message (the store page it fetched), each with
    the cursor that resumes after it, and stops exactly at a limit."""
    _load(client, 1203)  # 1,203 document viewers, 1,203 group members, one wildcard

    def read(limit: int = 0, cursor: str = "") -> list[Any]:
        request = relationship_service_pb2.ReadRequest(
            store_id="default",
            filter=core_pb2.RelationshipFilter(resource_type="document"),
            optional_limit=limit,
            optional_cursor=core_pb2.Cursor(token=cursor) if cursor else None,
        )
        with grpc.insecure_channel(server.address) as channel:
            stub = relationship_service_pb2_grpc.RelationshipServiceStub(channel)
            return list(stub.Read(request, timeout=30))

    everything = read()
    assert [len(m.results) for m in everything] == [READ_PAGE, READ_PAGE, 204]

    def texts(messages: list[Any]) -> list[str]:
        return [
            f"{r.relationship.resource.object_id}#{r.relationship.subject.object.object_id}"
            for m in messages
            for r in m.results
        ]

    assert len({m.read_at.token for m in everything}) == 1
    read_all = texts(everything)
    assert len(set(read_all)) == 1204
    middle = everything[1].results[123]
    assert texts(read(cursor=middle.after_result_cursor.token)) == read_all[READ_PAGE + 124 :]
    limited = read(limit=700)
    assert [len(m.results) for m in limited] == [READ_PAGE, 200]
    assert client.read_relationships(RelationshipFilter("document"), limit=700).cursor == (
        limited[-1].results[-1].after_result_cursor.token
    )
    assert read(limit=0, cursor=limited[-1].results[-1].after_result_cursor.token)
