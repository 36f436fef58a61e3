"""Parsing validation files: keys, line numbers, and every rejection the format requires."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rebac.errors import InvalidRequest, ValidationFileError
from rebac.model import ObjectRef, Permissionship, SubjectRef
from rebac.validation import load_validation_file, parse_assertion, parse_validation_text

SCHEMA = """\
definition user {}
definition document {
  relation viewer: user
  permission view = viewer
}
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_every_block_style_yields_the_same_relationships() -> None:
    literal = parse_validation_text(
        "relationships: |\n  document:d#viewer@user:a\n  document:d#viewer@user:b\n"
    )
    folded = parse_validation_text(
        "relationships: >-\n  document:d#viewer@user:a\n\n  document:d#viewer@user:b\n"
    )
    assert [r.text for r in literal.relationships] == [r.text for r in folded.relationships]
    assert [r.text for r in folded.relationships] == [
        "document:d#viewer@user:a",
        "document:d#viewer@user:b",
    ]


def test_relationship_lines_point_into_the_yaml_file() -> None:
    text = (
        "---\n"  # 1
        "relationships: >-\n"  # 2
        "  // a comment\n"  # 3
        "\n"  # 4
        "  document:d#viewer@user:a\n"  # 5
        "\n"  # 6
        "  document:d#viewer@user:b\n"  # 7
    )
    vf = parse_validation_text(text)
    assert [(r.text, r.line) for r in vf.relationships] == [
        ("document:d#viewer@user:a", 5),
        ("document:d#viewer@user:b", 7),
    ]


def test_comment_and_blank_lines_are_skipped_and_lines_are_trimmed() -> None:
    vf = parse_validation_text("relationships: |\n  // x\n\n    document:d#viewer@user:a   \n")
    assert [r.text for r in vf.relationships] == ["document:d#viewer@user:a"]


def test_assertions_keep_their_line_kind_and_context() -> None:
    text = (
        "assertions:\n"  # 1
        "  assertTrue:\n"  # 2
        '    - "document:d#view@user:a"\n'  # 3
        "  assertCaveated:\n"  # 4
        "    - 'document:d#view@user:b with {\"x\": 1}' # trailing comment\n"  # 5
        "  assertFalse: []\n"  # 6
    )
    vf = parse_validation_text(text)
    assert [(a.kind, a.line, a.expected) for a in vf.assertions] == [
        ("assertTrue", 3, Permissionship.HAS_PERMISSION),
        ("assertCaveated", 5, Permissionship.CONDITIONAL_PERMISSION),
    ]
    assert vf.assertions[1].context == {"x": 1}
    assert vf.assertions[1].text == 'document:d#view@user:b with {"x": 1}'


def test_null_sections_and_an_empty_file_are_allowed() -> None:
    vf = parse_validation_text(
        "schema: null\nrelationships: null\nassertions: null\nvalidation: null\n"
    )
    assert (vf.schema, vf.relationships, vf.assertions, vf.expected_relations) == (None, (), (), ())
    assert parse_validation_text("").relationships == ()
    assert parse_validation_text("assertions:\n  assertTrue: null\n").assertions == ()


def test_assertion_is_split_at_the_first_with() -> None:
    a = parse_assertion('document:d#view@user:a with {"note": "x with y"}', "assertTrue")
    assert a.context == {"note": "x with y"}
    assert (a.resource, a.permission, a.subject) == (
        ObjectRef("document", "d"),
        "view",
        SubjectRef("user", "a"),
    )


def test_assertion_subject_may_be_a_subject_set_with_or_without_ellipsis() -> None:
    subject_set = parse_assertion("doc:x#view@grp:y#member", "assertTrue").subject
    assert subject_set == SubjectRef("grp", "y", "member")
    assert parse_assertion("doc:x#view@usr:y#...", "assertTrue").subject == SubjectRef("usr", "y")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("document:d#view@user:a[somecaveat]", "cannot specify a caveat"),
        ("document:d#view@user:a[expiration:2030-01-01T00:00:00Z]", "cannot specify a caveat"),
        ("document:d#view@user:a with [1]", "must be a JSON object"),
        ("document:d#view@user:a with {nope", "invalid caveat context"),
        ("document:d#view", "error parsing assertion"),
    ],
)
def test_malformed_assertions_are_rejected(text: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        parse_assertion(text, "assertTrue")


def test_bad_assertion_is_reported_with_file_and_line() -> None:
    text = "assertions:\n  assertTrue:\n    - 'document:d#view@user:a[cav]'\n"
    with pytest.raises(ValidationFileError, match=r"^f\.yaml:3: cannot specify a caveat"):
        parse_validation_text(text, path="f.yaml")


def test_misspelt_assertion_list_is_rejected_rather_than_ignored() -> None:
    with pytest.raises(
        ValidationFileError, match=r"f\.yaml:2: unknown assertion list 'assertTure'"
    ):
        parse_validation_text("assertions:\n  assertTure: []\n", path="f.yaml")


def test_repeated_relationship_ignores_caveat_and_expiration() -> None:
    text = "relationships: |\n  document:d#viewer@user:a[cav]\n  document:d#viewer@user:a\n"
    with pytest.raises(ValidationFileError) as info:
        parse_validation_text(text, path="f.yaml")
    assert str(info.value) == (
        "f.yaml:3: found repeated relationship 'document:d#viewer@user:a' (first at line 2)"
    )


def test_ellipsis_and_plain_subject_are_the_same_relationship() -> None:
    text = "relationships: |\n  document:d#viewer@user:a#...\n  document:d#viewer@user:a\n"
    with pytest.raises(ValidationFileError, match="repeated relationship"):
        parse_validation_text(text)


def test_unparseable_relationship_names_its_line() -> None:
    text = "relationships: |\n  document:d#viewer@user:a\n  document:d#viewer@user:b[cav{}]\n"
    with pytest.raises(ValidationFileError, match=r"^f\.yaml:3: error parsing relationship"):
        parse_validation_text(text, path="f.yaml")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("validation_tuples", "relationships must be specified in `relationships`"),
        ("namespace_configs", "definitions must be specified in `schema`"),
    ],
)
def test_legacy_keys_are_rejected(key: str, message: str) -> None:
    with pytest.raises(ValidationFileError, match=message):
        parse_validation_text(f"---\n{key}:\n  - foo\n")


