"""Contextual (request-scoped) relationships through the gRPC API, against a real server.

Every query RPC (Check, CheckBulk, Expand, LookupResources, LookupSubjects) takes them in
``contextual_relationships``: evaluated as if written, never stored; an invalid one is
INVALID_ARGUMENT naming ``contextual_relationships[i]``; more than 1,000 is the engine's
LimitExceeded. The data below is tests/server/conftest.py's ``loaded`` fixture.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

from rebac import errors as e
from rebac.api.v1 import core_pb2, permission_service_pb2, permission_service_pb2_grpc
from rebac.client import Client
from rebac.engine.rules import MAX_CONTEXTUAL_RELATIONSHIPS
from rebac.model import CheckItem, Permissionship, RelationshipFilter
from rebac.revision import Consistency

C = grpc.StatusCode
CLAIM = "group:eng#member@user:zoe"  # zoe's group claim: eng members view readme

FULL = Consistency.fully_consistent()


def _stored(client: Client) -> list[str]:
    return sorted(
        str(r)
        for t in ("group", "document")
        for r in client.read_relationships(RelationshipFilter(resource_type=t)).relationships
    )


# -- evaluated as if written, for that request only ---------------------------------------------


def test_check_counts_a_contextual_relationship_for_that_call_only(loaded: Client) -> None:
    before = _stored(loaded)
    assert loaded.check("document:readme", "view", "user:zoe", contextual=[CLAIM]).allowed
    assert not loaded.check("document:readme", "view", "user:zoe", consistency=FULL).allowed
    assert _stored(loaded) == before  # nothing was written


def test_contextual_relationships_take_part_in_exclusions(loaded: Client) -> None:
    # alice is an eng member; a contextual ban takes her access away, for this call only.
    ban = "document:readme#banned@user:alice"
    assert not loaded.check("document:readme", "view", "user:alice", contextual=[ban]).allowed
    assert loaded.check("document:readme", "view", "user:alice").allowed


def test_contextual_relationships_may_be_caveated_and_carry_context(loaded: Client) -> None:
    rel = "document:readme#viewer@user:zoe[on_weekday]"
    conditional = loaded.check("document:readme", "view", "user:zoe", contextual=[rel])
    assert conditional.permissionship is Permissionship.CONDITIONAL_PERMISSION
    assert conditional.result.missing_context == ("day",)
    monday = loaded.check(
        "document:readme", "view", "user:zoe", {"day": "monday"}, contextual=[rel]
    )
    assert monday.allowed
    # A stored context on the contextual relationship wins over the request's.
    stored = 'document:readme#viewer@user:zoe[on_weekday:{"day":"sunday"}]'
    sunday = loaded.check(
        "document:readme", "view", "user:zoe", {"day": "monday"}, contextual=[stored]
    )
    assert sunday.permissionship is Permissionship.NO_PERMISSION


def test_check_bulk_applies_them_to_every_item(loaded: Client) -> None:
    items = [
        CheckItem("document:readme", "view", "user:zoe"),
        CheckItem("document:readme", "view", "user:yan"),
        CheckItem("document:weekday", "view", "user:zoe", {"day": "monday"}),
    ]
    claims = [CLAIM, "document:weekday#viewer@user:zoe[on_weekday]"]
    got = loaded.check_bulk(items, contextual=claims).results
    assert [r.permissionship for r in got if not isinstance(r, e.RebacError)] == [
        Permissionship.HAS_PERMISSION,
        Permissionship.NO_PERMISSION,
        Permissionship.HAS_PERMISSION,
    ]
    plain = loaded.check_bulk(items).results
    assert all(
        not isinstance(r, e.RebacError) and r.permissionship is Permissionship.NO_PERMISSION
        for r in plain
    )


def test_expand_shows_contextual_subjects_in_its_leaves(loaded: Client) -> None:
    tree = loaded.expand("group:eng", "member", contextual=[CLAIM]).tree
    subjects = {str(s.subject) for leaf in tree.leaves() for s in leaf.subjects}
    assert "user:zoe" in subjects
    plain = loaded.expand("group:eng", "member").tree
    assert "user:zoe" not in {str(s.subject) for leaf in plain.leaves() for s in leaf.subjects}


def test_lookups_see_them(loaded: Client) -> None:
    found = loaded.lookup_resources("document", "view", "user:zoe", contextual=[CLAIM])
    assert found.ids == ["public", "readme"]  # public: everyone (user:*)
    assert loaded.lookup_resources("document", "view", "user:zoe").ids == ["public"]
    subjects = loaded.lookup_subjects("document:readme", "view", "user", contextual=[CLAIM])
    assert "zoe" in subjects.ids
    assert "zoe" not in loaded.lookup_subjects("document:readme", "view", "user").ids


def test_lookups_report_conditional_results_of_caveated_contextual_ones(loaded: Client) -> None:
    rel = "document:readme#viewer@user:zoe[on_weekday]"
    found = loaded.lookup_resources("document", "view", "user:zoe", contextual=[rel])
    assert [(r.id, r.permissionship, r.missing_context) for r in found.results] == [
        ("public", Permissionship.HAS_PERMISSION, ()),
        ("readme", Permissionship.CONDITIONAL_PERMISSION, ("day",)),
    ]


def test_a_lookup_cursor_is_bound_to_its_contextual_relationships(loaded: Client) -> None:
    claims = [CLAIM, "document:weekday#owner@user:zoe"]
    first = loaded.lookup_resources("document", "view", "user:zoe", limit=1, contextual=claims)
    assert first.ids == ["public"] and not first.complete and first.cursor
    rest = loaded.lookup_resources(
        "document", "view", "user:zoe", cursor=first.cursor, contextual=claims
    )
    assert rest.ids == ["readme", "weekday"]
    with pytest.raises(e.InvalidCursor):
        loaded.lookup_resources("document", "view", "user:zoe", cursor=first.cursor)
    with pytest.raises(e.InvalidCursor):
        loaded.lookup_resources(
            "document", "view", "user:zoe", cursor=first.cursor, contextual=claims[:1]
        )
    # Order does not matter: the same set of relationships resumes.
    again = loaded.lookup_resources(
        "document", "view", "user:zoe", cursor=first.cursor, contextual=claims[::-1]
    )
    assert again.ids == ["readme", "weekday"]


def test_lookup_subjects_cursor_is_bound_too(loaded: Client) -> None:
    claims = [CLAIM, "group:eng#member@user:yan"]
    first = loaded.lookup_subjects("document:readme", "view", "user", limit=1, contextual=claims)
    assert first.cursor
    with pytest.raises(e.InvalidCursor):
        loaded.lookup_subjects("document:readme", "view", "user", cursor=first.cursor)


# -- errors -------------------------------------------------------------------------------------


Query = Callable[[Client, list[str]], Any]

QUERIES: dict[str, Query] = {
    "check": lambda c, rels: c.check("document:readme", "view", "user:zoe", contextual=rels),
    "check_bulk": lambda c, rels: c.check_bulk(
        [CheckItem("document:readme", "view", "user:zoe")], contextual=rels
    ),
    "expand": lambda c, rels: c.expand("document:readme", "view", contextual=rels),
    "lookup_resources": lambda c, rels: c.lookup_resources(
        "document", "view", "user:zoe", contextual=rels
    ),
    "lookup_subjects": lambda c, rels: c.lookup_subjects(
        "document:readme", "view", "user", contextual=rels
    ),
}


def _refused(call: Callable[[], Any], code: grpc.StatusCode, cls: type[e.RebacError]) -> Any:
    with pytest.raises(cls) as info:
        call()
    exc = info.value
    assert exc.grpc_code is code, str(exc)  # type: ignore[attr-defined]
    return exc


@pytest.mark.parametrize("query", sorted(QUERIES))
@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        # a subject type the relation does not allow
        ("group:eng#member@document:readme", "not allowed on relation 'group#member'"),
        # an unknown relation (FAILED_PRECONDITION for a write; here the request is invalid)
        ("group:eng#leader@user:zoe", "relation 'leader' not found"),
        # an unknown definition
        ("team:eng#member@user:zoe", "object definition 'team' not found"),
        # a permission cannot be written, so it cannot be a contextual relationship either
        ("document:readme#view@user:zoe", "only relations can be written"),
        # a caveat the relation does not allow, and one the schema does not have
        ("group:eng#member@user:zoe[on_weekday]", "not allowed"),
        ("document:readme#viewer@user:zoe[nope]", "caveat 'nope' not found"),
        # a stored context of the wrong type
        ('document:readme#viewer@user:zoe[on_weekday:{"day":1}]', "day"),
    ],
)
def test_an_invalid_one_is_invalid_argument_naming_its_index(
    loaded: Client, query: str, bad: str, problem: str
) -> None:
    rels = [CLAIM, bad]
    exc = _refused(lambda: QUERIES[query](loaded, rels), C.INVALID_ARGUMENT, e.InvalidRequest)
    assert exc.details["field"] == "contextual_relationships[1]"
    assert "contextual_relationships[1]: " in str(exc)
    assert problem in str(exc)


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_a_malformed_one_names_the_field_inside_it(loaded: Client, query: str) -> None:
    """Form errors come from the conversion (before the schema is looked at), with the path."""
    stub = permission_service_pb2_grpc.PermissionServiceStub(loaded.channel)
    bad = core_pb2.Relationship(
        resource=core_pb2.ObjectReference(object_type="document", object_id="bad id!"),
        relation="viewer",
        subject=core_pb2.SubjectReference(
            object=core_pb2.ObjectReference(object_type="user", object_id="zoe")
        ),
    )
    requests: dict[str, tuple[Any, Any]] = {
        "check": (
            stub.Check,
            permission_service_pb2.CheckRequest(
                store_id="default",
                resource=core_pb2.ObjectReference(object_type="document", object_id="readme"),
                permission="view",
                subject=core_pb2.SubjectReference(
                    object=core_pb2.ObjectReference(object_type="user", object_id="zoe")
                ),
                contextual_relationships=[bad],
            ),
        ),
        "check_bulk": (
            stub.CheckBulk,
            permission_service_pb2.CheckBulkRequest(
                store_id="default", contextual_relationships=[bad]
            ),
        ),
        "expand": (
            stub.Expand,
            permission_service_pb2.ExpandRequest(
                store_id="default",
                resource=core_pb2.ObjectReference(object_type="document", object_id="readme"),
                permission="view",
                contextual_relationships=[bad],
            ),
        ),
        "lookup_resources": (
            stub.LookupResources,
            permission_service_pb2.LookupResourcesRequest(
                store_id="default",
                resource_object_type="document",
                permission="view",
                subject=core_pb2.SubjectReference(
                    object=core_pb2.ObjectReference(object_type="user", object_id="zoe")
                ),
                contextual_relationships=[bad],
            ),
        ),
        "lookup_subjects": (
            stub.LookupSubjects,
            permission_service_pb2.LookupSubjectsRequest(
                store_id="default",
                resource=core_pb2.ObjectReference(object_type="document", object_id="readme"),
                permission="view",
                subject_object_type="user",
                contextual_relationships=[bad],
            ),
        ),
    }
    method, request = requests[query]
    with pytest.raises(grpc.RpcError) as info:
        result = method(request, timeout=10)
        if query.startswith("lookup"):
            list(result)  # a stream fails when read
    call = info.value
    assert isinstance(call, grpc.Call)
    assert call.code() is C.INVALID_ARGUMENT
    assert call.details().startswith("contextual_relationships[0].resource.object_id: ")


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_more_than_the_limit_is_the_engines_limit_error(loaded: Client, query: str) -> None:
    many = [f"group:eng#member@user:u{i}" for i in range(MAX_CONTEXTUAL_RELATIONSHIPS + 1)]
    exc = _refused(lambda: QUERIES[query](loaded, many), C.INVALID_ARGUMENT, e.LimitExceeded)
    assert exc.reason == e.LimitExceeded.reason
    assert f"limit {MAX_CONTEXTUAL_RELATIONSHIPS}" in str(exc)
    assert "contextual_relationships" in str(exc)


def test_exactly_the_limit_is_accepted(loaded: Client) -> None:
    many = [f"group:eng#member@user:u{i}" for i in range(MAX_CONTEXTUAL_RELATIONSHIPS)]
    assert loaded.check("document:readme", "view", "user:u999", contextual=many).allowed


def test_an_invalid_one_fails_a_bulk_check_as_a_whole(loaded: Client) -> None:
    """Not one error per item: the request as sent can never succeed."""
    items = [CheckItem("document:readme", "view", "user:alice")] * 3
    _refused(
        lambda: loaded.check_bulk(items, contextual=["group:eng#nope@user:zoe"]),
        C.INVALID_ARGUMENT,
        e.InvalidRequest,
    )
