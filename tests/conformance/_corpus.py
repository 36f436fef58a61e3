"""Access to the SpiceDB conformance corpus in ``../shared/conformance`` (never copied here).

Parametrisation happens at collection time, so when the corpus is absent each parametrised test
gets one placeholder parameter that skips with the reason, instead of silently collecting
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rebac.engine import Engine
from rebac.model import Permissionship, SubjectRef
from rebac.schema import ast
from rebac.schema.compiler import CompiledSchema
from rebac.validation import ValidationFile, load_validation_file, populate

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
MISSING_REASON = f"conformance corpus not present at {CORPUS}"


def corpus_dir(*parts: str) -> Path:
    """A folder or file of the corpus; skips the calling test when it is missing."""
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.skip(MISSING_REASON)
    return path


def file_params(folder: str, pattern: str = "*.yaml") -> list[Any]:
    """One ``pytest.param(path, id=name)`` per matching file, or one skipping placeholder."""
    base = CORPUS / folder
    files = sorted(base.glob(pattern)) if base.is_dir() else []
    if not files:
        return [
            pytest.param(None, id="corpus-missing", marks=pytest.mark.skip(reason=MISSING_REASON))
        ]
    return [pytest.param(p, id=p.name) for p in files]


@dataclass
class Loaded:
    vf: ValidationFile
    engine: Engine


def load(path: Path) -> Loaded:
    vf = load_validation_file(path)
    engine = Engine()
    populate(engine, [vf])
    return Loaded(vf, engine)


def members(schema: CompiledSchema, type_name: str) -> list[str]:
    return [m.name for m in schema.definitions[type_name].members]


def object_ids(vf: ValidationFile) -> list[str]:
    """Every object id in the relationships (resources and non-wildcard subjects), sorted."""
    ids: set[str] = set()
    for item in vf.relationships:
        ids.add(item.relationship.resource.id)
        if not item.relationship.subject.is_wildcard:
            ids.add(item.relationship.subject.id)
    return sorted(ids)


def subjects(vf: ValidationFile) -> list[SubjectRef]:
    """Every non-wildcard subject (subject sets included) in the relationships, sorted."""
    found = {
        i.relationship.subject for i in vf.relationships if not i.relationship.subject.is_wildcard
    }
    return sorted(found, key=str)


def reachable_subject_kinds(
    schema: CompiledSchema, type_name: str, name: str
) -> set[tuple[str, str | None]]:
    """(subject type, subject relation) pairs that can be members of ``type_name#name``.

    Computed from the schema text alone (an oracle independent of the evaluator). A relation or
    permission named in an expression counts as reachable itself: SpiceDB aliases by name.
    """
    out: set[tuple[str, str | None]] = set()
    seen: set[tuple[str, str]] = set()

    def visit(t: str, n: str) -> None:
        if (t, n) in seen:
            return
        seen.add((t, n))
        member = schema.member(t, n)
        if isinstance(member, ast.Relation):
            for a in member.allowed:
                out.add((a.type, a.relation))
                if a.relation is not None:
                    visit(a.type, a.relation)
        elif isinstance(member, ast.Permission):
            expr(t, member.expr)

    def expr(t: str, e: ast.Expr) -> None:
        if isinstance(e, ast.RelationRef):
            out.add((t, e.name))
            visit(t, e.name)
        elif isinstance(e, ast.Union | ast.Intersection):
            for c in e.children:
                expr(t, c)
        elif isinstance(e, ast.Exclusion):
            expr(t, e.base)
        elif isinstance(e, ast.Arrow):
            rel = schema.relations.get((t, e.tupleset))
            for a in rel.allowed if rel else ():
                if schema.member(a.type, e.target) is not None:
                    out.add((a.type, e.target))
                    visit(a.type, e.target)
        elif isinstance(e, ast.SelfRef):
            out.add((t, None))

    visit(type_name, name)
    return out


def p_or(a: Permissionship, b: Permissionship) -> Permissionship:
    """Three-valued OR on permissionships."""
    if Permissionship.HAS_PERMISSION in (a, b):
        return Permissionship.HAS_PERMISSION
    if Permissionship.CONDITIONAL_PERMISSION in (a, b):
        return Permissionship.CONDITIONAL_PERMISSION
    return Permissionship.NO_PERMISSION


def p_and_not(a: Permissionship, b: Permissionship) -> Permissionship:
    """Three-valued ``a AND NOT b``."""
    if a is Permissionship.NO_PERMISSION or b is Permissionship.HAS_PERMISSION:
        return Permissionship.NO_PERMISSION
    if a is Permissionship.HAS_PERMISSION and b is Permissionship.NO_PERMISSION:
        return Permissionship.HAS_PERMISSION
    return Permissionship.CONDITIONAL_PERMISSION


def sample(items: Iterable[Any], limit: int) -> list[Any]:
    """At most ``limit`` items, evenly spaced: deterministic, and still covers the whole range."""
    seq = list(items)
    if len(seq) <= limit:
        return seq
    step = len(seq) / limit
    return [seq[int(i * step)] for i in range(limit)]
