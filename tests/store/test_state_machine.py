"""Each backend against a deliberately plain model: a list of dict snapshots per store.

The model knows nothing of MVCC, SQL or indexes: revision ``r`` of a store *is* the dict at
position ``r``; filters are ``RelationshipFilter.matches``; the changelog is the difference of
two consecutive dicts. Hypothesis drives random writes, deletes, imports, schema writes, store
deletion and re-creation, GC and (for SQLite) restarts, and compares every observable answer.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from rebac.errors import (
    AlreadyExists,
    PreconditionFailed,
    RevisionExpired,
    StoreAlreadyExists,
    StoreNotFound,
    TooManyRelationshipsForDelete,
    UpdatesOnSameRelationship,
)
from rebac.model import (
    Operation,
    Precondition,
    Relationship,
    RelationshipFilter,
    RelationshipUpdate,
    SubjectFilter,
)
from rebac.store import MemoryStore, SQLiteStore, Store, StoreConfig
from tests.store.conftest import FakeClock

WINDOW = 100.0
STORES = ["t", "t", "t", "T"]  # mostly one store, so that histories grow

# A small universe, so that batches often hit relationships that already exist.
subjects = st.sampled_from(["user:a", "group:g#member", "group:g"])
caveats = st.sampled_from(["", "[cav]", '[cav:{"x":1}]'])
relationships = st.builds(
    lambda rid, rel, subj, cav: Relationship.parse(f"document:{rid}#{rel}@{subj}{cav}"),
    st.sampled_from(["d1", "e1"]),
    st.sampled_from(["viewer", "editor"]),
    subjects,
    caveats,
)
update = st.builds(RelationshipUpdate, st.sampled_from(list(Operation)), relationships)
# Mostly valid batches (one update per relationship); now and then a duplicate.
updates = st.lists(update, max_size=6, unique_by=lambda u: u.relationship.key) | st.lists(
    update, min_size=2, max_size=3
)
subject_filters = st.one_of(
    st.none(),
    st.builds(
        SubjectFilter,
        st.sampled_from(["user", "group"]),
        st.sampled_from([None, "a", "g"]),
        st.sampled_from([None, "...", "member"]),
    ),
)
filters = st.builds(
    RelationshipFilter,
    st.sampled_from([None, "document", "folder"]),
    st.sampled_from([None, "d1", "e1"]),
    st.sampled_from([None, None, "d", "e1", ""]),
    st.sampled_from([None, "viewer", "editor"]),
    subject_filters,
).filter(
    lambda f: (
        (f.resource_id is None or f.resource_id_prefix is None)
        and any(
            v is not None
            for v in (f.resource_type, f.resource_id, f.resource_id_prefix, f.relation, f.subject)
        )
    )
)


def skey(r: Relationship) -> tuple[str, ...]:
    return (*r.key[:5], r.key[5] or "")


def texts(state: dict[object, Relationship], f: RelationshipFilter | None = None) -> list[str]:
    return [str(r) for r in sorted(state.values(), key=skey) if f is None or f.matches(r)]


@dataclass
class ModelStore:
    base: int  # the revision the store (this incarnation) started at
    states: list[dict[object, Relationship]] = field(default_factory=lambda: [{}])
    times: list[float] = field(default_factory=lambda: [0.0])
    schemas: dict[int, str] = field(default_factory=dict)
    oldest: int = 0

    @property
    def head(self) -> int:
        return self.base + len(self.states) - 1

    def at(self, revision: int) -> dict[object, Relationship]:
        return self.states[revision - self.base]

    def commit(self, state: dict[object, Relationship], now: float) -> int:
        self.states.append(state)
        self.times.append(now)
        return self.head


class StoreMachine(RuleBasedStateMachine):
    kind = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.dir = Path(tempfile.mkdtemp(prefix="rebac-sm-"))
        self.store = self._open()
        self.model: dict[str, ModelStore] = {}
        self.ended: dict[str, int] = {}  # deleted store -> its last revision

    def _open(self) -> Store:
        config = StoreConfig(gc_window=WINDOW)
        if self.kind == "memory":
            return MemoryStore(config, clock=self.clock)
        return SQLiteStore(self.dir / "sm.db", config, clock=self.clock, durable=False)

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- tenants ----------------------------------------------------------------------------------

    @initialize()
    def first_store(self) -> None:
        self.create_store("t")

    @rule(sid=st.sampled_from(STORES))
    def create_store(self, sid: str) -> None:
        if sid in self.model:
            try:
                self.store.create_store(sid)
                raise AssertionError("created a store twice")
            except StoreAlreadyExists:
                return
        self.store.create_store(sid)
        base = self.ended.pop(sid, 0)
        self.model[sid] = ModelStore(base, times=[self.clock()], oldest=base)

    @rule(sid=st.sampled_from(STORES))
    def delete_store(self, sid: str) -> None:
        if sid not in self.model:
            try:
                self.store.delete_store(sid)
                raise AssertionError("deleted an unknown store")
            except StoreNotFound:
                return
        self.store.delete_store(sid)
        self.ended[sid] = self.model.pop(sid).head

    # -- writes -----------------------------------------------------------------------------------

    @rule(
        sid=st.sampled_from(STORES),
        batch=updates,
        pre=st.one_of(st.none(), st.builds(Precondition, st.booleans(), filters)),
    )
    def write(self, sid: str, batch: list[RelationshipUpdate], pre: Precondition | None) -> None:
        m = self.model.get(sid)
        expected: type[Exception] | None = None
        new: dict[object, Relationship] = {}
        keys = [u.relationship.key for u in batch]
        if len(set(keys)) != len(keys):
            expected = UpdatesOnSameRelationship  # arguments are checked before the store
        elif m is None:
            expected = StoreNotFound
        else:
            state = m.at(m.head)
            new = dict(state)
            if pre is not None and any(pre.filter.matches(r) for r in state.values()) != (
                pre.must_match
            ):
                expected = PreconditionFailed
            else:
                for u in batch:
                    r = u.relationship
                    if u.operation is Operation.DELETE:
                        new.pop(r.key, None)
                    elif u.operation is Operation.CREATE and r.key in state:
                        expected = AlreadyExists
                    else:
                        new[r.key] = r
        preconditions = [] if pre is None else [pre]
        if expected is not None:
            try:
                self.store.write(sid, batch, preconditions)
            except expected:
                return
            raise AssertionError(f"expected {expected.__name__}")
        assert m is not None
        meta = {"n": len(batch)}
        assert self.store.write(sid, batch, preconditions, meta) == m.commit(new, self.clock())

    # Writes are what the other rules observe: give them a second rule so they are drawn more.
    another_write = rule(
        sid=st.sampled_from(STORES),
        batch=updates,
        pre=st.one_of(st.none(), st.builds(Precondition, st.booleans(), filters)),
    )(lambda self, sid, batch, pre: self.write(sid, batch, pre))

    @rule(
        sid=st.sampled_from(STORES),
        f=filters,
        limit=st.one_of(st.none(), st.integers(1, 4)),
        partial=st.booleans(),
    )
    def delete_by_filter(
        self, sid: str, f: RelationshipFilter, limit: int | None, partial: bool
    ) -> None:
        m = self.model.get(sid)
        if m is None:
            return
        state = m.at(m.head)
        doomed = [r for r in sorted(state.values(), key=skey) if f.matches(r)]
        if limit is not None and len(doomed) > limit:
            if not partial:
                try:
                    self.store.delete(sid, f, limit=limit)
                except TooManyRelationshipsForDelete:
                    return
                raise AssertionError("expected TooManyRelationshipsForDelete")
            doomed = doomed[:limit]
        result = self.store.delete(sid, f, limit=limit, allow_partial=partial)
        new = {k: r for k, r in state.items() if r not in doomed}
        assert result.deleted == len(doomed)
        assert result.revision == m.commit(new, self.clock())

    @rule(sid=st.sampled_from(STORES), rels=st.lists(relationships, max_size=5))
    def bulk_import(self, sid: str, rels: list[Relationship]) -> None:
        m = self.model.get(sid)
        if m is None:
            return
        state = m.at(m.head)
        keys = [r.key for r in rels]
        if len(set(keys)) != len(keys) or any(k in state for k in keys):
            try:
                self.store.import_relationships(sid, [rels])
            except AlreadyExists:
                return
            raise AssertionError("expected AlreadyExists")
        result = self.store.import_relationships(sid, [rels[:2], rels[2:]])
        new = {**state, **{r.key: r for r in rels}}
        assert result == (m.commit(new, self.clock()), len(rels))

    @rule(sid=st.sampled_from(STORES), text=st.sampled_from(["definition a {}", "definition b {}"]))
    def write_schema(self, sid: str, text: str) -> None:
        m = self.model.get(sid)
        if m is None:
            return
        rev = self.store.write_schema(sid, text)
        assert rev == m.commit(dict(m.at(m.head)), self.clock())
        m.schemas[rev] = text

    # -- time, GC, restarts -----------------------------------------------------------------------

    @rule(seconds=st.sampled_from([1.0, WINDOW / 2, WINDOW]))
    def tick(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(sid=st.sampled_from(STORES))
    def gc(self, sid: str) -> None:
        m = self.model.get(sid)
        if m is None:
            return
        cutoff = self.clock() - WINDOW
        old = [m.base + i for i, t in enumerate(m.times) if i > 0 and t <= cutoff]
        m.oldest = max([m.oldest, *old])
        assert self.store.gc(sid) == m.oldest

    @precondition(lambda self: self.kind == "sqlite")
    @rule()
    def restart(self) -> None:
        self.store.close()
        self.store = self._open()

    # -- observations -----------------------------------------------------------------------------

    @rule(sid=st.sampled_from(STORES), data=st.data())
    def read_at_some_revision(self, sid: str, data: st.DataObject) -> None:
        m = self.model.get(sid)
        if m is None:
            return
        rev = data.draw(st.integers(m.base, m.head), label="revision")
        f = data.draw(st.one_of(st.none(), filters), label="filter")
        if rev < m.oldest:
            try:
                self.store.read(sid, f, revision=rev)
            except RevisionExpired:
                return
            raise AssertionError("expected RevisionExpired")
        got = [str(r) for r in self.store.read(sid, f, revision=rev)]
        assert got == texts(m.at(rev), f)
        limit = data.draw(st.integers(1, 3), label="page size")
        paged: list[str] = []
        after = None
        while True:
            page = self.store.read(sid, f, revision=rev, limit=limit, after=after)
            paged += [str(r) for r in page]
            if len(page) < limit:
                break
            after = page[-1].key
        assert paged == got

    @invariant()
    def changelog_is_the_difference_of_snapshots(self) -> None:
        for sid, m in self.model.items():
            self._check_changelog(sid, m)

    def _check_changelog(self, sid: str, m: ModelStore) -> None:
        changes = self.store.changes(sid, m.oldest)
        assert [c.revision for c in changes] == list(range(m.oldest + 1, m.head + 1))
        for c in changes:
            before, after = m.at(c.revision - 1), m.at(c.revision)
            touched = [r for k, r in after.items() if before.get(k) != r]
            deleted = [r for k, r in before.items() if k not in after]
            assert [str(r) for r in c.touched] == [str(r) for r in sorted(touched, key=skey)]
            assert [str(r) for r in c.deleted] == [str(r) for r in sorted(deleted, key=skey)]
            assert c.schema_changed == (c.revision in m.schemas)
            assert c.timestamp == m.times[c.revision - m.base]

    @invariant()
    def heads_and_stores_agree(self) -> None:
        assert self.store.list_stores() == sorted(self.model)
        for sid, m in self.model.items():
            assert self.store.head_revision(sid) == m.head
            assert self.store.oldest_revision(sid) == m.oldest
            assert [str(r) for r in self.store.snapshot(sid, m.head)] == texts(m.at(m.head))
            schemas = [(rev, t) for rev, t in m.schemas.items() if rev <= m.head]
            if schemas:
                assert self.store.read_schema(sid) == (schemas[-1][1], schemas[-1][0])


class SQLiteMachine(StoreMachine):
    kind = "sqlite"


RUN = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestMemoryStoreAgainstModel = StoreMachine.TestCase
TestMemoryStoreAgainstModel.settings = RUN
TestSQLiteStoreAgainstModel = SQLiteMachine.TestCase
TestSQLiteStoreAgainstModel.settings = RUN
