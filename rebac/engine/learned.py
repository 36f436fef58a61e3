"""What checks learn at the head revision, and what a write makes them forget.

Dropping everything on every write would make a 99/1 read/write service evaluate cold after
each write. Instead each cache says what it depends on, and a change drops only what it could
have altered (Zanzibar's Leopard index is maintained this way: a membership edge changes the
closures that walked through it, nothing else):

* **closures** of pure subject sets (nested groups): a closure is a function of the
  relationships *whose subject* is one of the objects its walk visited. A change drops the
  closures that visited the changed relationship's subject object -- found through an inverse
  map kept alongside -- and they are recomputed on their next use.
* **flattened members** (flat.py): an entry is a function of the tupleset relationships its
  walk followed (the slots it reads are looked up at check time). A change to a relation used
  as a tupleset by a flat member drops them all; others leave them alone.
* **per-subject results and relations** (checkers, subjects): a function of everything; every
  change drops them. They are cheap to relearn: one check per subject.
* **paged lookup-subjects answers** (lookups) and **lookup-resources candidates**
  (candidates): a function of everything; every change drops them too. They are relearned by
  the next first page.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from rebac.engine.check import Closure, SubjectCache
from rebac.engine.flat import FlatCache
from rebac.engine.lookup import PagedAnswers, ResourcesQuery, SubjectPages, SubjectsQuery
from rebac.model import Relationship

#: Closures kept before the cache starts over (bounded by clearing, no LRU bookkeeping).
CLOSURE_LIMIT: Final = 50_000


class ClosureCache:
    """Closures of pure subject sets ``(type, id, relation)``, with the objects each visited."""

    __slots__ = ("_by_root", "_unindexed", "_users")

    def __init__(self) -> None:
        self._by_root: dict[tuple[str, str, str], Closure] = {}
        # The id of a visited object -> roots whose closure walked through it. Keyed by id
        # alone (no tuple to build and hash per visited object): objects of two types with
        # the same id share an entry, which only drops a closure more often than needed.
        self._users: dict[str, set[tuple[str, str, str]]] = {}
        # Closures put since the last change, with what they visited, not yet in _users:
        # the inverse map is only needed when a change comes, and most closures are put
        # between two changes, so it is built then (once per closure either way).
        self._unindexed: list[tuple[tuple[str, str, str], list[str]]] = []

    def __len__(self) -> int:
        return len(self._by_root)

    def get(self, root: tuple[str, str, str]) -> Closure | None:
        return self._by_root.get(root)

    def put(self, root: tuple[str, str, str], closure: Closure, visited: list[str]) -> None:
        if len(self._by_root) >= CLOSURE_LIMIT:
            self.clear()
        self._by_root[root] = closure
        self._unindexed.append((root, visited))

    def changed(self, subject_type: str, subject_id: str) -> None:
        """A relationship whose subject is ``subject_type:subject_id`` (any relation) was
        written or deleted: drop the closures that read it."""
        if self._unindexed:
            self._index()
        for root in self._users.pop(subject_id, ()):
            self._by_root.pop(root, None)

    def _index(self) -> None:
        """Add the closures put since the last change to the inverse map."""
        users = self._users
        for root, visited in self._unindexed:
            for obj in visited:
                roots = users.get(obj)
                if roots is None:
                    users[obj] = {root}
                else:
                    roots.add(root)
        self._unindexed.clear()

    def clear(self) -> None:
        self._by_root.clear()
        self._users.clear()
        self._unindexed.clear()


class Learned:
    """The caches of the head state (an old, immutable state has its own, never invalidated)."""

    __slots__ = ("candidates", "closures", "flats", "lookups", "subjects")

    def __init__(self) -> None:
        self.subjects: SubjectCache = {}
        self.closures = ClosureCache()
        self.flats = FlatCache()
        self.lookups: PagedAnswers[SubjectsQuery, SubjectPages] = PagedAnswers()
        self.candidates: PagedAnswers[ResourcesQuery, list[str]] = PagedAnswers()

    def forget(self) -> None:
        self.subjects.clear()
        self.closures.clear()
        self.flats.forget()
        self.lookups.clear()
        self.candidates.clear()

    def changed(self, rels: Iterable[Relationship], tuplesets: frozenset[tuple[str, str]]) -> None:
        """Drop what ``rels`` (written or deleted) could have changed; see the module doc."""
        self.subjects.clear()
        self.lookups.clear()
        self.candidates.clear()
        closures = self.closures
        flats_kept = True
        for rel in rels:
            s = rel.subject
            closures.changed(s.type, s.id)
            if flats_kept and (rel.resource.type, rel.relation) in tuplesets:
                self.flats.clear()
                flats_kept = False
