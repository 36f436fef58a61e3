"""Tenants: one engine per store id, isolated, and unknown stores indistinguishable."""

from __future__ import annotations

from pathlib import Path

import pytest

from rebac.datastore import Datastore
from rebac.errors import StoreNotFound

SCHEMA = """
definition user {}
definition document {
    relation viewer: user
    permission view = viewer
}
"""


def test_stores_are_isolated_and_ids_case_sensitive(tmp_path: Path) -> None:
    ds = Datastore.open(f"sqlite:{tmp_path / 'rebac.db'}")
    ds.create_store("acme")
    ds.create_store("ACME")
    acme, upper = ds.engine("acme"), ds.engine("ACME")
    acme.write_schema(SCHEMA)
    upper.write_schema(SCHEMA)
    acme.touch("document:d#viewer@user:u")
    assert acme.check("document:d", "view", "user:u").allowed
    assert not upper.check("document:d", "view", "user:u").allowed
    assert sorted(ds.list_stores()) == ["ACME", "acme"]


def test_unknown_and_deleted_stores_look_the_same() -> None:
    ds = Datastore.open("memory:")
    ds.create_store("gone")
    ds.engine("gone")
    ds.delete_store("gone")
    with pytest.raises(StoreNotFound) as deleted:
        ds.engine("gone")
    with pytest.raises(StoreNotFound) as never:
        ds.engine("never")
    assert str(deleted.value).replace("gone", "X") == str(never.value).replace("never", "X")


def test_gc_forgets_old_revisions_of_every_store() -> None:
    from rebac.errors import RevisionExpired
    from rebac.revision import Consistency

    now = [1_000_000.0]
    from rebac.store import MemoryStore

    ds = Datastore(MemoryStore(clock=lambda: now[0]), clock=lambda: now[0])
    ds.create_store("acme")
    engine = ds.engine("acme")
    engine.write_schema(SCHEMA)
    old = engine.touch("document:d#viewer@user:u")
    engine.delete("document:d#viewer@user:u")
    now[0] += 2 * 24 * 3600
    engine.touch("document:e#viewer@user:u")
    ds.gc()
    with pytest.raises(RevisionExpired):
        engine.check(
            "document:d",
            "view",
            "user:u",
            consistency=Consistency.at_exact_snapshot(engine.token_for(old)),
        )