def test_invalid_yaml_reports_its_line() -> None:
    with pytest.raises(ValidationFileError, match=r"^f\.yaml:3: invalid YAML"):
        parse_validation_text("schema: x\nrelationships: y\n  - : [\n", path="f.yaml")


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(ValidationFileError, match="must be a YAML mapping"):
        parse_validation_text("- a\n- b\n")


def test_schema_file_is_read_relative_to_the_validation_file(tmp_path: Path) -> None:
    _write(tmp_path, "schemas/s.zed", SCHEMA)
    path = _write(tmp_path, "v.yaml", "schemaFile: ./schemas/s.zed\n")
    vf = load_validation_file(path)
    assert vf.schema == SCHEMA
    assert vf.schema_source == str(tmp_path / "schemas" / "s.zed")


def test_schema_and_schema_file_together_are_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "v.yaml", "schema: 'definition user {}'\nschemaFile: s.zed\n")
    with pytest.raises(ValidationFileError, match="only one of schema or schemaFile"):
        load_validation_file(path)


@pytest.mark.parametrize("target", ["../outside.zed", "a/../../outside.zed", "/etc/passwd"])
def test_schema_file_outside_the_folder_is_not_local(tmp_path: Path, target: str) -> None:
    _write(tmp_path, "outside.zed", SCHEMA)
    path = _write(tmp_path, "inner/v.yaml", f"schemaFile: {target!r}\n")
    with pytest.raises(ValidationFileError, match="is not local"):
        load_validation_file(path)


def test_schema_file_symlink_leaving_the_folder_is_not_local(tmp_path: Path) -> None:
    _write(tmp_path, "outside.zed", SCHEMA)
    (tmp_path / "inner").mkdir()
    os.symlink(tmp_path / "outside.zed", tmp_path / "inner" / "link.zed")
    path = _write(tmp_path, "inner/v.yaml", "schemaFile: link.zed\n")
    with pytest.raises(ValidationFileError, match="is not local"):
        load_validation_file(path)


def test_missing_schema_file_cannot_be_opened(tmp_path: Path) -> None:
    path = _write(tmp_path, "v.yaml", "schemaFile: nope.zed\n")
    with pytest.raises(
        ValidationFileError, match=r"v\.yaml:1: cannot open schema file 'nope\.zed'"
    ):
        load_validation_file(path)


def test_unreadable_validation_file_is_a_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationFileError, match="cannot read validation file"):
        load_validation_file(tmp_path / "absent.yaml")


def test_expected_relations_are_parsed_with_their_lines() -> None:
    text = (
        "validation:\n"  # 1
        "  document:d#view:\n"  # 2
        '    - "[user:tom] is <document:d#viewer>"\n'  # 3
        '    - "[user:* - {user:x, user:y[...]}] is <document:d#viewer>/<document:d#editor>"\n'
        "  document:e#view: null\n"
    )
    vf = parse_validation_text(text)
    first, second = vf.expected_relations
    assert (first.key, first.line, second.entries) == ("document:d#view", 2, ())
    tom, wild = first.entries
    assert (tom.line, str(tom)) == (3, "[user:tom] is <document:d#viewer>")
    assert (
        str(wild) == "[user:* - {user:x, user:y[...]}] is <document:d#editor>/<document:d#viewer>"
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("is <document:d#viewer>", "missing a \\[subject\\]"),
        ("[user:tom - {user:x}] is <document:d#viewer>", "only a wildcard"),
        ("[user:*#member] is <document:d#viewer>", "cannot have a relation"),
        ("[user:tom] is <document:d>", "invalid expected-relations key"),
    ],
)
def test_malformed_expected_relations_are_rejected_with_their_line(
    entry: str, message: str
) -> None:
    text = f"validation:\n  document:d#view:\n    - {entry!r}\n"
    with pytest.raises(ValidationFileError, match=r"f\.yaml:3: .*" + message):
        parse_validation_text(text, path="f.yaml")


def test_expected_relations_key_needs_a_relation() -> None:
    with pytest.raises(ValidationFileError, match=r"f\.yaml:2: invalid expected-relations key"):
        parse_validation_text("validation:\n  document:d: []\n", path="f.yaml")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("assertions: {}\nassertions: {}\n", 2),
        ("assertions:\n  assertTrue: []\n  assertTrue: []\n", 3),
        ("validation:\n  document:d#view: []\n  document:d#view: []\n", 3),
    ],
)
def test_repeated_keys_are_rejected_instead_of_silently_dropped(text: str, line: int) -> None:
    with pytest.raises(ValidationFileError, match=rf"^f\.yaml:{line}: key .* is repeated"):
        parse_validation_text(text, path="f.yaml")
