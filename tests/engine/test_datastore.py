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
