"""Fixtures shared by every test package.

The conformance corpus lives outside the repository, in ``../shared`` beside it, so a plain
checkout can still run the unit tests: tests that need the corpus skip when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path inside ``../shared``; skips the calling test when that path does not exist."""
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared/{'/'.join(parts)} not present (conformance corpus missing)")
    return path


@pytest.fixture
def shared_dir() -> Path:
    """The ``../shared`` directory; skips the test when it is absent."""
    return shared_path()
