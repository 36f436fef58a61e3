"""In-memory relationship indexes: what the evaluator walks instead of issuing queries.

Two views of the same relationships:

* by resource -- ``(resource_type, resource_id, relation)`` -> :class:`Node`, for check, expand and
  lookup-subjects, which walk from a resource towards its subjects;
* by subject object -- ``(subject_type, subject_id)`` -> ``(resource_type, relation)`` ->
  ``{(resource_id, subject_relation): Edge}``, for lookup-resources, which walks backwards.

An :class:`Edge` is a plain tuple (fast to build and unpack on the hot path). Expiration is kept
as a float POSIX timestamp so that "is it expired?" is one float comparison per edge.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from rebac.model import Relationship

INF = float("inf")


class Edge(NamedTuple):
    """One stored relationship seen from its resource node."""

    subject_type: str
    subject_id: str
    subject_relation: str | None
    caveat: str | None
    context: Mapping[str, Any] | None
    expires: float  # POSIX seconds; ``INF`` when the relationship never expires


class Node:
    """All relationships of one ``resource#relation``.

    ``edges`` answers "is this exact subject here?" in O(1); ``groups`` groups the same edges by
    ``(subject_type, subject_relation)`` so that the evaluator can skip whole groups the schema
    says cannot lead to the subject, and iterate only subject sets (never a list of users).
    """

    __slots__ = ("edges", "groups")

    def __init__(self) -> None:
        self.edges: dict[tuple[str, str, str | None], Edge] = {}
        self.groups: dict[tuple[str, str | None], dict[str, Edge]] = {}


EMPTY_NODE = Node()


def edge_of(rel: Relationship) -> Edge:
    s = rel.subject
    exp = rel.expires_at.timestamp() if rel.expires_at is not None else INF
    ctx = dict(rel.caveat_context) if rel.caveat_context else None
    return Edge(s.type, s.id, s.relation, rel.caveat_name, ctx, exp)


class RelationshipIndex:
    """A mutable set of relationships with the two indexes kept in step.

    Not thread-safe on its own: writers are serialised by the owner (the engine / store), and
    readers see a consistent index because the owner swaps or locks around writes.
    """

    __slots__ = ("_by_resource", "_by_subject", "_count", "_expiries")

    def __init__(self) -> None:
        # Finite expiration times, as a heap: when the next one passes, answers may change
        # without any write (see next_expiry). Deleted edges leave entries behind, which only
        # makes next_expiry earlier than it needs to be.
        self._expiries: list[float] = []
        self._by_resource: dict[tuple[str, str, str], Node] = {}
        self._by_subject: dict[
            tuple[str, str], dict[tuple[str, str], dict[tuple[str, str | None], Edge]]
        ] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    # -- writes -------------------------------------------------------------------------------

    def add(self, rel: Relationship) -> bool:
        """Insert or replace ``rel`` (same key: caveat/expiration replaced). True if new."""
        r, s = rel.resource, rel.subject
        edge = edge_of(rel)
        if edge.expires != INF:
            heapq.heappush(self._expiries, edge.expires)
        nkey = (r.type, r.id, rel.relation)
        node = self._by_resource.get(nkey)
        if node is None:
            node = self._by_resource[nkey] = Node()
        skey = (s.type, s.id, s.relation)
        is_new = skey not in node.edges
        node.edges[skey] = edge
        group = node.groups.get((s.type, s.relation))
        if group is None:
            group = node.groups[(s.type, s.relation)] = {}
        group[s.id] = edge
        by_rt = self._by_subject.setdefault((s.type, s.id), {})
        by_rt.setdefault((r.type, rel.relation), {})[(r.id, s.relation)] = edge
        if is_new:
            self._count += 1
        return is_new

    def remove(self, rel: Relationship) -> bool:
        """Delete the relationship with ``rel``'s key. True if it was present."""
        r, s = rel.resource, rel.subject
        nkey = (r.type, r.id, rel.relation)
        node = self._by_resource.get(nkey)
        if node is None or node.edges.pop((s.type, s.id, s.relation), None) is None:
            return False
        group = node.groups[(s.type, s.relation)]
        del group[s.id]
        if not group:
            del node.groups[(s.type, s.relation)]
        if not node.edges:
            del self._by_resource[nkey]
        by_rt = self._by_subject[(s.type, s.id)]
        inner = by_rt[(r.type, rel.relation)]
        del inner[(r.id, s.relation)]
        if not inner:
            del by_rt[(r.type, rel.relation)]
            if not by_rt:
                del self._by_subject[(s.type, s.id)]
        self._count -= 1
        return True

    def next_expiry(self, now: float) -> float:
        """The first moment after ``now`` at which a stored relationship expires (or INF)."""
        heap = self._expiries
        while heap and heap[0] <= now:
            heapq.heappop(heap)
        return heap[0] if heap else INF

    def get(self, rel: Relationship) -> Edge | None:
        r, s = rel.resource, rel.subject
        node = self._by_resource.get((r.type, r.id, rel.relation))
        return None if node is None else node.edges.get((s.type, s.id, s.relation))

    # -- reads used by the evaluator ----------------------------------------------------------

    def node(self, resource_type: str, resource_id: str, relation: str) -> Node:
        return self._by_resource.get((resource_type, resource_id, relation), EMPTY_NODE)

    def resources_of_subject(
        self, subject_type: str, subject_id: str
    ) -> Mapping[tuple[str, str], Mapping[tuple[str, str | None], Edge]]:
        """``(resource_type, relation) -> {(resource_id, subject_relation): edge}``."""
        return self._by_subject.get((subject_type, subject_id), {})


class IndexView(Protocol):
    """What the evaluators read: a :class:`RelationshipIndex` or an :class:`OverlayIndex`."""

    def node(self, resource_type: str, resource_id: str, relation: str) -> Node: ...

    def resources_of_subject(
        self, subject_type: str, subject_id: str
    ) -> Mapping[tuple[str, str], Mapping[tuple[str, str | None], Edge]]: ...


class OverlayIndex:
    """Stored relationships plus request-scoped (contextual) ones, merged on read.

    Contextual relationships are evaluated as if written but never stored: the overlay is
    built per request and merges only the nodes it touches, so the stored index is never
    copied or changed. An edge in ``extra`` replaces a stored edge with the same key.
    """

    __slots__ = ("_base", "_extra")

    def __init__(self, base: IndexView, extra: RelationshipIndex):
        self._base = base
        self._extra = extra

    def node(self, resource_type: str, resource_id: str, relation: str) -> Node:
        top = self._extra.node(resource_type, resource_id, relation)
        below = self._base.node(resource_type, resource_id, relation)
        if top is EMPTY_NODE:
            return below
        if below is EMPTY_NODE:
            return top
        merged = Node()
        merged.edges = {**below.edges, **top.edges}
        merged.groups = {k: dict(v) for k, v in below.groups.items()}
        for k, group in top.groups.items():
            merged.groups.setdefault(k, {}).update(group)
        return merged

    def resources_of_subject(
        self, subject_type: str, subject_id: str
    ) -> Mapping[tuple[str, str], Mapping[tuple[str, str | None], Edge]]:
        top = self._extra.resources_of_subject(subject_type, subject_id)
        below = self._base.resources_of_subject(subject_type, subject_id)
        if not top:
            return below
        if not below:
            return top
        merged: dict[tuple[str, str], dict[tuple[str, str | None], Edge]] = {
            k: dict(v) for k, v in below.items()
        }
        for k, entries in top.items():
            merged.setdefault(k, {}).update(entries)
        return merged
