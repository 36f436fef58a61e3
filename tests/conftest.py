"""Fixtures shared by every test package.

The conformance corpus lives outside the repository, in ``../shared`` beside it, so a plain
checkout can still run the unit tests: tests that need the corpus skip when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

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


# -- hypothesis profiles ---------------------------------------------------------------------------
# ``dev`` (the default) explores a fresh random sample on every run; ``ci`` is reproducible
# (derandomized), a little more thorough, never flakes on timing and prints the blob needed to
# replay a failure. Select with HYPOTHESIS_PROFILE=ci (the CI entry point does).

settings.register_profile("dev", max_examples=100)
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=200,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
