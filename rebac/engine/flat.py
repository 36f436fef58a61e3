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
#: Entries a per-revision cache holds before it starts over.
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
    """The slots a flat member reads at one revision, for one object: ``reads``, then those
    of ``up``.

    A chain -- a folder with one parent -- is its own slots plus a link to its parent's
    entry: built without copying the ancestors' slots, however deep the tree. A walk
    (several parents, a cycle) lists all its slots in ``reads``. A plain class, not a
    NamedTuple: a compiled build constructs it directly, where a NamedTuple goes through
    Python code.
    """

    __slots__ = ("depth", "reads", "size", "until", "up")

    def __init__(
        self, reads: tuple[SlotRef, ...], up: Flattened | None, depth: int, until: float
    ) -> None:
        self.reads = reads
        self.up = up
        self.depth = depth  # the longest chain of nested members walked (the depth limit's)
        self.until = until  # when the first tupleset relationship followed expires
        self.size: int = len(reads) + (0 if up is None else up.size)

    def refs(self) -> list[SlotRef]:
        """Every slot read, in order (for the paths that are not hot)."""
        out: list[SlotRef] = []
        entry: Flattened | None = self
        while entry is not None:
            out.extend(entry.reads)
            entry = entry.up
        return out


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
        cache: dict[tuple[str, str, str], Flattened | None],
    ) -> None:
        self.index = index
        self.members = members
        self.leaf_relations = leaf_relations
        self.now = now
        self.cache = cache
        self.active: set[tuple[str, str, str]] = set()

    def cached(self, node: tuple[str, str, str]) -> Flattened | None:
        """The entry of flat member ``node`` from the cache, flattened and kept there when it
        is missing or has expired (None: flattening gave up, which is kept too)."""
        cache = self.cache
        entry = cache.get(node, _UNSET)
        if entry is None or entry.until > self.now:
            return entry
        entry = self.flatten(node)
        if len(cache) >= CACHE_LIMIT:
            cache.clear()
        cache[node] = entry
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
        own = tuple((held, rid) for held in index.holders(rtype, member.relations))
        if tslot is None:
            return Flattened(own, None, 0, INF)
        if type(tslot) is not tuple or len(tslot) != 1:
            return _UNSET
        gt, gid, _gr = tslot[0]
        node = (gt, gid, target)
        active = self.active
        if (gt, target) not in members or node in active or len(active) >= NESTING_LIMIT:
            return _UNSET
        entry = self.cached(node)
        if entry is None:
            return None
        if len(own) + entry.size > FLAT_LIMIT:
            return None
        # A slot twice (after a cycle) is only read twice.
        return Flattened(own, entry, entry.depth + 1, entry.until)

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
                        known = cache.get(node, _UNSET)
                        if (known is not None and known.until <= now) and (
                            node in active or len(active) >= NESTING_LIMIT
                        ):
                            stack.append((gt, gid, target, depth + 1))  # under way: walk it here
                            continue
                        entry = self.cached(node)
                        if entry is None:
                            return None
                        for ref in entry.refs():
                            reads[(id(ref[0]), ref[1])] = ref
                        deepest = max(deepest, depth + 1 + entry.depth)
                        until = min(until, entry.until)
            if len(seen) + len(reads) > FLAT_LIMIT:
                return None
        return Flattened(tuple(reads.values()), None, deepest, until)
