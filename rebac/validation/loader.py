"""Reading SpiceDB validation files into plain values, with the YAML line of every item.

Nothing here touches an engine: a file is parsed, its relationships and assertions are checked
for syntax, and every item remembers its line so that later failures (a relationship the schema
refuses, an assertion that does not hold) can be reported as ``file:line: ...``.

The format is the one ``zed validate`` reads (upstream ``pkg/validationfile``)::

    schema: |-            # or schemaFile: ./schema.zed (relative, inside the file's folder)
      definition user {}
      ...
    relationships: >-
      document:d#viewer@user:tom
    assertions:
      assertTrue: ["document:d#view@user:tom"]
      assertCaveated: ['document:d#view@user:sarah with {"x": 1}']
      assertFalse: []
    validation:           # expected relations, see :mod:`rebac.validation.expected`
      document:d#view: ["[user:tom] is <document:d#viewer>"]
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from rebac.errors import InvalidRequest, ValidationFileError
from rebac.model import ObjectRef, Permissionship, Relationship, SubjectRef
from rebac.validation._yamlpos import ScalarPositions
from rebac.validation.expected import ExpectedRelation, parse_expected_relation, parse_relation_key

AssertionKind = Literal["assertTrue", "assertCaveated", "assertFalse"]

#: What each assertion list expects a check to answer.
EXPECTED: dict[AssertionKind, Permissionship] = {
    "assertTrue": Permissionship.HAS_PERMISSION,
    "assertCaveated": Permissionship.CONDITIONAL_PERMISSION,
    "assertFalse": Permissionship.NO_PERMISSION,
}

# Legacy keys of the pre-schema-language format, with the error upstream gives for each.
_LEGACY = {
    "namespace_configs": "definitions must be specified in `schema`",
    "validation_tuples": "relationships must be specified in `relationships`",
}
_CONTEXT_SEPARATOR = " with "

_Nodes = dict[str, tuple[yaml.Node, yaml.Node]]


@dataclass(frozen=True, slots=True)
class RelationshipLine:
    relationship: Relationship
    text: str
    line: int | None


@dataclass(frozen=True, slots=True)
class Assertion:
    """One assertion string, parsed. ``text`` is the trimmed original, context included."""

    kind: AssertionKind
    text: str
    resource: ObjectRef
    permission: str
    subject: SubjectRef
    context: Mapping[str, Any] | None = field(default=None, hash=False)
    line: int | None = None

    @property
    def expected(self) -> Permissionship:
        return EXPECTED[self.kind]


@dataclass(frozen=True, slots=True)
class ExpectedRelations:
    """The expected relations listed under one ``validation`` key (``type:id#relation``)."""

    resource: ObjectRef
    relation: str
    key: str
    entries: tuple[ExpectedRelation, ...]
    line: int | None = None


@dataclass(frozen=True, slots=True)
class ValidationFile:
    """A parsed validation file.

    ``schema`` is the schema text (read from ``schemaFile`` when that key is used);
    ``schema_source`` names where it came from for error messages, and ``schema_positions``
    maps positions in an inline schema back to the YAML file (``None`` for a schema file).
    """

    path: Path
    schema: str | None
    schema_source: str | None
    relationships: tuple[RelationshipLine, ...]
    assertions: tuple[Assertion, ...]
    expected_relations: tuple[ExpectedRelations, ...]
    schema_positions: ScalarPositions | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        return str(self.path)


def _error(name: str, line: int | None, message: str) -> ValidationFileError:
    where = f"{name}:{line}" if line is not None else name
    return ValidationFileError(f"{where}: {message}")


def load_validation_file(path: str | os.PathLike[str]) -> ValidationFile:
    """Read and parse one validation file; raises :class:`ValidationFileError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationFileError(f"{p}: cannot read validation file: {exc}") from exc
    return parse_validation_text(text, path=p)


def parse_validation_text(
    text: str, *, path: str | os.PathLike[str] = "<string>"
) -> ValidationFile:
    """Parse validation-file text. ``path`` names the file and anchors ``schemaFile``."""
    p = Path(path)
    name = str(p)
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data: Any = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise _error(name, line, f"invalid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise _error(name, None, f"invalid YAML: {exc}") from exc
    finally:
        loader.dispose()
    nodes: _Nodes = {}
    if data is None:
        data = {}
    elif not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        raise _error(name, 1, "a validation file must be a YAML mapping")
    else:
        nodes = {k.value: (k, v) for k, v in _pairs(root, name)}
    lines = text.split("\n")

    for key, message in _LEGACY.items():
        if data.get(key):
            raise _error(name, nodes[key][0].start_mark.line + 1, message)

    schema, source, positions = _schema(data, nodes, lines, p)
    return ValidationFile(
        path=p,
        schema=schema,
        schema_source=source,
        relationships=_relationships(data, nodes, lines, name),
        assertions=_assertions(data, nodes, name),
        expected_relations=_expected(data, nodes, name),
        schema_positions=positions,
    )


def _pairs(mapping: yaml.MappingNode, name: str) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
    """Key/value nodes of a mapping. A repeated key is an error: PyYAML would silently keep the
    last one (dropping, say, a whole ``assertions`` block), where upstream's YAML parser fails."""
    seen: dict[str, int] = {}
    out: list[tuple[yaml.ScalarNode, yaml.Node]] = []
    for key, value in mapping.value:
        line = key.start_mark.line + 1
        if not isinstance(key, yaml.ScalarNode):
            raise _error(name, line, "mapping keys must be strings")
        if key.value in seen:
            raise _error(
                name, line, f"key {key.value!r} is repeated (first at line {seen[key.value]})"
            )
        seen[key.value] = line
        out.append((key, value))
    return out


def _line(nodes: _Nodes, key: str) -> int | None:
    return nodes[key][1].start_mark.line + 1 if key in nodes else None


def _schema(
    data: dict[str, Any], nodes: _Nodes, lines: list[str], path: Path
) -> tuple[str | None, str | None, ScalarPositions | None]:
    name = str(path)
    schema, schema_file = data.get("schema"), data.get("schemaFile")
    if schema is not None and schema_file is not None:
        raise _error(
            name, _line(nodes, "schemaFile"), "only one of schema or schemaFile can be specified"
        )
    if schema is not None:
        if not isinstance(schema, str):
            raise _error(name, _line(nodes, "schema"), "`schema` must be a string")
        key, value = nodes["schema"]
        return schema, name, ScalarPositions(lines, value, key.start_mark.column)
    if schema_file is None:
        return None, None, None
    line = _line(nodes, "schemaFile")
    if not isinstance(schema_file, str) or not schema_file:
        raise _error(name, line, "`schemaFile` must be a non-empty string")
    folder = path.parent
    target = _local_path(folder, schema_file)
    if target is None:
        raise _error(
            name, line, f"schema file {schema_file!r} is not local: it must stay inside {folder}"
        )
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as exc:
        raise _error(name, line, f"cannot open schema file {schema_file!r}: {exc}") from exc
    return text, str(target), None


def _local_path(folder: Path, relative: str) -> Path | None:
    """``folder / relative`` if it stays inside ``folder`` (lexically and after symlinks)."""
    if os.path.isabs(relative):
        return None
    normal = os.path.normpath(relative)
    if normal == ".." or normal.startswith(".." + os.sep):
        return None
    target = folder / normal
    try:
        target.resolve().relative_to(folder.resolve())
    except ValueError:
        return None
    return target


def _relationships(
    data: dict[str, Any], nodes: _Nodes, lines: list[str], name: str
) -> tuple[RelationshipLine, ...]:
    value = data.get("relationships")
    if value is None:
        return ()
    if not isinstance(value, str):
        raise _error(name, _line(nodes, "relationships"), "`relationships` must be a string")
    key, node = nodes["relationships"]
    positions = ScalarPositions(lines, node, key.start_mark.column)
    out: list[RelationshipLine] = []
    seen: dict[tuple[str, str, str, str, str, str | None], int | None] = {}
    for index, raw in enumerate(value.split("\n")):
        text = raw.strip()
        if not text or text.startswith("//"):
            continue
        line = positions.locate(index, len(raw) - len(raw.lstrip()))[0]
        try:
            rel = Relationship.parse(text)
        except InvalidRequest as exc:
            raise _error(name, line, str(exc)) from exc
        if rel.key in seen:
            bare = f"{rel.resource}#{rel.relation}@{rel.subject}"
            first = seen[rel.key]
            also = f" (first at line {first})" if first is not None else ""
            raise _error(name, line, f"found repeated relationship '{bare}'{also}")
        seen[rel.key] = line
        out.append(RelationshipLine(rel, text, line))
    return tuple(out)


def parse_assertion(text: str, kind: AssertionKind, line: int | None = None) -> Assertion:
    """``resource#permission@subject[ with {json}]``; raises :class:`InvalidRequest`."""
    text = text.strip()
    rel_text, sep, ctx_text = text.partition(_CONTEXT_SEPARATOR)
    context: dict[str, Any] | None = None
    if sep:
        try:
            loaded = json.loads(ctx_text)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"invalid caveat context in assertion {text!r}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise InvalidRequest(f"caveat context must be a JSON object in assertion {text!r}")
        context = loaded
    try:
        rel = Relationship.parse(rel_text)
    except InvalidRequest as exc:
        raise InvalidRequest(
            f"error parsing assertion {text!r}: expected "
            "'type:id#relation@type:id[#relation]', optionally followed by ' with {json}'"
        ) from exc
    if rel.caveat_name is not None or rel.expires_at is not None:
        raise InvalidRequest(
            f"cannot specify a caveat or expiration on an assertion: {text!r} "
            "(pass caveat context as 'relationship with {...}')"
        )
    return Assertion(kind, text, rel.resource, rel.relation, rel.subject, context, line)


def _assertions(data: dict[str, Any], nodes: _Nodes, name: str) -> tuple[Assertion, ...]:
    value = data.get("assertions")
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise _error(name, _line(nodes, "assertions"), "`assertions` must be a mapping")
    mapping = nodes["assertions"][1]
    assert isinstance(mapping, yaml.MappingNode)
    out: list[Assertion] = []
    for key_node, list_node in _pairs(mapping, name):
        kind = key_node.value
        line = key_node.start_mark.line + 1
        if kind not in EXPECTED:
            # Upstream ignores unknown keys; a misspelt list would silently assert nothing.
            raise _error(
                name,
                line,
                f"unknown assertion list {kind!r}: expected one of {', '.join(EXPECTED)}",
            )
        if isinstance(list_node, yaml.ScalarNode) and list_node.tag.endswith(":null"):
            continue
        if not isinstance(list_node, yaml.SequenceNode):
            raise _error(name, line, f"`{kind}` must be a list of strings")
        for item in list_node.value:
            item_line = item.start_mark.line + 1
            if not isinstance(item, yaml.ScalarNode) or not item.tag.endswith(":str"):
                raise _error(name, item_line, f"each `{kind}` item must be a string")
            try:
                out.append(parse_assertion(item.value, kind, item_line))
            except InvalidRequest as exc:
                raise _error(name, item_line, str(exc)) from exc
    return tuple(out)


def _expected(data: dict[str, Any], nodes: _Nodes, name: str) -> tuple[ExpectedRelations, ...]:
    value = data.get("validation")
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise _error(name, _line(nodes, "validation"), "`validation` must be a mapping")
    mapping = nodes["validation"][1]
    assert isinstance(mapping, yaml.MappingNode)
    out: list[ExpectedRelations] = []
    for key_node, list_node in _pairs(mapping, name):
        line = key_node.start_mark.line + 1
        try:
            resource, relation = parse_relation_key(str(key_node.value))
        except InvalidRequest as exc:
            raise _error(name, line, str(exc)) from exc
        entries: list[ExpectedRelation] = []
        if isinstance(list_node, yaml.SequenceNode):
            items = list_node.value
        elif isinstance(list_node, yaml.ScalarNode) and list_node.tag.endswith(":null"):
            items = []
        else:
            raise _error(name, line, f"expected relations of {key_node.value!r} must be a list")
        for item in items:
            item_line = item.start_mark.line + 1
            if not isinstance(item, yaml.ScalarNode) or not item.tag.endswith(":str"):
                raise _error(name, item_line, "each expected relation must be a string")
            try:
                entries.append(parse_expected_relation(item.value, item_line))
            except InvalidRequest as exc:
                raise _error(name, item_line, str(exc)) from exc
        out.append(ExpectedRelations(resource, relation, str(key_node.value), tuple(entries), line))
    return tuple(out)
