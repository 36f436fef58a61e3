"""Flattening: a permission built only of unions and arrows, as the list of stored slots it reads.

``folder.view = viewer + parent->view`` asks, for one folder, the ``viewer`` slots of the folder
and of every ancestor. Which slots those are depends on the relationships but not on the
subject, so it is computed once per revision and shared by every check that reaches the folder
(the subproblems below a checked resource -- folders, projects, organisations -- are exactly the
ones many checks share). A check then reads a few slots instead of dispatching up the chain.

Only *flat* members qualify, decided from the schema alone:

* the expression is made of unions, relations, permissions and ``.any`` arrows (no
  intersection, exclusion, ``.all``, ``self`` or ``nil``): the answer is plain reachability, so a
  visited set is an exact treatment of cycles;
* every relation read is a *leaf*: its subjects are objects, wildcards or pure subject sets
  (answered from the subject's memberships without dispatching), so reading a slot never
  recurses;
* every arrow target and referenced permission is flat or a leaf relation.

The walk gives up (the caller then evaluates normally) on a caveated tupleset relationship,
past :data:`FLAT_LIMIT` nodes, or when it would go deeper than the depth limit allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from rebac.engine.index import INF, PLAIN, RelationshipIndex, Slot, slot_edges
from rebac.schema import ast

#: Nodes one flattening may visit before it gives up.
FLAT_LIMIT: Final = 256
#: Entries a per-revision cache holds, per member, before it starts over.
CACHE_LIMIT: Final = 50_000


@dataclass(frozen=True)
class FlatMember:
    """What evaluating a flat member reads on its own object."""

    relations: tuple[str, ...]  # leaf relations of the same object
    permissions: tuple[str, ...]  # flat permissions of the same object
    arrows: tuple[tuple[str, str], ...]  # (tupleset relation, target member)


#: Where one slot lives: the index's dict for a ``(type, relation)`` and the object id. The
#: slot itself is looked up at check time, so an entry stays valid when slots change.
SlotRef = tuple[dict[str, Slot], str]


class Flattened:
    """The slots a flat member reads at one revision, for one object: its own (``holders``
    at ``rid``), those in ``reads``, then those of ``up``.

    A chain -- a folder with one parent -- is its own holders plus a link to its parent's
    entry: built without copying the ancestors' slots, however deep the tree, and without a
    pair per own slot (``holders`` is the index's shared tuple). A walk (several parents, a
    cycle) lists all its slots in ``reads``. A plain class, not a NamedTuple: a compiled
    build constructs it directly, where a NamedTuple goes through Python code.
    """

    __slots__ = ("depth", "holders", "reads", "rid", "size", "until", "up")

    def __init__(
        self,
        reads: tuple[SlotRef, ...],
        up: Flattened | None,
        depth: int,
        until: float,
        holders: tuple[dict[str, Slot], ...] = (),
        rid: str = "",
    ) -> None:
        self.reads = reads
        self.up = up
        self.depth = depth  # the longest chain of nested members walked (the depth limit's)
        self.until = until  # when the first tupleset relationship followed expires
        self.holders = holders
        self.rid = rid
        self.size: int = len(holders) + len(reads) + (0 if up is None else up.size)

    def refs(self) -> list[SlotRef]:
        """Every slot read, in order (for the paths that are not hot)."""
        out: list[SlotRef] = []
        entry: Flattened | None = self
        while entry is not None:
            out.extend((held, entry.rid) for held in entry.holders)
            out.extend(entry.reads)
            entry = entry.up
        return out


#: What a member is to the checker's flat paths (FlatStep.kind).
OTHER: Final = 0  # neither of the below: evaluated by dispatch, or it reads nothing
LEAF: Final = 1  # a leaf relation: one slot read
FLAT: Final = 2  # a flat member

#: The parents' holder of a member that is not climbed (never written to).
_NO_SLOTS: Final[dict[str, Slot]] = {}


class FlatStep:
    """Member ``type#name`` as the checker's flat paths read it on one index: what it is,
    the index dicts of its own relations and of its arrows, and its cached entries.

    Made once per member and revision (FlatCache.step) from the plan and the index, whose
    dicts are never replaced: a check then finds everything about a member it reaches with
    one lookup, where it would otherwise ask the plan what the member is, and the index for
    each dict, at every object it visits.
    """

    __slots__ = ("arrows", "climb", "holders", "ids", "kind", "parents", "permissions", "target")

    def __init__(
        self,
        kind: int,
        member: FlatMember | None,
        holders: tuple[dict[str, Slot], ...],
        arrows: tuple[tuple[dict[str, Slot], str], ...],
        ids: dict[str, Flattened | None],
    ) -> None:
        self.kind = kind
        #: the slots of its own leaf relations (a leaf: its one holder), by object id
        self.holders = holders
        #: the flat permissions of the same object it reads
        self.permissions: tuple[str, ...] = () if member is None else member.permissions
        #: (the tupleset relation's slots by object id, the target member), per arrow
        self.arrows = arrows
        #: its flattened entries by object id (FlatCache.of)
        self.ids = ids
        #: a chain a checker can climb: no permissions of its own, one arrow
        self.climb = member is not None and not member.permissions and len(arrows) == 1
        self.parents = arrows[0][0] if self.climb else _NO_SLOTS
        self.target = arrows[0][1] if self.climb else ""


class FlatCache:
    """Flattened entries at one revision: per type, per member, per object id (None: the
    walk gave up there; see also check._SEEN); and each member's :class:`FlatStep`.

    Keyed one level at a time by interned names, as the index is: a lookup costs two or
    three cheap steps, where a ``(type, id, member)`` key would be built, hashed and often
    kept (a tuple per folder visited) on every check. A climb up one member's chain looks
    the per-id dict up once (:meth:`of`) and reads it per step. Each per-id dict starts over
    past :data:`CACHE_LIMIT` entries; :meth:`clear` empties them in place, so a dict a caller
    (or a step) holds is never a stale one.
    """

    __slots__ = ("_by_type", "_steps")

    def __init__(self) -> None:
        self._by_type: dict[str, dict[str, dict[str, Flattened | None]]] = {}
        self._steps: dict[str, dict[str, FlatStep]] = {}

    def of(self, type_name: str, member: str) -> dict[str, Flattened | None]:
        """The entries of member ``type_name#member`` by object id (read and written by the
        checker and the flattener; writes go through :meth:`put`)."""
        of_type = self._by_type.get(type_name)
        if of_type is None:
            of_type = self._by_type[type_name] = {}
        ids = of_type.get(member)
        if ids is None:
            ids = of_type[member] = {}
        return ids

    def step(
        self,
        index: RelationshipIndex,
        members: dict[tuple[str, str], FlatMember],
        leaves: frozenset[tuple[str, str]],
        type_name: str,
        name: str,
    ) -> FlatStep:
        """The :class:`FlatStep` of ``type_name#name`` (made on first use, from the plan's
        flat ``members`` and ``leaves``: the same plan for the life of this cache)."""
        of_type = self._steps.get(type_name)
        if of_type is not None:
            found = of_type.get(name)
            if found is not None:
                return found
        else:
            of_type = self._steps[type_name] = {}
        member = members.get((type_name, name))
        if member is not None:
            holders = index.holders(type_name, member.relations)
            arrows = tuple((index.holder(type_name, ts), target) for ts, target in member.arrows)
            step = FlatStep(FLAT, member, holders, arrows, self.of(type_name, name))
        elif (type_name, name) in leaves:
            step = FlatStep(LEAF, None, (index.holder(type_name, name),), (), {})
        else:
            step = FlatStep(OTHER, None, (), (), {})
        of_type[name] = step
        return step

    @staticmethod
    def put(ids: dict[str, Flattened | None], object_id: str, entry: Flattened | None) -> None:
        if len(ids) >= CACHE_LIMIT:
            ids.clear()
        ids[object_id] = entry

    def entry(self, type_name: str, object_id: str, member: str) -> Flattened | None:
        """One entry (None also when there is none: for tests and tools)."""
        return self.of(type_name, member).get(object_id)

    def entries(self) -> dict[tuple[str, str, str], Flattened | None]:
        """Every entry by ``(type, id, member)`` (a copy: for tests and tools)."""
        return {
            (t, i, m): entry
            for t, of_type in self._by_type.items()
            for m, ids in of_type.items()
            for i, entry in ids.items()
        }

    def __len__(self) -> int:
        return sum(len(ids) for of_type in self._by_type.values() for ids in of_type.values())

    def clear(self) -> None:
        """Drop every entry (relationships changed); the steps stay valid."""
        for of_type in self._by_type.values():
            for ids in of_type.values():
                ids.clear()

    def forget(self) -> None:
        """Drop the entries and the steps (the schema changed: another plan)."""
        self.clear()
        self._steps.clear()


def _split(expr: ast.Expr) -> list[ast.Expr] | None:
    """The operands of a union tree, or None when the expression is not a union of leaves."""
    if isinstance(expr, ast.Union):
        out: list[ast.Expr] = []
        for child in expr.children:
            part = _split(child)
            if part is None:
                return None
            out.extend(part)
        return out
    if isinstance(expr, ast.RelationRef):
        return [expr]
    if isinstance(expr, ast.Arrow) and expr.function == "any":
        return [expr]
    return None


def flat_members(
    permissions: dict[tuple[str, str], ast.Expr],
    leaf_relations: frozenset[tuple[str, str]],
    tupleset_types: dict[tuple[str, str], tuple[str, ...]],
    known: frozenset[tuple[str, str]],
) -> dict[tuple[str, str], FlatMember]:
    """The flat permissions of a schema (greatest fixpoint: drop any that reads a non-flat one).

    ``known`` is every member of the schema: an arrow target that a tupleset type does not
    define reads nothing there (as in evaluation) and does not disqualify the arrow."""
    parts = {key: _split(expr) for key, expr in permissions.items()}
    candidates = {key for key, p in parts.items() if p is not None}

    def ok(type_name: str, name: str) -> bool:
        return (type_name, name) in leaf_relations or (type_name, name) in candidates

    changed = True
    while changed:
        changed = False
        for key in list(candidates):
            t = key[0]
            for part in parts[key] or ():
                if isinstance(part, ast.RelationRef):
                    good = ok(t, part.name)
                else:
                    assert isinstance(part, ast.Arrow)
                    good = (t, part.tupleset) in tupleset_types and all(
                        ok(target_type, part.target)
                        for target_type in tupleset_types[(t, part.tupleset)]
                        if (target_type, part.target) in known
                    )
                if not good:
                    candidates.discard(key)
                    changed = True
                    break
    out: dict[tuple[str, str], FlatMember] = {}
    for key in candidates:
        t = key[0]
        relations: list[str] = []
        perms: list[str] = []
        arrows: list[tuple[str, str]] = []
        for part in parts[key] or ():
            if isinstance(part, ast.RelationRef):
                (relations if (t, part.name) in leaf_relations else perms).append(part.name)
            else:
                assert isinstance(part, ast.Arrow)
                arrows.append((part.tupleset, part.target))
        out[key] = FlatMember(tuple(relations), tuple(perms), tuple(arrows))
    return out


#: Nested flattenings one flattening may start (deeper targets are walked in place).
NESTING_LIMIT: Final = 32
_UNSET: Final = Flattened((), None, 0, -INF)  # "not in the cache" (None there: "gave up")


class Flattener:
    """Flattens flat members of one index at one moment into a per-revision ``cache``.

    One is made per flattening a checker asks for; it holds what every step of the walk
    needs, and the set of members whose flattening is under way (to see cycles).
    """

    __slots__ = ("active", "cache", "index", "leaf_relations", "members", "now")

    def __init__(
        self,
        index: RelationshipIndex,
        members: dict[tuple[str, str], FlatMember],
        leaf_relations: frozenset[tuple[str, str]],
        now: float,
        cache: FlatCache,
    ) -> None:
        self.index = index
        self.members = members
        self.leaf_relations = leaf_relations
        self.now = now
        self.cache = cache
        self.active: set[tuple[str, str, str]] = set()

    def cached(self, rtype: str, rid: str, name: str) -> Flattened | None:
        """The entry of flat member ``rtype:rid#name`` from the cache, flattened and kept
        there when it is missing or has expired (None: flattening gave up, which is kept
        too)."""
        ids = self.cache.of(rtype, name)
        entry = ids.get(rid, _UNSET)
        if entry is None or entry.until > self.now:
            return entry
        entry = self.flatten((rtype, rid, name))
        FlatCache.put(ids, rid, entry)
        return entry

    def flatten(self, root: tuple[str, str, str]) -> Flattened | None:
        """The slots flat member ``root`` reads, or None when it gives up.

        The entry depends only on the tupleset relationships followed (not on what the
        slots hold), which is what lets it outlive writes to the relations it reads
        (learned.py). An arrow target that is a flat member is flattened first and kept in
        the cache (the per-revision one): a folder then costs its own slots plus its
        parent's entry, and every ancestor's entry is ready for the next check that reaches
        it. A target whose flattening is under way (a cycle) or past :data:`NESTING_LIMIT`
        is walked in place instead.
        """
        active = self.active
        active.add(root)
        try:
            chained = self._chain(root)
            if chained is not _UNSET:
                return chained
            return self._walk(root)
        finally:
            active.discard(root)

    def _chain(self, root: tuple[str, str, str]) -> Flattened | None:
        """The common shape, without a walk: a member whose one arrow leads to one plain
        target of a flat member (a folder with one parent) is its own slots plus the
        target's entry. ``_UNSET`` when the shape is another (the caller walks)."""
        index = self.index
        members = self.members
        rtype, rid, name = root
        member = members[(rtype, name)]
        if member.permissions or len(member.arrows) != 1:
            return _UNSET
        tupleset, target = member.arrows[0]
        tslot = index.slot(rtype, rid, tupleset)
        own = index.holders(rtype, member.relations)
        if tslot is None:
            return Flattened((), None, 0, INF, own, rid)
        if type(tslot) is not tuple or len(tslot) != 1:
            return _UNSET
        gt, gid, _gr = tslot[0]
        active = self.active
        if (
            (gt, target) not in members
            or (gt, gid, target) in active
            or len(active) >= NESTING_LIMIT
        ):
            return _UNSET
        entry = self.cached(gt, gid, target)
        if entry is None:
            return None
        if len(own) + entry.size > FLAT_LIMIT:
            return None
        # A slot twice (after a cycle) is only read twice.
        return Flattened((), entry, entry.depth + 1, entry.until, own, rid)

    def _walk(self, root: tuple[str, str, str]) -> Flattened | None:
        """Any other shape: a walk over the member's own slots, permissions and arrows,
        reading each slot once."""
        index = self.index
        members = self.members
        leaf_relations = self.leaf_relations
        now = self.now
        cache = self.cache
        active = self.active
        seen: set[tuple[str, str, str]] = {root}
        stack: list[tuple[str, str, str, int]] = [(*root, 0)]
        reads: dict[tuple[int, str], SlotRef] = {}  # by (id of the dict, id): read a slot once
        deepest = 0
        until = INF
        while stack:
            t, i, m, depth = stack.pop()
            deepest = max(deepest, depth)
            member = members[(t, m)]
            for relation in member.relations:
                held = index.holder(t, relation)
                reads[(id(held), i)] = (held, i)
            for perm in member.permissions:
                if (t, i, perm) not in seen:
                    seen.add((t, i, perm))
                    stack.append((t, i, perm, depth + 1))
            for tupleset, target in member.arrows:
                for (gt, gid, _gr), e in slot_edges(index.slot(t, i, tupleset)):
                    if e is not PLAIN:
                        if e.caveat is not None:
                            return None
                        if e.expires <= now:
                            continue
                        until = min(until, e.expires)
                    node = (gt, gid, target)
                    if (gt, target) in leaf_relations:
                        deepest = max(deepest, depth + 1)
                        held = index.holder(gt, target)
                        reads[(id(held), gid)] = (held, gid)
                    elif (gt, target) in members and node not in seen:
                        seen.add(node)
                        known = cache.of(gt, target).get(gid, _UNSET)
                        if (known is not None and known.until <= now) and (
                            node in active or len(active) >= NESTING_LIMIT
                        ):
                            stack.append((gt, gid, target, depth + 1))  # under way: walk it here
                            continue
                        entry = self.cached(gt, gid, target)
                        if entry is None:
                            return None
                        for ref in entry.refs():
                            reads[(id(ref[0]), ref[1])] = ref
                        deepest = max(deepest, depth + 1 + entry.depth)
                        until = min(until, entry.until)
            if len(seen) + len(reads) > FLAT_LIMIT:
                return None
        return Flattened(tuple(reads.values()), None, deepest, until)
