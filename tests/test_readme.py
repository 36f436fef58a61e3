"""The README is the front door: its in-process example must run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_schema_and_in_process_example_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = next(b for b in _blocks("console") if "cat > schema.zed" in b)
    schema = re.search(r"<<'ZED'\n(.*?)\nZED", console, re.S)
    assert schema is not None, "the worked example no longer writes schema.zed"
    (tmp_path / "schema.zed").write_text(schema.group(1), encoding="utf-8")
    example = next(b for b in _blocks("python") if "from rebac import Engine" in b)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(example, "README.md", "exec"), namespace)
    engine = namespace["engine"]
    assert engine.check("document:readme", "view", "user:alice").allowed  # type: ignore[attr-defined]
