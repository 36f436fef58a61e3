"""The ONE table from library errors to gRPC status codes and machine-readable reasons.

Every error a caller can cause is a :class:`~rebac.errors.RebacError`; this module decides,
in one place, which gRPC status code and ``reason`` it becomes. The reason travels in a
``google.rpc.ErrorInfo`` (domain ``rebac.dev``) inside the ``grpc-status-details-bin`` trailer,
with metadata a program can use without parsing the message:

* ``type``: the :mod:`rebac.errors` class, so :mod:`rebac.client` raises the same class again;
* ``request_id``: the id the server logged the call under;
* per class: ``field``/``value`` (bad input), ``line``/``column`` (schema text),
  ``max_depth``, ``caveat``.

A user mistake is never INTERNAL. Anything that is not a :class:`RebacError` is a bug: it is
logged with the request id, and the caller gets INTERNAL with only that id (no message, no
traceback, nothing that could leak data or internals).

Codes follow SpiceDB's (see ``shared/REFERENCE.md``) so that its users' retry logic carries over:
a request that can never succeed as sent is INVALID_ARGUMENT; one that could succeed against a
different schema or data is FAILED_PRECONDITION; expired or foreign tokens are OUT_OF_RANGE.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from rebac import errors as e
from rebac.api.v1 import core_pb2 as core

DOMAIN = "rebac.dev"
REQUEST_ID_KEY = "x-request-id"
#: The trailer gRPC defines for a serialized google.rpc.Status.
DETAILS_KEY = "grpc-status-details-bin"
INTERNAL_REASON = "ERROR_REASON_INTERNAL"

log = logging.getLogger("rebac.server")


# -- errors only the server raises ---------------------------------------------------------------


InvalidField = e.InvalidField


class TooManyChecks(e.LimitExceeded):
    """A CheckBulk with more items than the server allows."""

    reason = "ERROR_REASON_TOO_MANY_CHECKS_IN_REQUEST"


DeadlineExceeded = e.DeadlineExceeded


class ServerStopping(e.RebacError):
    """The server is shutting down; long-lived streams (Watch) end with this, resumable."""

    reason = "ERROR_REASON_SERVER_STOPPING"


# -- the table ----------------------------------------------------------------------------------


class Mapping_(NamedTuple):
    code: grpc.StatusCode
    reason: str


_C = grpc.StatusCode

#: RebacError subclass -> (status code, reason). Looked up along the exception's MRO, so a
#: subclass not listed gets its nearest listed ancestor's code; tests require every class of
#: :mod:`rebac.errors` to be listed explicitly.
TABLE: dict[type[e.RebacError], Mapping_] = {
    # bad input: can never succeed as sent
    e.InvalidRequest: Mapping_(_C.INVALID_ARGUMENT, e.InvalidRequest.reason),
    InvalidField: Mapping_(_C.INVALID_ARGUMENT, e.InvalidRequest.reason),
    e.InvalidCaveatContext: Mapping_(_C.INVALID_ARGUMENT, e.InvalidCaveatContext.reason),
    e.LimitExceeded: Mapping_(_C.INVALID_ARGUMENT, e.LimitExceeded.reason),
    e.TooManyUpdates: Mapping_(_C.INVALID_ARGUMENT, e.TooManyUpdates.reason),
    e.TooManyPreconditions: Mapping_(_C.INVALID_ARGUMENT, e.TooManyPreconditions.reason),
    TooManyChecks: Mapping_(_C.INVALID_ARGUMENT, TooManyChecks.reason),
    e.TooManyRelationshipsForDelete: Mapping_(
        _C.INVALID_ARGUMENT, e.TooManyRelationshipsForDelete.reason
    ),
    e.UpdatesOnSameRelationship: Mapping_(_C.INVALID_ARGUMENT, e.UpdatesOnSameRelationship.reason),
    e.SchemaError: Mapping_(_C.INVALID_ARGUMENT, e.SchemaError.reason),
    e.InvalidSubjectType: Mapping_(_C.INVALID_ARGUMENT, e.InvalidSubjectType.reason),
    e.CannotUpdatePermission: Mapping_(_C.INVALID_ARGUMENT, e.CannotUpdatePermission.reason),
    e.CaveatEvaluationError: Mapping_(_C.INVALID_ARGUMENT, e.CaveatEvaluationError.reason),
    e.ValidationFileError: Mapping_(_C.INVALID_ARGUMENT, e.ValidationFileError.reason),
    # could succeed against another schema or other data
    e.SchemaTypeError: Mapping_(_C.FAILED_PRECONDITION, e.SchemaTypeError.reason),
    e.SchemaInUse: Mapping_(_C.FAILED_PRECONDITION, "ERROR_REASON_SCHEMA_IN_USE"),
    e.UnknownDefinition: Mapping_(_C.FAILED_PRECONDITION, e.UnknownDefinition.reason),
    e.UnknownRelation: Mapping_(_C.FAILED_PRECONDITION, e.UnknownRelation.reason),
    e.UnknownCaveat: Mapping_(_C.FAILED_PRECONDITION, e.UnknownCaveat.reason),
    e.PreconditionFailed: Mapping_(_C.FAILED_PRECONDITION, e.PreconditionFailed.reason),
    e.InvalidCursor: Mapping_(_C.FAILED_PRECONDITION, e.InvalidCursor.reason),
    # existence
    e.AlreadyExists: Mapping_(_C.ALREADY_EXISTS, e.AlreadyExists.reason),
    e.StoreAlreadyExists: Mapping_(_C.ALREADY_EXISTS, e.StoreAlreadyExists.reason),
    e.NotFound: Mapping_(_C.NOT_FOUND, e.NotFound.reason),
    e.StoreNotFound: Mapping_(_C.NOT_FOUND, e.StoreNotFound.reason),
    # tokens and revisions
    e.RevisionError: Mapping_(_C.OUT_OF_RANGE, e.RevisionError.reason),
    e.RevisionExpired: Mapping_(_C.OUT_OF_RANGE, e.RevisionExpired.reason),
    # evaluation limits
    e.MaximumDepthExceeded: Mapping_(_C.RESOURCE_EXHAUSTED, e.MaximumDepthExceeded.reason),
    e.CycleDetected: Mapping_(_C.RESOURCE_EXHAUSTED, "ERROR_REASON_CYCLE_DETECTED"),
    DeadlineExceeded: Mapping_(_C.DEADLINE_EXCEEDED, DeadlineExceeded.reason),
    ServerStopping: Mapping_(_C.UNAVAILABLE, ServerStopping.reason),
    # a RebacError nobody listed yet is still the caller's business, never INTERNAL
    e.RebacError: Mapping_(_C.INVALID_ARGUMENT, e.RebacError.reason),
}


def mapping_for(exc: e.RebacError) -> Mapping_:
    """The table entry of ``exc``'s class, or of its nearest listed ancestor."""
    for cls in type(exc).__mro__:
        found = TABLE.get(cls)
        if found is not None:
            return found
    return TABLE[e.RebacError]  # pragma: no cover - RebacError itself is always in the MRO


