"""A small typed Python client for a rebac server.

::

    from rebac.client import Client
    with Client("127.0.0.1:50051", "default") as client:
        token = client.write_schema(SCHEMA)
        token = client.touch("document:readme#viewer@user:alice")
        answer = client.check("document:readme", "view", "user:alice",
                              consistency=Consistency.at_least_as_fresh(token))
        answer.allowed   # True

Values go in and come out as :mod:`rebac.model` types (strings in their canonical text form
are accepted wherever a reference is expected); every query result carries the consistency
token of the revision it was answered at, every write returns the token of its revision.

Errors are the same :class:`~rebac.errors.RebacError` subclasses the engine raises in-process,
rebuilt from the server's status details (``google.rpc.ErrorInfo``, domain ``rebac.dev``), with
``grpc_code``, ``reason``, ``request_id`` and ``details`` attached. Failures that are not the
engine's (server unreachable, deadline, authentication) raise :class:`RpcError` subclasses.

The protobuf mapping is :mod:`rebac.api.convert`, shared with the server so both ends agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2

from rebac import errors
from rebac.api import convert as cv
from rebac.api.v1 import core_pb2 as core
from rebac.api.v1 import permission_service_pb2 as perm
from rebac.api.v1 import permission_service_pb2_grpc as perm_grpc
from rebac.api.v1 import relationship_service_pb2 as rels
from rebac.api.v1 import relationship_service_pb2_grpc as rels_grpc
from rebac.api.v1 import schema_service_pb2 as schema_pb
from rebac.api.v1 import schema_service_pb2_grpc as schema_grpc
from rebac.api.v1 import store_service_pb2 as stores
from rebac.api.v1 import store_service_pb2_grpc as stores_grpc
from rebac.api.v1 import watch_service_pb2 as watch_pb
from rebac.api.v1 import watch_service_pb2_grpc as watch_grpc
from rebac.engine.expand import ExpandNode
from rebac.model import (
    CheckItem,
    CheckResult,
    LookupResult,
    ObjectRef,
    Operation,
    Permissionship,
    Precondition,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
    SubjectRef,
)
from rebac.revision import Consistency
from rebac.schema.diff import SchemaChange

DOMAIN = "rebac.dev"
_DETAILS_KEY = "grpc-status-details-bin"
_T = TypeVar("_T")

# -- errors that are not the engine's -------------------------------------------------------------


class RpcError(errors.RebacError):
    """A call failed for a reason outside the engine (transport, deadline, auth, internal)."""

    reason = "ERROR_REASON_RPC"

    def __init__(self, message: str, code: grpc.StatusCode, request_id: str = ""):
        super().__init__(message)
        self.grpc_code = code
        self.request_id = request_id


class Unavailable(RpcError):
    """Server unreachable or shutting down: safe to retry (elsewhere)."""


class DeadlineExceeded(RpcError):
    pass


class Cancelled(RpcError):
    pass


class Unauthenticated(RpcError):
    pass


class PermissionDenied(RpcError):
    pass


class InternalError(RpcError):
    """A server bug; quote ``request_id`` to whoever runs the server."""


_BY_CODE: dict[grpc.StatusCode, type[RpcError]] = {
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.INTERNAL: InternalError,
}


def _error_info(call: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    trailers: Sequence[tuple[str, str | bytes]] = (
        call.trailing_metadata() or () if isinstance(call, grpc.Call) else ()
    )
    for key, value in trailers:
        if key == _DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info) and info.domain == DOMAIN:
                    return info
    return None


def _rebuild(
    cls: type[errors.RebacError], message: str, meta: Mapping[str, str]
) -> errors.RebacError:
    """An instance of ``cls`` carrying the server's message (constructors differ by class)."""
    exc: errors.RebacError
    if issubclass(cls, errors.SchemaError):
        exc = cls(
            meta.get("message", message), int(meta.get("line", 0)), int(meta.get("column", 0))
        )
    elif issubclass(cls, errors.MaximumDepthExceeded):
        exc = cls(int(meta.get("max_depth", 0)))
    elif issubclass(cls, errors.CycleDetected):
        exc = cls(())
    elif issubclass(cls, errors.CaveatEvaluationError):
        exc = cls(meta.get("caveat", ""), meta.get("message", message))
    elif issubclass(cls, errors.InvalidField):
        exc = cls(meta.get("field", ""), meta.get("value", ""), "invalid")
    else:
        exc = cls(message)
    exc.args = (message,)
    return exc


