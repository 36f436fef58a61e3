"""rebac.tuning.settle: the loaded index leaves the garbage collector's sight."""

from __future__ import annotations

import gc

from rebac import Engine
from rebac.tuning import YOUNG_THRESHOLD, settle


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
