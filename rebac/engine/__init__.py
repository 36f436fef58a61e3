"""Evaluation: check, expand and lookups over in-memory indexes, behind the :class:`Engine`."""

from rebac.engine.build import prefer_sources

prefer_sources()  # before any compiled module is imported

from rebac.engine import check as _check  # noqa: E402
from rebac.engine.engine import Engine  # noqa: E402
from rebac.engine.expand import ExpandedSubject, ExpandNode  # noqa: E402
from rebac.engine.snapshot import Snapshot  # noqa: E402

__all__ = ["Engine", "ExpandNode", "ExpandedSubject", "Snapshot", "compiled"]


def compiled() -> bool:
    """Whether the evaluator runs as C extensions built by mypyc (setup.py) or as pure Python:
    the answers are the same, the speed is not (benchmarks report it)."""
    return not (_check.__file__ or "").endswith(".py")