def error_from_rpc(call: grpc.RpcError) -> errors.RebacError:
    """The exception a failed call stands for (see the module docstring)."""
    code = call.code() if isinstance(call, grpc.Call) else grpc.StatusCode.UNKNOWN
    message = (call.details() if isinstance(call, grpc.Call) else None) or str(code)
    info = _error_info(call)
    meta = dict(info.metadata) if info is not None else {}
    request_id = meta.get("request_id", "")
    cls = getattr(errors, meta.get("type", ""), None)
    exc: errors.RebacError
    if (
        isinstance(cls, type)
        and issubclass(cls, errors.RebacError)
        and cls is not errors.RebacError
        and code not in _BY_CODE
    ):
        exc = _rebuild(cls, message, meta)
    else:
        exc = _BY_CODE.get(code, RpcError)(message, code, request_id)
    exc.grpc_code = code  # type: ignore[attr-defined]
    exc.request_id = request_id  # type: ignore[attr-defined]
    exc.details = meta  # type: ignore[attr-defined]
    if info is not None:
        exc.reason = info.reason
    return exc


def _raise(call: grpc.RpcError) -> NoReturn:
    raise error_from_rpc(call) from None


# -- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checked:
    """A check's answer and the token of the revision it was computed at."""

    result: CheckResult
    token: str

    @property
    def allowed(self) -> bool:
        return self.result.allowed

    @property
    def permissionship(self) -> Permissionship:
        return self.result.permissionship


@dataclass(frozen=True, slots=True)
class CheckedBulk:
    results: list[CheckResult | errors.RebacError]
    token: str


@dataclass(frozen=True, slots=True)
class Expanded:
    tree: ExpandNode
    token: str


@dataclass(frozen=True, slots=True)
class LookupPage:
    """Results in id order; ``complete`` is False when more follow (resume with ``cursor``)."""

    results: list[LookupResult]
    complete: bool
    cursor: str | None
    token: str

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.results]


@dataclass(frozen=True, slots=True)
class ReadPage:
    relationships: list[Relationship]
    cursor: str | None
    token: str


@dataclass(frozen=True, slots=True)
class Deleted:
    count: int
    complete: bool
    token: str


@dataclass(frozen=True, slots=True)
class Imported:
    loaded: int
    token: str


@dataclass(frozen=True, slots=True)
class SchemaRead:
    text: str
    token: str


@dataclass(frozen=True, slots=True)
class SchemaDiff:
    changes: list[SchemaChange]
    token: str


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One revision's changes (or a checkpoint); ``token`` resumes the watch after it."""

    token: str
    touched: list[Relationship] = field(default_factory=list)
    deleted: list[Relationship] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    schema_updated: bool = False
    checkpoint: bool = False


# -- conversions the client needs on top of rebac.api.convert--------------------------------------


def _object(value: ObjectRef | str) -> core.ObjectReference:
    return cv.object_out(value if isinstance(value, ObjectRef) else ObjectRef.parse(value))


def _subject(value: SubjectRef | str) -> core.SubjectReference:
    return cv.subject_out(value if isinstance(value, SubjectRef) else SubjectRef.parse(value))


def _relationship(value: Relationship | str) -> Relationship:
    return value if isinstance(value, Relationship) else Relationship.parse(value)


def _consistency(value: Consistency | None) -> core.Consistency | None:
    return cv.consistency_out(value)


def _cursor(value: str | None) -> core.Cursor | None:
    return cv.cursor_out(value)


def _relationship_in(message: core.Relationship) -> Relationship:
    return cv.relationship_in(message, "relationship")


def _contextual(values: Iterable[Relationship | str]) -> list[core.Relationship]:
    return cv.contextual_out(_relationship(v) for v in values)


# -- the client ------------------------------------------------------------------------------------


