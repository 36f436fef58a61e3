"""Hypothesis strategies: small random schemas (as ``ast.Schema``) and relationships for them.

Schemas are valid by construction under the compiler's rules (names of at least 3 characters,
no duplicates, an arrow's left side is a relation of the same definition that reaches no
wildcard, its target exists on at least one of that relation's subject types), and deliberately
crowded: member names come from one small pool shared by every definition, so the same name is
a relation on one type and a permission on another; subject sets like ``group#member`` may point
back at their own relation; permissions may refer to themselves, also under an exclusion.

Relationships use ids from a tiny pool shared by all types, so the same ids collide across
types and the data is full of cycles (``group:a#member@group:a#member`` included).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from rebac.model import ObjectRef, Relationship, SubjectRef
from rebac.schema import ast

OTHER_TYPES = ("group", "folder", "document")
MEMBER_NAMES = ("member", "parent", "owner", "viewer", "banned", "view", "edit")
IDS = ("a", "b", "c")


@dataclass(frozen=True)
class Case:
    schema: ast.Schema
    relationships: tuple[Relationship, ...]


def _reaches_wildcard(
    relations: dict[tuple[str, str], tuple[ast.AllowedType, ...]],
    key: tuple[str, str],
    seen: set[tuple[str, str]],
) -> bool:
    """Does relation ``key`` reach a wildcard through subject relations that are relations?"""
    seen.add(key)
    for a in relations[key]:
        if a.wildcard:
            return True
        nxt = (a.type, a.relation) if a.relation is not None else None
        if (
            nxt is not None
            and nxt in relations
            and nxt not in seen
            and _reaches_wildcard(relations, nxt, seen)
        ):
            return True
    return False


@st.composite
def _expression(
    draw: st.DrawFn,
    names: tuple[str, ...],
    arrows: tuple[tuple[str, str], ...],
    use_self: bool,
    depth: int,
) -> ast.Expr:
    if depth > 0 and draw(st.integers(0, 2)) > 0:
        kind = draw(st.sampled_from(("union", "intersection", "exclusion")))
        sub = _expression(names, arrows, use_self, depth - 1)
        if kind == "exclusion":
            return ast.Exclusion(draw(sub), draw(sub))
        children = tuple(draw(st.lists(sub, min_size=2, max_size=3)))
        return ast.Union(children) if kind == "union" else ast.Intersection(children)
    leaves = (
        ["ref"] * 4 + ["arrow"] * (3 if arrows else 0) + ["nil"] + (["self"] if use_self else [])
    )
    leaf = draw(st.sampled_from(leaves))
    if leaf == "ref":
        return ast.RelationRef(draw(st.sampled_from(names)))
    if leaf == "arrow":
        tupleset, target = draw(st.sampled_from(arrows))
        return ast.Arrow(tupleset, target, draw(st.sampled_from(("any", "any", "all"))))
    if leaf == "self":
        return ast.SelfRef()
    return ast.Nil()


@st.composite
def schemas(draw: st.DrawFn, max_depth: int = 2) -> ast.Schema:
    others = draw(st.lists(st.sampled_from(OTHER_TYPES), min_size=1, max_size=3, unique=True))
    types = ["user", *others]
    use_self = draw(st.booleans())

    # 1. Member names and kinds. Every type but user has at least one relation.
    kinds: dict[str, list[tuple[str, bool]]] = {}  # type -> [(name, is_relation)]
    for t in types:
        if t == "user":
            names = draw(st.lists(st.sampled_from(MEMBER_NAMES), max_size=1, unique=True))
        else:
            names = draw(
                st.lists(st.sampled_from(MEMBER_NAMES), min_size=1, max_size=4, unique=True)
            )
        flags = (
            [True] + [draw(st.booleans()) for _ in names[1:]]
            if t != "user"
            else [draw(st.booleans()) for _ in names]
        )
        kinds[t] = list(zip(names, flags, strict=True))
    member_names = {t: tuple(n for n, _ in kinds[t]) for t in types}

    # 2. Allowed subject types of every relation.
    options: list[ast.AllowedType] = [
        ast.AllowedType("user"),
        ast.AllowedType("user", wildcard=True),
    ]
    for t in others:
        options.append(ast.AllowedType(t))
    for t in types:
        options.extend(ast.AllowedType(t, relation=n) for n in member_names[t])
    if draw(st.booleans()):
        options.append(ast.AllowedType(others[0], wildcard=True))
    relations: dict[tuple[str, str], tuple[ast.AllowedType, ...]] = {}
    for t in types:
        for name, is_rel in kinds[t]:
            if is_rel:
                allowed = draw(
                    st.lists(st.sampled_from(options), min_size=1, max_size=3, unique_by=str)
                )
                relations[(t, name)] = tuple(allowed)

    # 3. Permissions, with arrows only where the compiler allows them.
    definitions: list[ast.Definition] = []
    uses_self = False
    for t in types:
        arrows: list[tuple[str, str]] = []
        for name, is_rel in kinds[t]:
            if not is_rel or _reaches_wildcard(relations, (t, name), set()):
                continue
            subject_types = {a.type for a in relations[(t, name)]}
            targets = sorted({n for st_ in subject_types for n in member_names[st_]})
            arrows.extend((name, target) for target in targets)
        members: list[ast.Relation | ast.Permission] = []
        for name, is_rel in kinds[t]:
            if is_rel:
                members.append(ast.Relation(name, relations[(t, name)]))
            else:
                expr = draw(_expression(member_names[t], tuple(arrows), use_self, max_depth))
                uses_self = uses_self or _has_self(expr)
                members.append(ast.Permission(name, expr))
        definitions.append(ast.Definition(t, tuple(members)))
    return ast.Schema(tuple(definitions), use_flags=("self",) if uses_self else ())


def _has_self(expr: ast.Expr) -> bool:
    if isinstance(expr, ast.SelfRef):
        return True
    if isinstance(expr, ast.Union | ast.Intersection):
        return any(_has_self(c) for c in expr.children)
    if isinstance(expr, ast.Exclusion):
        return _has_self(expr.base) or _has_self(expr.subtract)
    return False


@st.composite
def relationships(
    draw: st.DrawFn, schema: ast.Schema, max_size: int = 20, ids: tuple[str, ...] = IDS
) -> tuple[Relationship, ...]:
    slots: list[tuple[str, str, ast.AllowedType]] = [
        (d.name, m.name, a)
        for d in schema.definitions
        for m in d.members
        if isinstance(m, ast.Relation)
        for a in m.allowed
    ]
    if not slots:
        return ()
    out: dict[tuple[object, ...], Relationship] = {}

    def put(t: str, rel: str, rid: str, a: ast.AllowedType, sid: str) -> None:
        r = Relationship(ObjectRef(t, rid), rel, SubjectRef(a.type, sid, a.relation))
        out.setdefault(r.key, r)

    for _ in range(draw(st.integers(min(3, max_size), max_size))):
        t, rel, a = draw(st.sampled_from(slots))
        rid = draw(st.sampled_from(ids))
        put(t, rel, rid, a, "*" if a.wildcard else draw(st.sampled_from(ids)))
    # Rings: a relation that allows its own type as subject (``group#member`` on group.member,
    # or plain ``folder`` on folder.parent) linked around all the ids, so cycles are common.
    rings = [(t, rel, a) for t, rel, a in slots if a.type == t and not a.wildcard]
    with_ring: bool = draw(st.booleans())
    if rings and with_ring:
        t, rel, a = draw(st.sampled_from(rings))
        ring = draw(st.permutations(ids))[: draw(st.integers(1, len(ids)))]
        for i, rid in enumerate(ring):
            put(t, rel, rid, a, ring[(i + 1) % len(ring)])
    return tuple(out.values())


@st.composite
def cases(draw: st.DrawFn, max_relationships: int = 20, ids: tuple[str, ...] = IDS) -> Case:
    schema = draw(schemas())
    return Case(schema, draw(relationships(schema, max_relationships, ids)))
