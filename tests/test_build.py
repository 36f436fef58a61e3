"""The compiled build (setup.py, rebac.engine.build): same modules listed in both places, and
stale or unwanted extensions never run."""

from __future__ import annotations

import ast
import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path

from rebac.engine import build, compiled

ROOT = Path(__file__).resolve().parent.parent


def test_setup_compiles_exactly_the_modules_the_engine_knows_about() -> None:
    tree = ast.parse((ROOT / "setup.py").read_text())
    listed = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "COMPILED" for t in node.targets)
    )
    assert isinstance(listed, ast.List)
    files = [elt.value for elt in listed.elts if isinstance(elt, ast.Constant)]
    assert files == [f"rebac/engine/{name}.py" for name in build.COMPILED_MODULES]


def test_a_source_newer_than_its_extension_is_stale(tmp_path: Path) -> None:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    (tmp_path / "check.py").write_text("x = 1\n")
    ext = tmp_path / f"check{suffix}"
    ext.write_bytes(b"")
    os.utime(tmp_path / "check.py", (1_000, 1_000))
    os.utime(ext, (2_000, 2_000))
    assert build.stale(tmp_path, ["check"]) == []
    os.utime(tmp_path / "check.py", (3_000, 3_000))  # edited after the build
    assert build.stale(tmp_path, ["check"]) == ["check"]
    assert build.stale(tmp_path, ["index"]) == []  # no extension: nothing to be stale


def test_pure_python_is_what_runs_when_asked_for() -> None:
    code = "import rebac.engine as e; print(e.compiled())"
    env = {**os.environ, build.PURE_ENV: "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_a_fresh_build_runs_compiled_unless_pure_python_was_asked_for() -> None:
    built = all(build.extensions_of(name) for name in build.COMPILED_MODULES)
    wanted = os.environ.get(build.PURE_ENV) != "1"
    expected = built and wanted and not build.stale()
    assert compiled() is expected
