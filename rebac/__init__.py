"""rebac: a Zanzibar-style, SpiceDB-compatible relationship-based authorization engine.

The public surface for embedding is small::

    from rebac import Engine
    engine = Engine(schema_text)
    engine.touch("document:d1#viewer@user:alice")
    engine.check("document:d1", "view", "user:alice").allowed
"""

from rebac.engine import Engine, ExpandNode
from rebac.errors import RebacError
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
    SubjectFilter,
    SubjectRef,
)

__all__ = [
    "CheckItem",
    "CheckResult",
    "Engine",
    "ExpandNode",
    "LookupResult",
    "ObjectRef",
    "Operation",
    "Permissionship",
    "Precondition",
    "RebacError",
    "Relationship",
    "RelationshipFilter",
    "RelationshipUpdate",
    "SubjectFilter",
    "SubjectRef",
]
