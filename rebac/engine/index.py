"""In-memory relationship indexes: what the evaluator walks instead of issuing queries.

Two views of the same relationships:

* by resource -- ``resource_type`` -> ``relation`` -> ``resource_id`` -> a :data:`Slot` holding
  the subjects of that ``resource#relation``, for check, expand and lookup-subjects, which walk
  from a resource towards its subjects;
* by subject object -- ``subject_type`` -> ``subject_id`` -> ``(resource_type, relation,
  subject_relation)`` -> the resource ids, for lookup-resources and the membership walks, which
  walk backwards.

Names are keyed one level at a time rather than by tuples: they are interned strings, so a
lookup is a hash already cached and an identity compare, where a tuple key would be built and
hashed on every lookup.

Memory is the constraint that shapes this module: millions of relationships, most of them plain
(no caveat, no expiration) and most resources with only a few subjects per relation. So

* a plain relationship stores no per-relationship object at all: its :class:`Edge` is the
  shared :data:`PLAIN`;
* a small, plain ``resource#relation`` is a tuple of subject keys (a "small slot"); it becomes
  a dict of groups (``(subject_type, subject_relation)`` -> ``subject_id`` -> Edge) once it holds
  more than :data:`SMALL` subjects or any caveated or expiring one, so that wide nodes keep O(1)
  membership tests and the evaluator can skip whole groups of subjects;
* the by-subject side likewise keeps a tuple of resource ids until it grows;
* identifiers are interned, and each subject key tuple exists once, shared by every slot that
  names it.

Expiration is kept as a float POSIX timestamp so that "is it expired?" is one float comparison.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Iterator, Mapping
from typing import Any, Final, NamedTuple, TypeAlias, TypeVar

from mypy_extensions import mypyc_attr

from rebac.model import Relationship

INF: Final = float("inf")
#: Subjects a slot (or resource ids a by-subject entry) holds as a tuple before it becomes a dict.
SMALL: Final = 8


class Edge(NamedTuple):
    """What a stored relationship carries besides its key."""

    caveat: str | None
    context: Mapping[str, Any] | None
    expires: float  # POSIX seconds; ``INF`` when the relationship never expires


#: The edge of every relationship without caveat or expiration (shared, never copied).
PLAIN: Final = Edge(None, None, INF)

SubjectKey: TypeAlias = tuple[str, str, str | None]  # (type, id, relation or None)
#: A subject key handed around as the very tuple stored in slots. Typed ``Any`` on purpose: a
#: compiled build (mypyc, see setup.py) unpacks a fixed-length tuple into a C struct and
#: boxes a new tuple when storing it, which would lose the sharing (memory) and the identity
#: that makes ``key in slot`` cheap.
SharedKey: TypeAlias = Any
K = TypeVar("K")
V = TypeVar("V")
GroupKey: TypeAlias = tuple[str, str | None]  # (subject type, subject relation or None)
Groups: TypeAlias = dict[GroupKey, dict[str, Edge]]
#: A small plain slot (tuple of subject keys) or a dict of groups.
Slot: TypeAlias = tuple[SubjectKey, ...] | Groups
#: ``(resource_type, relation, subject_relation)``: how a subject is used.
UseKey: TypeAlias = tuple[str, str, str | None]
#: Resource ids using a subject one way: a tuple while small and plain, else id -> Edge.
Uses: TypeAlias = tuple[str, ...] | dict[str, Edge]


@mypyc_attr(native_class=False)  # a compiled build keeps it a plain tuple subclass
class SetsSlot(tuple[SubjectKey, ...]):
    """A small slot holding at least one subject set. A plain ``tuple`` slot holds objects
    and wildcards only, so the checker answers it with one ``in`` test and no loop."""

    __slots__ = ()


def edge_of(rel: Relationship) -> Edge:
    if rel.caveat_name is None and rel.expires_at is None:
        return PLAIN
    exp = rel.expires_at.timestamp() if rel.expires_at is not None else INF
    ctx = dict(rel.caveat_context) if rel.caveat_context else None
    return Edge(rel.caveat_name, ctx, exp)


def groups_of(slot: Slot | None) -> Groups:
    """A slot as groups (a fresh dict for a small slot): for the paths that are not hot."""
    if slot is None:
        return {}
    if not isinstance(slot, tuple):
        return slot
    out: Groups = {}
    for st, sid, srel in slot:
        out.setdefault((st, srel), {})[sid] = PLAIN
    return out


def slot_edges(slot: Slot | None) -> Iterator[tuple[SubjectKey, Edge]]:
    """Every ``(subject key, edge)`` of a slot."""
    if slot is None:
        return
    if isinstance(slot, tuple):
        for key in slot:
            yield key, PLAIN
        return
    for (st, srel), group in slot.items():
        for sid, e in group.items():
            yield (st, sid, srel), e


def use_edges(uses: Uses) -> Iterator[tuple[str, Edge]]:
    """Every ``(resource id, edge)`` of a by-subject entry."""
    if type(uses) is tuple:
        for rid in uses:
            yield rid, PLAIN
    else:
        yield from uses.items()  # type: ignore[union-attr]


class IndexView:
    """What the evaluators read: a :class:`RelationshipIndex` or an :class:`OverlayIndex`.

    A base class rather than a Protocol: a compiled build (setup.py) calls a base class's
    methods directly, where a Protocol's go through Python's generic call machinery, about a
    thousand instructions a call on the check path.
    """

    __slots__ = ()

    def subject_key(self, st: str, sid: str, srel: str | None) -> SharedKey:
        raise NotImplementedError

    def slot(self, resource_type: str, resource_id: str, relation: str) -> Slot | None:
        raise NotImplementedError

    def node(self, resource_type: str, resource_id: str, relation: str) -> Groups:
        """The subjects of ``resource#relation`` as groups (not for hot paths)."""
        return groups_of(self.slot(resource_type, resource_id, relation))

    def resources_of_subject(self, subject_type: str, subject_id: str) -> dict[UseKey, Uses]:
        """``(resource_type, relation, subject_relation) -> resource ids`` (see :data:`Uses`);
        read-only for the caller. A dict, not a Mapping, so that compiled callers read it
        directly."""
        raise NotImplementedError


