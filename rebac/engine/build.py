"""Which evaluator modules run compiled (by mypyc, see setup.py) and when to run their sources.

A compiled extension sits next to its source, and Python's import system prefers it. After
an edit to a source file, a stale extension would silently keep running the old code; with
``REBAC_PURE_PYTHON=1`` the user asks for the sources. In both cases every compiled module is
then imported from its source, all together: compiled modules call each other directly, so a
fresh source is never mixed with stale compiled siblings.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: The modules setup.py compiles (tests/test_build.py keeps the two lists equal).
COMPILED_MODULES = (
    "values",
    "index",
    "flat",
    "plan",
    "check",
    "learned",
    "refs",
    "snapshot",
    "engine",
)
PURE_ENV = "REBAC_PURE_PYTHON"
HERE = Path(__file__).parent


def extensions_of(name: str, where: Path = HERE) -> list[Path]:
    """The compiled extension files of module ``name`` in ``where``."""
    return [
        where / f"{name}{suffix}"
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
        if (where / f"{name}{suffix}").exists()
    ]


def stale(where: Path = HERE, names: Sequence[str] = COMPILED_MODULES) -> list[str]:
    """The modules whose source is newer than their compiled extension."""
    out = []
    for name in names:
        built = extensions_of(name, where)
        source = where / f"{name}.py"
        if (
            built
            and source.exists()
            and source.stat().st_mtime > min(p.stat().st_mtime for p in built)
        ):
            out.append(name)
    return out


class _SourceFinder:
    """Finds ``rebac.engine.<compiled module>`` as its ``.py`` file."""

    def __init__(self, where: Path, names: Sequence[str]):
        self.files = {f"rebac.engine.{n}": where / f"{n}.py" for n in names}

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        return None if file is None else importlib.util.spec_from_file_location(fullname, file)


def prefer_sources() -> str | None:
    """Arrange for the compiled modules to be imported from source when asked to or when an
    extension is stale (call before importing them); returns why, or None."""
    if not any(extensions_of(n) for n in COMPILED_MODULES):
        return None
    if os.environ.get(PURE_ENV) == "1":
        why = f"{PURE_ENV}=1"
    else:
        old = stale()
        if not old:
            return None
        why = f"compiled modules older than their sources: {', '.join(old)}"
        print(
            f"rebac: running the evaluator from source ({why}); "
            "reinstall (pip install -e .) to compile it again",
            file=sys.stderr,
        )
    sys.meta_path.insert(0, _SourceFinder(HERE, COMPILED_MODULES))
    return why
