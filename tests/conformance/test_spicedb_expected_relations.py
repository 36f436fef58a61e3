"""Expected relations round-trip on the corpus: what expand yields, written out, validates.

The corpus's own ``validation`` sections are empty (README 2.5), so this exercises the notation
instead: for every resource#permission an assertion names, the expected-relation lines
regenerated from a recursive expand are printed, parsed back, and must match the expansion
again (subjects, parent relations, caveat markers, wildcard exclusions).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rebac.validation import expected_from_tree, parse_expected_relation
from rebac.validation.expected import compare_expected
from tests.conformance._corpus import file_params, load

FILES = file_params("spicedb")


@pytest.mark.parametrize("path", FILES)
def test_regenerated_expected_relations_parse_back_and_match(path: Path) -> None:
    loaded = load(path)
    targets = sorted({(str(a.resource), a.permission) for a in loaded.vf.assertions})
    for resource, permission in targets:
        tree = loaded.engine.expand(resource, permission, recursive=True)
        generated = expected_from_tree(tree)
        reparsed = [parse_expected_relation(str(e)) for e in generated]
        assert compare_expected(reparsed, expected_from_tree(tree)) == [], (resource, permission)
        assert [str(e) for e in reparsed] == [str(e) for e in generated]
