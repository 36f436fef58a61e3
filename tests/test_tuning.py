"""rebac.tuning: settle() takes the loaded index out of the collector's sight; a bulk import
pauses the collector and leaves its state as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from rebac import Engine
from rebac.tuning import YOUNG_THRESHOLD, collector_paused, settle


def test_settle_freezes_what_is_loaded_and_spaces_collections_out() -> None:
    before = gc.get_threshold()
    try:
        engine = Engine("definition user {}\ndefinition doc { relation viewer: user }")
        engine.touch(*(f"doc:d{i}#viewer@user:u{i}" for i in range(100)))
        settle()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_threshold()[1:] == before[1:]
        assert engine.check("doc:d7", "viewer", "user:u7").allowed  # nothing else changed
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_an_import_pauses_the_collector_and_restores_it_even_on_error() -> None:
    engine = Engine("definition user {}\ndefinition doc { relation viewer: user }")
    seen: list[bool] = []

    def batches() -> Iterator[list[str]]:
        seen.append(gc.isenabled())
        yield ["doc:d1#viewer@user:u1"]

    assert gc.isenabled()
    engine.import_relationships(batches())
    assert seen == [False] and gc.isenabled()
    with pytest.raises(ZeroDivisionError), collector_paused():
        _ = 1 / 0
    assert gc.isenabled()


def test_a_paused_collector_stays_off_when_it_was_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
