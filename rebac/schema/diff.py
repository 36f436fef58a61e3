"""What changes from one compiled schema to another (the server's DiffSchema, the CLI's
``schema diff``).

Changes come out in a stable order: definitions by name (members in source order of the new,
then removed ones), then caveats by name, so a diff of the same two schemas is always the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from rebac.schema import ast
from rebac.schema.compiler import CompiledSchema


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """``kind`` is one of the ``SchemaDiff.Kind`` names without the ``KIND_`` prefix, lower
    case (e.g. ``relation_subject_type_added``); ``name`` is the definition or caveat."""

    kind: str
    name: str
    member: str = ""
    detail: str = ""


def _member_kind(member: ast.Relation | ast.Permission) -> str:
    return "relation" if isinstance(member, ast.Relation) else "permission"


def _members(definition: ast.Definition) -> dict[str, ast.Relation | ast.Permission]:
    return {m.name: m for m in definition.members}


def _diff_member(
    name: str, old: ast.Relation | ast.Permission, new: ast.Relation | ast.Permission
) -> list[SchemaChange]:
    kind = _member_kind(new)
    if _member_kind(old) != kind:
        return [SchemaChange("member_kind_changed", name, new.name, f"{_member_kind(old)}->{kind}")]
    out: list[SchemaChange] = []
    if (old.doc or "") != (new.doc or ""):
        out.append(SchemaChange(f"{kind}_doc_changed", name, new.name))
    if isinstance(old, ast.Relation) and isinstance(new, ast.Relation):
        before = [str(a) for a in old.allowed]
        after = [str(a) for a in new.allowed]
        out += [
            SchemaChange("relation_subject_type_added", name, new.name, t)
            for t in after
            if t not in before
        ]
        out += [
            SchemaChange("relation_subject_type_removed", name, new.name, t)
            for t in before
            if t not in after
        ]
    elif (
        isinstance(old, ast.Permission) and isinstance(new, ast.Permission) and old.expr != new.expr
    ):
        out.append(SchemaChange("permission_expr_changed", name, new.name))
    return out


def _diff_definition(old: ast.Definition, new: ast.Definition) -> list[SchemaChange]:
    out: list[SchemaChange] = []
    if (old.doc or "") != (new.doc or ""):
        out.append(SchemaChange("definition_doc_changed", new.name))
    before, after = _members(old), _members(new)
    for member_name, member in after.items():
        previous = before.get(member_name)
        if previous is None:
            out.append(SchemaChange(f"{_member_kind(member)}_added", new.name, member_name))
        else:
            out += _diff_member(new.name, previous, member)
    for member_name, member in before.items():
        if member_name not in after:
            out.append(SchemaChange(f"{_member_kind(member)}_removed", new.name, member_name))
    return out


def _diff_caveat(old: ast.Caveat, new: ast.Caveat) -> list[SchemaChange]:
    out: list[SchemaChange] = []
    if (old.doc or "") != (new.doc or ""):
        out.append(SchemaChange("caveat_doc_changed", new.name))
    if old.expression.strip() != new.expression.strip():
        out.append(SchemaChange("caveat_expr_changed", new.name))
    before = {p.name: str(p.type) for p in old.parameters}
    after = {p.name: str(p.type) for p in new.parameters}
    for param, type_text in after.items():
        if param not in before:
            out.append(SchemaChange("caveat_parameter_added", new.name, param, type_text))
        elif before[param] != type_text:
            out.append(
                SchemaChange(
                    "caveat_parameter_type_changed",
                    new.name,
                    param,
                    f"{before[param]}->{type_text}",
                )
            )
    out += [
        SchemaChange("caveat_parameter_removed", new.name, param, type_text)
        for param, type_text in before.items()
        if param not in after
    ]
    return out


def diff_schemas(old: CompiledSchema | None, new: CompiledSchema) -> list[SchemaChange]:
    """Every change from ``old`` (None: no schema yet) to ``new``."""
    old_defs = dict(old.definitions) if old is not None else {}
    old_cavs = dict(old.caveats) if old is not None else {}
    out: list[SchemaChange] = []
    for name in sorted(set(old_defs) | set(new.definitions)):
        before, after = old_defs.get(name), new.definitions.get(name)
        if before is None:
            out.append(SchemaChange("definition_added", name))
        elif after is None:
            out.append(SchemaChange("definition_removed", name))
        else:
            out += _diff_definition(before, after)
    for name in sorted(set(old_cavs) | set(new.caveats)):
        cav_before, cav_after = old_cavs.get(name), new.caveats.get(name)
        if cav_before is None:
            out.append(SchemaChange("caveat_added", name))
        elif cav_after is None:
            out.append(SchemaChange("caveat_removed", name))
        else:
            out += _diff_caveat(cav_before, cav_after)
    return out
