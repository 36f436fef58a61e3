"""Tree rendering: shape, ASCII fallback, and depth beyond the recursion limit."""

from __future__ import annotations

import io
import sys

from rebac.cli._output import TreeNode, can_draw_boxes, progress_enabled, render_tree
from rebac.cli.query_cmd import expand_tree
from rebac.engine.expand import ExpandNode
from rebac.model import ObjectRef


def test_shape() -> None:
    tree = TreeNode("root", [TreeNode("a", [TreeNode("a1"), TreeNode("a2")]), TreeNode("b")])
    assert render_tree(tree) == ["root", "├── a", "│   ├── a1", "│   └── a2", "└── b"]
    assert render_tree(tree, ascii_only=True) == [
        "root",
        "|-- a",
        "|   |-- a1",
        "|   `-- a2",
        "`-- b",
    ]


def test_ascii_fallback_for_encodings_without_boxes() -> None:
    latin1 = io.TextIOWrapper(io.BytesIO(), encoding="latin-1")
    utf8 = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    assert not can_draw_boxes(latin1)
    assert can_draw_boxes(utf8)


def test_deeper_than_the_recursion_limit() -> None:
    depth = sys.getrecursionlimit() + 100
    node = ExpandNode("leaf", ObjectRef("group", f"g{depth}"), "member")
    for i in reversed(range(depth)):
        node = ExpandNode("union", ObjectRef("group", f"g{i}"), "member", children=(node,))
    lines = render_tree(expand_tree(node), ascii_only=True)
    assert len(lines) == depth + 1
    assert lines[0] == "union group:g0#member"
    assert lines[-1].endswith(f"`-- group:g{depth}#member (empty)")


def test_progress_defaults_to_terminals_only() -> None:
    assert progress_enabled(None, io.StringIO()) is False
    assert progress_enabled(True, io.StringIO()) is True
    assert progress_enabled(False, io.StringIO()) is False
