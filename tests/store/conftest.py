"""Backends for the contract suite: every test taking ``store`` or ``backend`` runs on each."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rebac.store import MemoryStore, SQLiteStore, Store, StoreConfig
from tests.store.helpers import STORE

T0 = 1_700_000_000.0


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, t: float = T0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class Backend:
    """Makes stores of one kind. For SQLite every store made shares one file, so a second
    ``make()`` after ``close()`` is a restart."""

    name: str
    factory: Callable[[StoreConfig | None], Store]
    made: list[Store] = field(default_factory=list)

    def make(self, config: StoreConfig | None = None) -> Store:
        s = self.factory(config)
        self.made.append(s)
        return s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _backend(name: str, path: Path, clock: FakeClock) -> Backend:
    if name == "memory":
        return Backend("memory", lambda cfg: MemoryStore(cfg, clock=clock))
    # durable=False: fsync is the durability test's business; here it only costs time.
    return Backend("sqlite", lambda cfg: SQLiteStore(path, cfg, clock=clock, durable=False))


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Backend]:
    b = _backend(request.param, tmp_path / "rebac.db", clock)
    yield b
    for s in b.made:
        s.close()


@pytest.fixture(params=["sqlite"])
def persistent_backend(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[Backend]:
    """The backends whose data outlives the process (PostgreSQL joins this list)."""
    b = _backend(request.param, tmp_path / "rebac.db", clock)
    yield b
    for s in b.made:
        s.close()


@pytest.fixture
def store(backend: Backend) -> Store:
    """A fresh store of the backend with one tenant, ``STORE``."""
    s = backend.make()
    s.create_store(STORE)
    return s
