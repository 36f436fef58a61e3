"""Evaluation: check, expand and lookups over in-memory indexes, behind the :class:`Engine`."""

from rebac.engine.engine import Engine
from rebac.engine.expand import ExpandedSubject, ExpandNode
from rebac.engine.snapshot import Snapshot

__all__ = ["Engine", "ExpandNode", "ExpandedSubject", "Snapshot"]
