"""The one exception family the engine raises.

Every error a caller can cause is a :class:`RebacError` subclass with a stable ``reason``
(a machine-readable code, mirroring SpiceDB's ``ERROR_REASON_*`` names) so that the server can map
it to a gRPC status in one table, and the CLI can print it without a traceback.

Hierarchy::

    RebacError
    ├── SchemaError              schema text does not parse or type-check (line, column)
    ├── InvalidRequest           malformed input: bad identifier, bad relationship text, ...
    │   ├── InvalidField         one request field is missing or malformed (names it)
    │   ├── InvalidCaveatContext context value has the wrong type / is too large
    │   ├── LimitExceeded        too many updates, preconditions, items, ...
    │   │   ├── TooManyUpdates / TooManyPreconditions
    │   │   └── TooManyRelationshipsForDelete   delete limit hit without allow_partial
    │   ├── UpdatesOnSameRelationship   one write touches a relationship twice
    │   └── InvalidCursor        malformed, tampered cursor, or reused with another query
    ├── NotFound                 no schema, unknown store
    │   └── StoreNotFound        unknown or deleted store (the two are indistinguishable)
    ├── UnknownDefinition        a definition the schema does not have
    ├── UnknownRelation          a relation/permission the definition does not have
    ├── UnknownCaveat
    ├── InvalidSubjectType       a relationship whose subject the relation does not allow
    ├── AlreadyExists            CREATE of an existing relationship
    │   └── StoreAlreadyExists   create_store of a store id in use
    ├── PreconditionFailed       a write precondition did not hold
    ├── RevisionError            malformed, foreign or expired consistency token / cursor
    │   └── RevisionExpired      a revision older than the GC window (OutOfRange)
    ├── MaximumDepthExceeded     evaluation went deeper than the configured limit
    ├── CycleDetected            the answer depends on a cycle in the data
    ├── CaveatEvaluationError    a caveat expression failed at run time
    ├── DeadlineExceeded         the request's deadline passed during evaluation
    ├── SchemaInUse              a schema change would orphan stored relationships
    └── ValidationFileError      a validation file cannot be loaded
"""

from __future__ import annotations


class RebacError(Exception):
    """Base class. ``reason`` is stable and machine-readable; ``str()`` is for humans."""

    reason: str = "ERROR_REASON_UNSPECIFIED"


class SchemaError(RebacError):
    """Schema text that does not parse or does not type-check.

    ``line`` and ``column`` are 1-based and point at the offending token; ``message`` quotes it.
    """

    reason = "ERROR_REASON_SCHEMA_PARSE_ERROR"

    def __init__(self, message: str, line: int, column: int, *, source: str | None = None):
        self.message = message
        self.line = line
        self.column = column
        self.source = source
        super().__init__(f"{message} (line {line}, column {column})")

    def format(self, filename: str | None = None) -> str:
        """``file:line:col: message``, the form compilers and editors understand."""
        name = filename or self.source or "<schema>"
        return f"{name}:{self.line}:{self.column}: {self.message}"


class SchemaTypeError(SchemaError):
    """A schema that parses but refers to things that do not exist or cannot be combined."""

    reason = "ERROR_REASON_SCHEMA_TYPE_ERROR"


class InvalidRequest(RebacError):
    reason = "ERROR_REASON_INVALID_ARGUMENT"


class InvalidField(InvalidRequest):
    """A request field that is missing or malformed; names the field and quotes the value."""

    def __init__(self, field: str, value: object, problem: str):
        self.field = field
        self.value = value
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{field}: {problem} (got {shown})")


class InvalidCaveatContext(InvalidRequest):
    reason = "ERROR_REASON_CAVEAT_PARAMETER_TYPE_ERROR"


class LimitExceeded(InvalidRequest):
    reason = "ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT"


class NotFound(RebacError):
    reason = "ERROR_REASON_NOT_FOUND"


class UnknownDefinition(RebacError):
    reason = "ERROR_REASON_UNKNOWN_DEFINITION"