class RelationshipIndex(IndexView):
    """A mutable set of relationships with the two indexes kept in step.

    Not thread-safe on its own: writers are serialised by the owner (the engine / store), and
    readers see a consistent index because the owner locks around writes.
    """

    __slots__ = (
        "_by_subject",
        "_count",
        "_expiries",
        "_holders",
        "_keys",
        "_object_keys",
        "nodes",
    )

    def __init__(self) -> None:
        # Finite expiration times, as a heap: when the next one passes, answers may change
        # without any write (see next_expiry). Deleted edges leave entries behind, which only
        # makes next_expiry earlier than it needs to be.
        self._expiries: list[float] = []
        #: (resource_type, relation) -> resource_id -> slot. Read directly by the checker.
        #: Keyed by type, then relation (not by a (type, relation) tuple, which a lookup
        #: would have to build and hash): strings are interned, so each step is cheap.
        self.nodes: dict[str, dict[str, dict[str, Slot]]] = {}
        # subject_type -> subject_id -> uses: two lookups of interned strings, which cost
        # less than building and hashing a (type, id) tuple per lookup.
        self._by_subject: dict[str, dict[str, dict[UseKey, Uses]]] = {}
        # The one tuple of each subject key in use (shared by every slot naming it): for
        # objects by type then id (subject_key is asked once per checked subject), for
        # subject sets by the key itself.
        self._object_keys: dict[str, dict[str, SharedKey]] = {}
        self._keys: dict[SubjectKey, SharedKey] = {}
        # holders() answers, by resource type, then relations.
        self._holders: dict[str, dict[tuple[str, ...], tuple[dict[str, Slot], ...]]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def subject_key(self, st: str, sid: str, srel: str | None) -> SharedKey:
        """The shared key tuple of a subject (a new tuple if no relationship names it)."""
        if srel is None:
            of_type = self._object_keys.get(st)
            shared = None if of_type is None else of_type.get(sid)
            return (st, sid, None) if shared is None else shared
        key = (st, sid, srel)
        return self._keys.get(key, key)

    # -- writes -------------------------------------------------------------------------------

    def add(self, rel: Relationship) -> bool:
        """Insert or replace ``rel`` (same key: caveat/expiration replaced). True if new."""
        r, s = rel.resource, rel.subject
        intern = sys.intern
        rt, rid, relation = intern(r.type), intern(r.id), intern(rel.relation)
        st, sid = intern(s.type), intern(s.id)
        srel = None if s.relation is None else intern(s.relation)
        edge = edge_of(rel)
        if edge.expires != INF:
            heapq.heappush(self._expiries, edge.expires)
        shared: SharedKey
        if srel is None:
            keys = _inner(self._object_keys, st)
            shared = keys.get(sid)
            if shared is None:
                shared = (st, sid, None)  # boxed once (SharedKey), then stored as is
                keys[sid] = shared
        else:
            skey: SharedKey = (st, sid, srel)
            shared = self._keys.get(skey)
            if shared is None:
                shared = self._keys[skey] = skey
        is_new = _slot_put(self.holder(rt, relation), rid, shared, edge)
        by_use = _inner(_inner(self._by_subject, st), sid)
        _uses_put(by_use, (rt, relation, srel), rid, edge)
        if is_new:
            self._count += 1
        return is_new

    def remove(self, rel: Relationship) -> bool:
        """Delete the relationship with ``rel``'s key. True if it was present."""
        r, s = rel.resource, rel.subject
        relations = self.nodes.get(r.type)
        nodes = None if relations is None else relations.get(rel.relation)
        if nodes is None or not _slot_pop(nodes, r.id, (s.type, s.id, s.relation)):
            return False
        # An emptied dict stays: flattened entries hold on to it (see holder()).
        of_type = self._by_subject[s.type]
        by_use = of_type[s.id]
        ukey = (r.type, rel.relation, s.relation)
        _uses_pop(by_use, ukey, r.id)
        if not any(k[2] == s.relation for k in by_use):  # no slot names the key any more
            if s.relation is None:
                self._object_keys[s.type].pop(s.id, None)
            else:
                self._keys.pop((s.type, s.id, s.relation), None)
        if not by_use:
            del of_type[s.id]  # (the per-type dict stays, like holders)
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
        return _slot_get(self.slot(r.type, r.id, rel.relation), s.type, s.id, s.relation)

    # -- reads used by the evaluator ----------------------------------------------------------

    def holder(self, resource_type: str, relation: str) -> dict[str, Slot]:
        """The dict of slots of ``resource_type#relation``, created if need be; it is never
        replaced or dropped, so a reference to it stays valid across writes."""
        return _inner(_inner(self.nodes, resource_type), relation)

    def holders(
        self, resource_type: str, relations: tuple[str, ...]
    ) -> tuple[dict[str, Slot], ...]:
        """:meth:`holder` of each of ``relations``, as one tuple kept for the next caller (the
        checker reads an object's own relations through it on every check)."""
        of_type = _inner(self._holders, resource_type)
        found = of_type.get(relations)
        if found is None:
            found = of_type[relations] = tuple(self.holder(resource_type, r) for r in relations)
        return found

    def slot(self, resource_type: str, resource_id: str, relation: str) -> Slot | None:
        of_type = self.nodes.get(resource_type)
        if of_type is None:
            return None
        nodes = of_type.get(relation)
        return None if nodes is None else nodes.get(resource_id)

    def resources_of_subject(self, subject_type: str, subject_id: str) -> dict[UseKey, Uses]:
        of_type = self._by_subject.get(subject_type)
        if of_type is None:
            return _NO_USES
        return of_type.get(subject_id, _NO_USES)


def _inner(outer: dict[str, dict[K, V]], key: str) -> dict[K, V]:
    """``outer[key]``, created empty when missing: a step into the two-level dicts."""
    inner = outer.get(key)
    if inner is None:
        inner = outer[key] = {}
    return inner


#: What resources_of_subject answers for a subject used nowhere (shared; never written to).
_NO_USES: Final[dict[UseKey, Uses]] = {}


def _slot_get(slot: Slot | None, st: str, sid: str, srel: str | None) -> Edge | None:
    if slot is None:
        return None
    if isinstance(slot, tuple):
        return PLAIN if (st, sid, srel) in slot else None
    group = slot.get((st, srel))
    return None if group is None else group.get(sid)


def _small(keys: tuple[SubjectKey, ...]) -> tuple[SubjectKey, ...]:
    """A small slot of ``keys``: a :class:`SetsSlot` when one of them is a subject set."""
    for key in keys:
        if key[2] is not None:
            return SetsSlot(keys)
    return keys


def _slot_put(nodes: dict[str, Slot], rid: str, key: SharedKey, edge: Edge) -> bool:
    """Put ``key`` with ``edge`` into the slot of ``rid``; True if the key was not there."""
    slot = nodes.get(rid)
    if slot is None:
        if edge is PLAIN:
            nodes[rid] = _small((key,))
        else:
            nodes[rid] = {(key[0], key[2]): {key[1]: edge}}
        return True
    if isinstance(slot, tuple):
        if key in slot:
            if edge is PLAIN:
                return False
            slot = nodes[rid] = groups_of(slot)
        elif edge is PLAIN and len(slot) < SMALL:
            nodes[rid] = _small((*slot, key))
            return True
        else:
            slot = nodes[rid] = groups_of(slot)
    group = slot.get((key[0], key[2]))
    if group is None:
        group = slot[(key[0], key[2])] = {}
    is_new = key[1] not in group
    group[key[1]] = edge
    return is_new


def _slot_pop(nodes: dict[str, Slot], rid: str, key: SubjectKey) -> bool:
    slot = nodes.get(rid)
    if slot is None:
        return False
    if isinstance(slot, tuple):
        if key not in slot:
            return False
        kept: tuple[SharedKey, ...] = slot
        rest = tuple(k for k in kept if k != key)
        if rest:
            nodes[rid] = _small(rest)
        else:
            del nodes[rid]
        return True
    group = slot.get((key[0], key[2]))
    if group is None or group.pop(key[1], None) is None:
        return False
    if not group:
        del slot[(key[0], key[2])]
        if not slot:
            del nodes[rid]
    return True


def _uses_put(by_use: dict[UseKey, Uses], ukey: UseKey, rid: str, edge: Edge) -> None:
    uses = by_use.get(ukey)
    if uses is None:
        by_use[ukey] = (rid,) if edge is PLAIN else {rid: edge}
        return
    if type(uses) is tuple:
        if rid in uses and edge is PLAIN:
            return
        if edge is PLAIN and len(uses) < SMALL:
            by_use[ukey] = (*uses, rid)
            return
        uses = by_use[ukey] = dict.fromkeys(uses, PLAIN)
    uses[rid] = edge  # type: ignore[index]


def _uses_pop(by_use: dict[UseKey, Uses], ukey: UseKey, rid: str) -> None:
    uses = by_use[ukey]
    if isinstance(uses, tuple):
        rest = tuple(r for r in uses if r != rid)
        if rest:
            by_use[ukey] = rest
        else:
            del by_use[ukey]
        return
    del uses[rid]
    if not uses:
        del by_use[ukey]


class OverlayIndex(IndexView):
    """Stored relationships plus request-scoped (contextual) ones, merged on read.

    Contextual relationships are evaluated as if written but never stored: the overlay is
    built per request and merges only the nodes it touches, so the stored index is never
    copied or changed. An edge in ``extra`` replaces a stored edge with the same key.
    """

    __slots__ = ("_base", "_extra")

    def __init__(self, base: IndexView, extra: RelationshipIndex):
        self._base = base
        self._extra = extra

    def subject_key(self, st: str, sid: str, srel: str | None) -> SharedKey:
        return (st, sid, srel)

    def slot(self, resource_type: str, resource_id: str, relation: str) -> Slot | None:
        top = self._extra.slot(resource_type, resource_id, relation)
        below = self._base.slot(resource_type, resource_id, relation)
        if top is None:
            return below
        if below is None:
            return top
        merged: Groups = {k: dict(v) for k, v in groups_of(below).items()}
        for k, group in groups_of(top).items():
            merged.setdefault(k, {}).update(group)
        return merged

    def resources_of_subject(self, subject_type: str, subject_id: str) -> dict[UseKey, Uses]:
        top = self._extra.resources_of_subject(subject_type, subject_id)
        below = self._base.resources_of_subject(subject_type, subject_id)
        if not top:
            return below
        if not below:
            return top
        merged: dict[UseKey, Uses] = {k: dict(use_edges(v)) for k, v in below.items()}
        for k, uses in top.items():
            have = merged.get(k)
            if have is None:
                merged[k] = dict(use_edges(uses))
            else:
                have.update(use_edges(uses))  # type: ignore[union-attr]
        return merged
