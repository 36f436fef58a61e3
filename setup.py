"""Builds the evaluator's hot modules with mypyc (typed Python compiled to C), when it can.

Everything else about the project is in pyproject.toml. The modules listed below are plain,
fully typed Python (mypy --strict) and stay the source of truth: mypyc compiles the same
files into C extensions, which makes a check 1.3 to 1.6 times faster. Where no C compiler is
available, or with ``REBAC_PURE_PYTHON=1`` in the environment, the package installs as pure
Python and behaves the same, only slower (``rebac.engine.compiled()`` tells which).
"""

from __future__ import annotations

import os
import sys

from setuptools import setup

# The check path: index and slots, flattening, the checker, snapshots, caches, the plan.
COMPILED = [
    "rebac/engine/values.py",
    "rebac/engine/index.py",
    "rebac/engine/flat.py",
    "rebac/engine/plan.py",
    "rebac/engine/check.py",
    "rebac/engine/learned.py",
    "rebac/engine/refs.py",
    "rebac/engine/snapshot.py",
    "rebac/engine/engine.py",
]


def extensions() -> list[object]:
    if os.environ.get("REBAC_PURE_PYTHON") == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:  # pragma: no cover - mypy is a build requirement
        print("rebac: mypyc not available, installing pure Python", file=sys.stderr)
        return []
    try:
        built = mypycify(COMPILED, opt_level="3")
    except (Exception, SystemExit) as exc:  # mypyc reports its errors by exiting
        print(f"rebac: mypyc failed ({exc}), installing pure Python", file=sys.stderr)
        return []
    for ext in built:
        ext.optional = True  # a failed compile leaves the pure-Python module in place
    return list(built)


setup(ext_modules=extensions())