class UnknownRelation(RebacError):
    reason = "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION"


class UnknownCaveat(RebacError):
    reason = "ERROR_REASON_UNKNOWN_CAVEAT"


class InvalidSubjectType(RebacError):
    reason = "ERROR_REASON_INVALID_SUBJECT_TYPE"


class CannotUpdatePermission(InvalidSubjectType):
    reason = "ERROR_REASON_CANNOT_UPDATE_PERMISSION"


class AlreadyExists(RebacError):
    reason = "ERROR_REASON_ATTEMPT_TO_RECREATE_RELATIONSHIP"


class PreconditionFailed(RebacError):
    reason = "ERROR_REASON_WRITE_OR_DELETE_PRECONDITION_FAILURE"


class RevisionError(RebacError):
    reason = "ERROR_REASON_INVALID_REVISION"


class MaximumDepthExceeded(RebacError):
    """Evaluation needed more than ``max_depth`` nested dispatches.

    Never turned into a "no": a depth error inside the subtracted side of an exclusion would
    otherwise grant access.
    """

    reason = "ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED"

    def __init__(self, max_depth: int, path: tuple[str, ...] = ()):
        self.max_depth = max_depth
        self.path = path
        tail = " -> ".join(path[-6:])
        where = f"; last hops: {tail}" if tail else ""
        super().__init__(f"maximum depth {max_depth} exceeded{where}")


class CycleDetected(RebacError):
    """The answer depends on a cycle in the relationships (e.g. through an exclusion)."""

    reason = "ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED"

    def __init__(self, cycle: tuple[str, ...]):
        self.cycle = cycle
        super().__init__("the answer depends on a cycle: " + " -> ".join(cycle))


class DeadlineExceeded(RebacError):
    """The request's deadline passed during evaluation; the work was stopped."""

    reason = "ERROR_REASON_DEADLINE_EXCEEDED"


class CaveatEvaluationError(RebacError):
    """A caveat expression failed at run time (e.g. a missing map key, division by zero) and
    the failure was not absorbed by ``&&`` / ``||``."""

    reason = "ERROR_REASON_CAVEAT_EVALUATION_ERROR"

    def __init__(self, caveat: str, message: str):
        self.caveat = caveat
        self.message = message
        super().__init__(f"caveat '{caveat}': evaluation error: {message}")


class SchemaInUse(RebacError):
    """A schema change refused because stored relationships still use what it removes."""

    reason = "ERROR_REASON_SCHEMA_TYPE_ERROR"


class ValidationFileError(RebacError):
    reason = "ERROR_REASON_INVALID_VALIDATION_FILE"


# -- store errors (rebac.store) -------------------------------------------------------------------


class TooManyUpdates(LimitExceeded):
    reason = "ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST"


class TooManyPreconditions(LimitExceeded):
    reason = "ERROR_REASON_TOO_MANY_PRECONDITIONS_IN_REQUEST"


class TooManyRelationshipsForDelete(LimitExceeded):
    """A delete with a limit matched more rows and partial deletion was not allowed."""

    reason = "ERROR_REASON_TOO_MANY_RELATIONSHIPS_FOR_TRANSACTIONAL_DELETE"


class UpdatesOnSameRelationship(InvalidRequest):
    reason = "ERROR_REASON_UPDATES_ON_SAME_RELATIONSHIP"


class InvalidCursor(InvalidRequest):
    """A cursor that does not decode, was altered, or belongs to another query or store."""

    reason = "ERROR_REASON_INVALID_CURSOR"


class StoreNotFound(NotFound):
    """Unknown store. Same message for "never existed" and "deleted": tenants cannot probe."""

    reason = "ERROR_REASON_STORE_NOT_FOUND"


class StoreAlreadyExists(AlreadyExists):
    reason = "ERROR_REASON_STORE_ALREADY_EXISTS"


class RevisionExpired(RevisionError):
    """A revision (or token, or cursor) older than the store's garbage-collection window."""

    reason = "ERROR_REASON_REVISION_EXPIRED"