def library_type(exc: e.RebacError) -> str:
    """The name of the nearest :mod:`rebac.errors` class, for the client to raise again."""
    for cls in type(exc).__mro__:
        if cls.__module__ == e.__name__:
            return cls.__name__
    return e.RebacError.__name__  # pragma: no cover


def error_metadata(exc: e.RebacError) -> dict[str, str]:
    """Structured facts about ``exc`` (ErrorInfo metadata: string to string)."""
    meta = {"type": library_type(exc)}
    if isinstance(exc, InvalidField):
        meta["field"] = exc.field
        meta["value"] = str(exc.value)[:256]
    elif isinstance(exc, e.SchemaError):
        meta.update(line=str(exc.line), column=str(exc.column), message=exc.message)
    elif isinstance(exc, e.MaximumDepthExceeded):
        meta["max_depth"] = str(exc.max_depth)
    elif isinstance(exc, e.CaveatEvaluationError):
        meta.update(caveat=exc.caveat, message=exc.message)
    return meta


class Described(NamedTuple):
    """An error as it goes on the wire (also used for per-item errors of CheckBulk)."""

    code: grpc.StatusCode
    reason: str
    message: str
    metadata: dict[str, str]


def describe(exc: e.RebacError) -> Described:
    code, reason = mapping_for(exc)
    return Described(code, reason, str(exc), error_metadata(exc))


def item_error_out(d: Described) -> core.ItemError:
    """A per-item error of CheckBulk, as it goes on the wire."""
    return core.ItemError(
        code=d.code.value[0], message=d.message, reason=d.reason, metadata=d.metadata
    )


@dataclass(frozen=True, slots=True)
class CallStatus(grpc.Status):
    """A concrete :class:`grpc.Status` (the grpc package only defines the interface)."""

    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


def _status(
    code: grpc.StatusCode, message: str, reason: str, metadata: Mapping[str, str], request_id: str
) -> CallStatus:
    info = error_details_pb2.ErrorInfo(
        reason=reason, domain=DOMAIN, metadata={**metadata, "request_id": request_id}
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    rich = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    # abort_with_status replaces the call's trailing metadata: carry the request id along.
    trailer = ((DETAILS_KEY, rich.SerializeToString()), (REQUEST_ID_KEY, request_id))
    return CallStatus(code, message, trailer)


def status_for(exc: e.RebacError, request_id: str) -> CallStatus:
    """The status (with ErrorInfo details) a call that raised ``exc`` ends with."""
    d = describe(exc)
    return _status(d.code, d.message, d.reason, d.metadata, request_id)


def internal_status(exc: BaseException, request_id: str) -> CallStatus:
    """Log an unexpected exception under ``request_id``; the caller learns only the id."""
    log.error("internal error (request id %s)", request_id, exc_info=exc)
    message = f"internal error; the server logged it under request id {request_id}"
    return _status(grpc.StatusCode.INTERNAL, message, INTERNAL_REASON, {}, request_id)
