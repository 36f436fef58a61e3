"""Upstream's validation-file loader fixtures (``spicedb-loader/``, README section 6).

Error messages are compared as substrings after mapping both backticks and single quotes to one
character: upstream quotes names with backticks, this project with single quotes (the project's
message convention). Two fixtures cannot match upstream's wording word for word, because the
text comes from a different parser and compiler; for those the test pins what matters instead
(the file, the position, and the names involved) and says so in ``WORDING``:

* ``loader_using_invalid_schemafile.yaml``: upstream names its own token types
  ("Expected one of: [TokenTypeColon], found: TokenTypeIdentifier");
* ``invalid_caveat.yaml``: upstream says "could not lookup caveat `some_caveat` for relation
  `reader`: caveat with name `some_caveat` not found".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rebac.engine import Engine
from rebac.errors import ValidationFileError
from rebac.model import Relationship
from rebac.validation import ValidationFile, load_validation_file, populate
from tests.conformance._corpus import corpus_dir

# file -> number of relationships once loaded
LOADS = {
    "loader_no_comment.yaml": 3,
    "loader_with_comment.yaml": 3,
    "loader_using_schemafile.yaml": 3,
    "basic_caveats.yaml": 2,
    "caveat_order.yaml": 2,
    # README section 6 says 500; the file holds user:0 ... user:500, i.e. 501 lines.
    "requires_chunking.yaml": 501,
}

# file -> substrings the error must contain (upstream's, modulo quote style)
FAILS = {
    "just_rels.yaml": ["object definition `example/project` not found", "just_rels.yaml:3:"],
    "schema_and_schemafile.yaml": ["only one of schema or schemaFile can be specified"],
    "loader_using_non-local_schemafile.yaml": ["is not local"],
    "loader_using_missing_schemafile.yaml": ["cannot open schema file", "non_existant_schemafile"],
    "legacy.yaml": ["relationships must be specified in `relationships`"],
    "invalid_caveated_rel.yaml": [
        "subjects of type `user with some_caveat` are not allowed on relation `resource#reader`",
        "invalid_caveated_rel.yaml:13:",
    ],
    "invalid_caveated_rel_syntax.yaml": [
        "error parsing relationship",
        "invalid_caveated_rel_syntax.yaml:15:",
    ],
    "repeated_relationship.yaml": [
        "found repeated relationship `resource:first#reader@user:tom`",
        "repeated_relationship.yaml:15:",
    ],
}

# file -> what is pinned instead of upstream's exact wording (see module docstring)
WORDING = {
    "loader_using_invalid_schemafile.yaml": ["invalid_schemafile.zed:6:18:", "expected ':'"],
    "invalid_caveat.yaml": ["some_caveat", "reader", "invalid_caveat.yaml:6:"],
}


def _norm(text: str) -> str:
    return text.replace("`", "'")


def _load(*names: str) -> tuple[list[ValidationFile], Engine, int]:
    folder = corpus_dir("spicedb-loader")
    files = [load_validation_file(folder / n) for n in names]
    engine = Engine()
    written = populate(engine, files)
    return files, engine, written


@pytest.mark.parametrize("name", sorted(LOADS))
def test_loader_fixture_loads_with_the_expected_relationship_count(name: str) -> None:
    files, engine, written = _load(name)
    assert written == LOADS[name]
    assert len(engine.read_relationships()) == LOADS[name]
    stored = {str(r) for r in engine.read_relationships()}
    assert stored == {str(i.relationship) for i in files[0].relationships}


@pytest.mark.parametrize("name", sorted(FAILS.keys() | WORDING.keys()))
def test_loader_fixture_is_rejected_with_the_expected_message(name: str) -> None:
    with pytest.raises(ValidationFileError) as info:
        _load(name)
    message = _norm(str(info.value))
    for part in FAILS.get(name, []) + WORDING.get(name, []):
        assert _norm(part) in message


def test_comment_lines_are_skipped_but_relationships_kept() -> None:
    (with_comment,), _, _ = _load("loader_with_comment.yaml")
    (without,), _, _ = _load("loader_no_comment.yaml")
    assert [i.relationship for i in with_comment.relationships] == [
        i.relationship for i in without.relationships
    ]


def test_schema_file_is_read_relative_to_the_validation_file() -> None:
    files, engine, _ = _load("loader_using_schemafile.yaml")
    assert files[0].schema_source is not None
    assert Path(files[0].schema_source).name == "separate_schemafile.zed"
    assert "example/project" in engine.schema.definitions


def test_two_files_load_into_one_store_with_the_schema_of_the_first() -> None:
    _, engine, written = _load("initial_schema_and_rels.yaml", "just_rels.yaml")
    assert written == 6
    assert len(engine.read_relationships()) == 6


def test_stored_caveat_context_is_kept() -> None:
    _, engine, _ = _load("basic_caveats.yaml")
    by_subject = {r.subject.id: r for r in engine.read_relationships()}
    assert by_subject["tom"].caveat_name == "some_caveat"
    assert not by_subject["tom"].caveat_context
    assert by_subject["sarah"].caveat_context == {"somecondition": 42}


def test_chunked_file_loads_when_writes_are_limited_to_fewer_updates() -> None:
    """``requires_chunking`` exists upstream to test batched writes: force several batches."""
    folder = corpus_dir("spicedb-loader")
    vf = load_validation_file(folder / "requires_chunking.yaml")
    engine = Engine(max_updates=100)
    assert populate(engine, [vf]) == 501
    assert Relationship.parse("example/project:pied_piper#reader@example/user:500") in set(
        engine.read_relationships()
    )
