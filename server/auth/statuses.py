"""The statuses the auth layer ends calls with, built in one place.

Each carries a ``google.rpc.ErrorInfo`` (domain ``rebac.dev``) with a stable reason and the
request id, in the same ``grpc-status-details-bin`` trailer :mod:`server.errors` uses, so
:mod:`rebac.client` reads them like any other error. Messages are constant or deterministic:
every authentication failure gets :data:`UNAUTHENTICATED_MESSAGE`, whatever went wrong.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from rebac.errors import StoreNotFound
from server.auth.stepup import MESSAGE as STEP_UP_MESSAGE
from server.auth.stepup import REASON as STEP_UP_REASON
from server.auth.stepup import StepUpPolicy
from server.errors import DETAILS_KEY, DOMAIN, REQUEST_ID_KEY, CallStatus
from server.interceptors import current_request_id

#: The one message every authentication failure gets, whatever the reason.
UNAUTHENTICATED_MESSAGE = "authentication failed: a valid credential is required"
UNAUTHENTICATED_REASON = "ERROR_REASON_UNAUTHENTICATED"
MISSING_SCOPE_REASON = "ERROR_REASON_MISSING_SCOPE"
STORE_NOT_GRANTED_REASON = "ERROR_REASON_STORE_NOT_GRANTED"
AUDIT_UNAVAILABLE_REASON = "ERROR_REASON_AUDIT_UNAVAILABLE"


def rich_status(
    code: grpc.StatusCode,
    message: str,
    reason: str,
    metadata: dict[str, str],
    extra_trailers: tuple[tuple[str, str], ...] = (),
) -> CallStatus:
    """A status with an ErrorInfo detail and the request id, like :mod:`server.errors` makes."""
    request_id = current_request_id()
    info = error_details_pb2.ErrorInfo(
        reason=reason, domain=DOMAIN, metadata={**metadata, "request_id": request_id}
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    rich = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    trailers: tuple[tuple[str, str | bytes], ...] = (
        (DETAILS_KEY, rich.SerializeToString()),
        (REQUEST_ID_KEY, request_id),
        *extra_trailers,
    )
    return CallStatus(code, message, trailers)


def unauthenticated() -> CallStatus:
    return rich_status(
        grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE, UNAUTHENTICATED_REASON, {}
    )


def missing_scope(method: str, scope: str) -> CallStatus:
    return rich_status(
        grpc.StatusCode.PERMISSION_DENIED,
        f"permission denied: {method} requires scope '{scope}'",
        MISSING_SCOPE_REASON,
        {"required_scope": scope},
    )


def not_served(method: str) -> CallStatus:
    """A method the scope table does not know: refused to everyone (fail closed)."""
    return rich_status(
        grpc.StatusCode.PERMISSION_DENIED,
        f"{method} has no scope defined; it is not served",
        MISSING_SCOPE_REASON,
        {},
    )


def store_not_granted(store_id: str) -> CallStatus:
    """Creating a store the token does not name (every other call gets :func:`store_not_found`)."""
    return rich_status(
        grpc.StatusCode.PERMISSION_DENIED,
        f"permission denied: the token does not grant store {store_id!r}",
        STORE_NOT_GRANTED_REASON,
        {},
    )


def store_not_found(store_id: str) -> StoreNotFound:
    """Exactly what the datastore raises for a store that does not exist (tested byte for
    byte), so a store of another tenant cannot be told from no store at all."""
    return StoreNotFound(f"store {store_id!r} not found")


def audit_unavailable() -> CallStatus:
    return rich_status(
        grpc.StatusCode.UNAVAILABLE,
        "the audit log cannot be written; admin actions are refused until it can",
        AUDIT_UNAVAILABLE_REASON,
        {},
    )


def step_up_required(policy: StepUpPolicy) -> CallStatus:
    """RFC 9470's challenge as a gRPC status: what is required is in the details."""
    return rich_status(
        grpc.StatusCode.UNAUTHENTICATED,
        STEP_UP_MESSAGE,
        STEP_UP_REASON,
        policy.challenge(),
        (("www-authenticate", policy.www_authenticate()),),
    )