class Client:
    """One connection to a rebac server, scoped to one store.

    ``timeout`` is the default deadline of every call (seconds; None: the server's default
    applies); ``metadata`` is sent with every call (e.g. an ``authorization`` header).
    """

    def __init__(
        self,
        target: str,
        store_id: str = "default",
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        channel: grpc.Channel | None = None,
        max_message_bytes: int = 4 * 1024 * 1024,
    ):
        self.store_id = store_id
        self.timeout = timeout
        self.metadata = tuple(metadata)
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ]
        self.channel = channel or grpc.insecure_channel(target, options=options)
        self._perm = perm_grpc.PermissionServiceStub(self.channel)
        self._rels = rels_grpc.RelationshipServiceStub(self.channel)
        self._schema = schema_grpc.SchemaServiceStub(self.channel)
        self._watch = watch_grpc.WatchServiceStub(self.channel)
        self._stores = stores_grpc.StoreServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _t(self, timeout: float | None) -> float | None:
        return self.timeout if timeout is None else timeout

    def _unary(self, method: Any, request: Any, timeout: float | None) -> Any:
        try:
            return method(request, timeout=self._t(timeout), metadata=self.metadata)
        except grpc.RpcError as call:
            _raise(call)

    def _stream(self, method: Any, request: Any, timeout: float | None) -> Iterator[Any]:
        """Messages of a server stream; closing the iterator early cancels the call."""
        call = method(request, timeout=self._t(timeout), metadata=self.metadata)
        try:
            yield from call
        except grpc.RpcError as exc:
            _raise(exc)
        finally:
            call.cancel()

    # -- permissions --------------------------------------------------------------------------

    def check(
        self,
        resource: ObjectRef | str,
        permission: str,
        subject: SubjectRef | str,
        context: Mapping[str, Any] | None = None,
        *,
        contextual: Iterable[Relationship | str] = (),
        consistency: Consistency | None = None,
        timeout: float | None = None,
    ) -> Checked:
        """Does ``subject`` have ``permission`` on ``resource``?

        ``contextual`` relationships (e.g. the caller's group claims) count as if written, for
        this call only; the server validates them like writes and never stores them.
        """
        request = perm.CheckRequest(
            store_id=self.store_id,
            consistency=_consistency(consistency),
            resource=_object(resource),
            permission=permission,
            subject=_subject(subject),
            context=cv.struct_out(context),
            contextual_relationships=_contextual(contextual),
        )
        r: perm.CheckResponse = self._unary(self._perm.Check, request, timeout)
        return Checked(
            cv.check_result_in(r.permissionship, r.partial_caveat_info), r.checked_at.token
        )

    def check_bulk(
        self,
        items: Iterable[CheckItem],
        *,
        contextual: Iterable[Relationship | str] = (),
        consistency: Consistency | None = None,
        timeout: float | None = None,
    ) -> CheckedBulk:
        """Every item at one revision; ``contextual`` relationships apply to all of them (an
        invalid one fails the whole call, not each item)."""
        request = perm.CheckBulkRequest(
            store_id=self.store_id,
            consistency=_consistency(consistency),
            contextual_relationships=_contextual(contextual),
            items=[
                perm.CheckBulkRequestItem(
                    resource=_object(i.resource),
                    permission=i.permission,
                    subject=_subject(i.subject),
                    context=cv.struct_out(i.context),
                )
                for i in items
            ],
        )
        r: perm.CheckBulkResponse = self._unary(self._perm.CheckBulk, request, timeout)
        results: list[CheckResult | errors.RebacError] = []
        for pair in r.pairs:
            if pair.WhichOneof("response") == "error":
                e = pair.error
                cls = getattr(errors, e.metadata.get("type", ""), errors.RebacError)
                exc = _rebuild(cls, e.message, e.metadata)
                exc.reason = e.reason
                results.append(exc)
            else:
                results.append(
                    cv.check_result_in(pair.item.permissionship, pair.item.partial_caveat_info)
                )
        return CheckedBulk(results, r.checked_at.token)

    def expand(
        self,
        resource: ObjectRef | str,
        permission: str,
        *,
        recursive: bool = False,
        contextual: Iterable[Relationship | str] = (),
        consistency: Consistency | None = None,
        timeout: float | None = None,
    ) -> Expanded:
        """The userset tree, with ``contextual`` relationships in its leaves as if written."""
        request = perm.ExpandRequest(
            store_id=self.store_id,
            consistency=_consistency(consistency),
            resource=_object(resource),
            permission=permission,
            recursive=recursive,
            contextual_relationships=_contextual(contextual),
        )
        r: perm.ExpandResponse = self._unary(self._perm.Expand, request, timeout)
        return Expanded(cv.expand_in(r.tree_root), r.expanded_at.token)

    def _lookup_page(
        self,
        method: Any,
        request: Any,
        timeout: float | None,
        items: Callable[[Any], Iterable[Any]],
        one: Callable[[Any], LookupResult],
    ) -> LookupPage:
        """Collect a lookup stream into a page: the results of every message, then the end
        (completeness, cursor and token) that the last message carries."""
        results: list[LookupResult] = []
        for m in self._stream(method, request, timeout):
            results.extend(one(item) for item in items(m))
            if m.HasField("end"):
                end = m.end
                return LookupPage(
                    results,
                    end.complete,
                    end.after_result_cursor.token or None,
                    end.looked_up_at.token,
                )
        raise Unavailable(
            "the lookup stream ended without its end message", grpc.StatusCode.UNAVAILABLE
        )

    def lookup_resources(
        self,
        resource_type: str,
        permission: str,
        subject: SubjectRef | str,
        context: Mapping[str, Any] | None = None,
        *,
        limit: int = 0,
        cursor: str | None = None,
        contextual: Iterable[Relationship | str] = (),
        consistency: Consistency | None = None,
        timeout: float | None = None,
    ) -> LookupPage:
        """One page (``limit`` results; 0: all) of the resources ``subject`` can reach.

        A cursor is bound to the ``contextual`` relationships it was issued with: pass the
        same ones to resume.
        """
        request = perm.LookupResourcesRequest(
            store_id=self.store_id,
            consistency=_consistency(consistency),
            resource_object_type=resource_type,
            permission=permission,
            subject=_subject(subject),
            context=cv.struct_out(context),
            optional_limit=limit,
            optional_cursor=_cursor(cursor),
            contextual_relationships=_contextual(contextual),
        )

        def one(r: perm.LookedUpResource) -> LookupResult:
            return cv.lookup_result_in(
                r.permissionship,
                r.partial_caveat_info.missing_required_context,
                r.resource_object_id,
            )

        def items(m: perm.LookupResourcesResponse) -> Iterable[perm.LookedUpResource]:
            return m.resources

        return self._lookup_page(self._perm.LookupResources, request, timeout, items, one)

    def lookup_subjects(
        self,
        resource: ObjectRef | str,
        permission: str,
        subject_type: str,
        subject_relation: str | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        include_wildcards: bool = True,
        limit: int = 0,
        cursor: str | None = None,
        contextual: Iterable[Relationship | str] = (),
        consistency: Consistency | None = None,
        timeout: float | None = None,
    ) -> LookupPage:
        """One page of the subjects with ``permission`` (a wildcard is id ``*``); resume with
        the same ``contextual`` relationships the cursor was issued with."""
        option = (
            perm.LookupSubjectsRequest.WILDCARD_OPTION_INCLUDE_WILDCARDS
            if include_wildcards
            else perm.LookupSubjectsRequest.WILDCARD_OPTION_EXCLUDE_WILDCARDS
        )
        request = perm.LookupSubjectsRequest(
            store_id=self.store_id,
            consistency=_consistency(consistency),
            resource=_object(resource),
            permission=permission,
            subject_object_type=subject_type,
            optional_subject_relation=subject_relation or "",
            context=cv.struct_out(context),
            optional_limit=limit,
            optional_cursor=_cursor(cursor),
            wildcard_option=option,
            contextual_relationships=_contextual(contextual),
        )

        def one(s: perm.LookedUpSubject) -> LookupResult:
            excluded = tuple(cv.resolved_subject_in(x) for x in s.excluded_subjects)
            base = cv.resolved_subject_in(s.subject)
            return LookupResult(base.id, base.permissionship, base.missing_context, excluded)

        def items(m: perm.LookupSubjectsResponse) -> Iterable[perm.LookedUpSubject]:
            return m.subjects

        return self._lookup_page(self._perm.LookupSubjects, request, timeout, items, one)

    # -- relationships ------------------------------------------------------------------------

    def write(
        self,
        updates: Iterable[RelationshipUpdate],
        preconditions: Iterable[Precondition] = (),
        metadata: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> str:
        """Apply ``updates`` atomically; returns the token of the new revision."""
        request = rels.WriteRequest(
            store_id=self.store_id,
            updates=[cv.update_out(u) for u in updates],
            optional_preconditions=[cv.precondition_out(p) for p in preconditions],
            optional_transaction_metadata=cv.struct_out(metadata),
        )
        r: rels.WriteResponse = self._unary(self._rels.Write, request, timeout)
        return r.written_at.token

    def touch(self, *relationships: Relationship | str) -> str:
        return self.write(
            RelationshipUpdate(Operation.TOUCH, _relationship(r)) for r in relationships
        )

    def create(self, *relationships: Relationship | str) -> str:
        return self.write(
            RelationshipUpdate(Operation.CREATE, _relationship(r)) for r in relationships
        )

    def delete(self, *relationships: Relationship | str) -> str:
        return self.write(
            RelationshipUpdate(Operation.DELETE, _relationship(r)) for r in relationships
        )

    def delete_relationships(
        self,
        filter: RelationshipFilter,
        *,
        limit: int = 0,
        allow_partial: bool = False,
        preconditions: Iterable[Precondition] = (),
        metadata: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Deleted:
        request = rels.DeleteRequest(
            store_id=self.store_id,
            filter=cv.filter_out(filter),
            optional_preconditions=[cv.precondition_out(p) for p in preconditions],
            optional_limit=limit,
            optional_allow_partial_deletions=allow_partial,
            optional_transaction_metadata=cv.struct_out(metadata),
        )
        r: rels.DeleteResponse = self._unary(self._rels.Delete, request, timeout)
        complete = r.deletion_progress != rels.DeleteResponse.DELETION_PROGRESS_PARTIAL
        return Deleted(r.relationships_deleted_count, complete, r.deleted_at.token)

    def read_relationships(
        self,
        filter: RelationshipFilter,
        *,
        limit: int = 0,
        cursor: str | None = None,
        consistency: Consistency | None = None,
        timeout: float | None = None,
    ) -> ReadPage:
        request = rels.ReadRequest(
            store_id=self.store_id,
            consistency=_consistency(consistency),
            filter=cv.filter_out(filter),
            optional_limit=limit,
            optional_cursor=_cursor(cursor),
        )
        found: list[Relationship] = []
        last: str | None = None
        token = ""
        for m in self._stream(self._rels.Read, request, timeout):
            for result in m.results:
                found.append(_relationship_in(result.relationship))
                last = result.after_result_cursor.token
            token = m.read_at.token
        return ReadPage(found, last, token)

    def import_relationships(
        self, batches: Iterable[Iterable[Relationship | str]], *, timeout: float | None = None
    ) -> Imported:
        """Create every relationship in one transaction (fails if any already exists)."""

        def requests() -> Iterator[rels.ImportRequest]:
            for batch in batches:
                yield rels.ImportRequest(
                    store_id=self.store_id,
                    relationships=[cv.relationship_out(_relationship(r)) for r in batch],
                )

        r: rels.ImportResponse = self._unary(self._rels.Import, requests(), timeout)
        return Imported(r.num_loaded, r.written_at.token)

    def export(
        self,
        filter: RelationshipFilter | None = None,
        *,
        page_size: int = 0,
        cursor: str | None = None,
        consistency: Consistency | None = None,
        timeout: float | None = None,
    ) -> Iterator[ReadPage]:
        """Pages of relationships at one revision; each page's cursor resumes after it."""
        request = rels.ExportRequest(
            store_id=self.store_id,
            consistency=_consistency(consistency),
            optional_limit=page_size,
            optional_cursor=_cursor(cursor),
            optional_filter=None if filter is None else cv.filter_out(filter),
        )
        for m in self._stream(self._rels.Export, request, timeout):
            yield ReadPage(
                [_relationship_in(r) for r in m.relationships],
                m.after_result_cursor.token or None,
                m.exported_at.token,
            )

    # -- schema -------------------------------------------------------------------------------

    def write_schema(self, text: str, *, timeout: float | None = None) -> str:
        request = schema_pb.WriteSchemaRequest(store_id=self.store_id, schema=text)
        r: schema_pb.WriteSchemaResponse = self._unary(self._schema.WriteSchema, request, timeout)
        return r.written_at.token

    def read_schema(
        self, *, consistency: Consistency | None = None, timeout: float | None = None
    ) -> SchemaRead:
        request = schema_pb.ReadSchemaRequest(
            store_id=self.store_id, consistency=_consistency(consistency)
        )
        r: schema_pb.ReadSchemaResponse = self._unary(self._schema.ReadSchema, request, timeout)
        return SchemaRead(r.schema_text, r.read_at.token)

    def diff_schema(
        self,
        comparison: str,
        *,
        consistency: Consistency | None = None,
        timeout: float | None = None,
    ) -> SchemaDiff:
        request = schema_pb.DiffSchemaRequest(
            store_id=self.store_id,
            consistency=_consistency(consistency),
            comparison_schema=comparison,
        )
        r: schema_pb.DiffSchemaResponse = self._unary(self._schema.DiffSchema, request, timeout)
        return SchemaDiff([cv.schema_diff_in(d) for d in r.diffs], r.read_at.token)

    # -- watch --------------------------------------------------------------------------------

    def watch(
        self,
        start_token: str | None = None,
        *,
        object_types: Sequence[str] = (),
        filters: Sequence[RelationshipFilter] = (),
        relationships: bool = True,
        schema: bool = False,
        checkpoints: bool = False,
        timeout: float | None = None,
    ) -> Iterator[WatchEvent]:
        """Changes after ``start_token`` (None: from now on), in revision order, until the
        iterator is closed (which cancels the call)."""
        kinds = [
            kind
            for kind, wanted in (
                (watch_pb.WatchRequest.KIND_RELATIONSHIP_UPDATES, relationships),
                (watch_pb.WatchRequest.KIND_SCHEMA_UPDATES, schema),
                (watch_pb.WatchRequest.KIND_CHECKPOINTS, checkpoints),
            )
            if wanted
        ]
        request = watch_pb.WatchRequest(
            store_id=self.store_id,
            optional_object_types=object_types,
            optional_relationship_filters=[cv.filter_out(f) for f in filters],
            optional_start_cursor=None if start_token is None else cv.token_out(start_token),
            optional_update_kinds=kinds,
        )
        for m in self._stream(self._watch.Watch, request, timeout):
            touched = [
                _relationship_in(u.relationship)
                for u in m.updates
                if u.operation == watch_pb.RelationshipChange.OPERATION_TOUCH
            ]
            deleted = [
                _relationship_in(u.relationship)
                for u in m.updates
                if u.operation == watch_pb.RelationshipChange.OPERATION_DELETE
            ]
            metadata = (
                cv.struct_in(m.optional_transaction_metadata)
                if m.HasField("optional_transaction_metadata")
                else None
            )
            yield WatchEvent(
                m.changes_through.token,
                touched,
                deleted,
                metadata,
                m.schema_updated,
                m.is_checkpoint,
            )

    # -- stores (admin) -----------------------------------------------------------------------

    def create_store(self, store_id: str | None = None, *, timeout: float | None = None) -> str:
        request = stores.CreateStoreRequest(store_id=store_id or self.store_id)
        r: stores.CreateStoreResponse = self._unary(self._stores.CreateStore, request, timeout)
        return r.store_id

    def list_stores(self, *, timeout: float | None = None) -> list[str]:
        r: stores.ListStoresResponse = self._unary(
            self._stores.ListStores, stores.ListStoresRequest(), timeout
        )
        return list(r.store_ids)

    def delete_store(self, store_id: str | None = None, *, timeout: float | None = None) -> None:
        request = stores.DeleteStoreRequest(store_id=store_id or self.store_id)
        self._unary(self._stores.DeleteStore, request, timeout)

    def for_store(self, store_id: str) -> Client:
        """A client for another store over the same connection."""
        other = Client.__new__(Client)
        other.__dict__.update(self.__dict__)
        other.store_id = store_id
        return other


__all__ = [
    "Cancelled",
    "Checked",
    "CheckedBulk",
    "Client",
    "DeadlineExceeded",
    "Deleted",
    "Expanded",
    "Imported",
    "InternalError",
    "LookupPage",
    "PermissionDenied",
    "ReadPage",
    "RpcError",
    "SchemaDiff",
    "SchemaRead",
    "Unauthenticated",
    "Unavailable",
    "WatchEvent",
    "error_from_rpc",
]
