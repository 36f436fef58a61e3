"""Schema compiler: parse, resolve imports and partials, type-check, index.

``compile_schema`` turns schema text (or an already parsed tree) into an immutable
:class:`CompiledSchema`, or raises :class:`~rebac.errors.SchemaError` (syntax, imports) /
:class:`~rebac.errors.SchemaTypeError` (names and types) pointing at the offending token.

The checks are SpiceDB's (``pkg/schema`` type system), so that a schema accepted here is accepted
there: valid names; no duplicate definitions, caveats, members or caveat parameters; every
allowed subject type, subject relation and caveat exists; ``with expiration`` and ``self`` need
their ``use`` flags; expressions refer to existing members; an arrow's left side is a relation of
the same definition that reaches no wildcard, and its target exists on at least one of that
relation's subject types. CEL caveat bodies are not compiled here (``rebac.caveats`` does that).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from rebac.errors import SchemaError, SchemaTypeError
from rebac.model import RELATION_NAME, is_valid_relation_name, is_valid_type_name
from rebac.schema import ast
from rebac.schema.parser import (
    Member,
    ParsedSchema,
    Partial,
    PartialRef,
    parse_schema,
    reserved_words,
)
from rebac.schema.printer import print_schema

_SIMPLE_CAVEAT_TYPES = frozenset(
    {
        "any",
        "bool",
        "bytes",
        "double",
        "duration",
        "int",
        "ipaddress",
        "string",
        "timestamp",
        "uint",
    }
)
_GENERIC_CAVEAT_TYPES = frozenset({"list", "map"})
_CEL_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# CEL's reserved words: a parameter named like one could never be used in the expression.
_CEL_RESERVED = frozenset(
    {
        *("true", "false", "null", "in", "as", "break", "const", "continue", "else", "for"),
        *("function", "if", "import", "let", "loop", "package", "namespace", "return", "var"),
        *("void", "while"),
    }
)
_SIMPLE_NAME = re.compile(RELATION_NAME + r"\Z")


@dataclass(frozen=True, eq=False)
class CompiledSchema:
    """A checked schema with lookup tables. Immutable; safe to share between threads.

    ``schema`` is the fully expanded tree (imports merged, partials spliced in); the mappings
    index it: ``relations`` and ``permissions`` are keyed by ``(definition, name)``.
    """

    schema: ast.Schema
    definitions: Mapping[str, ast.Definition]
    caveats: Mapping[str, ast.Caveat]
    relations: Mapping[tuple[str, str], ast.Relation]
    permissions: Mapping[tuple[str, str], ast.Permission]
    use_flags: frozenset[str]
    source: str | None = None

    @classmethod
    def index(cls, schema: ast.Schema, *, source: str | None = None) -> CompiledSchema:
        """Build the lookup tables of an already checked, fully expanded schema."""
        relations: dict[tuple[str, str], ast.Relation] = {}
        permissions: dict[tuple[str, str], ast.Permission] = {}
        for definition in schema.definitions:
            for member in definition.members:
                if isinstance(member, ast.Relation):
                    relations[definition.name, member.name] = member
                else:
                    permissions[definition.name, member.name] = member
        return cls(
            schema=schema,
            definitions=MappingProxyType({d.name: d for d in schema.definitions}),
            caveats=MappingProxyType({c.name: c for c in schema.caveats}),
            relations=MappingProxyType(relations),
            permissions=MappingProxyType(permissions),
            use_flags=frozenset(schema.use_flags),
            source=source,
        )

    def member(self, type_name: str, name: str) -> ast.Relation | ast.Permission | None:
        """The relation or permission ``name`` of definition ``type_name``, if it exists."""
        key = (type_name, name)
        return self.relations.get(key) or self.permissions.get(key)

    def text(self) -> str:
        """The canonical schema text (parses back to an equal :attr:`schema`)."""
        return print_schema(self.schema)


def compile_schema(
    text_or_schema: str | ast.Schema,
    *,
    source: str | None = None,
    base_dir: Path | None = None,
) -> CompiledSchema:
    """Parse (if given text), expand imports and partials, type-check and index a schema.

    ``import "x.zed"`` is resolved relative to the importing file's folder and must stay inside
    ``base_dir``; without ``base_dir`` a schema with imports is an error. ``source`` names the
    text in error messages.
    """
    if isinstance(text_or_schema, str):
        parsed = parse_schema(text_or_schema, source=source)
    else:
        parsed = text_or_schema
    expander = _Expander(base_dir, source)
    schema = expander.expand(parsed)
    _Checker(schema, expander.origins, source).check()
    return CompiledSchema.index(schema, source=source)


# -- imports and partials ---------------------------------------------------------------------


def _at(pos: ast.Position | None) -> tuple[int, int]:
    """Line and column of a node; (0, 0) for trees built without positions."""
    return (pos.line, pos.column) if pos is not None else (0, 0)


class _Expander:
    """Merges imported files in place of their ``import`` and splices partials in.

    ``origins`` maps ``id(node)`` of every definition, caveat and member to the file it came
    from, so that type errors in imported code name the right file.
    """

    def __init__(self, base_dir: Path | None, source: str | None) -> None:
        self.base = base_dir.resolve() if base_dir is not None else None
        self.root_source = source
        self.origins: dict[int, str | None] = {}
        self.definitions: list[ast.Definition] = []
        self.caveats: list[ast.Caveat] = []
        self.flags: list[str] = []
        self.partials: dict[str, tuple[Partial, str | None]] = {}
        self.refs: dict[int, list[PartialRef]] = {}  # index in self.definitions -> refs
        self.seen_names: dict[str, tuple[str | None, ast.Position | None]] = {}
        self.done: set[Path] = set()
        self.stack: list[Path] = []

    def expand(self, parsed: ast.Schema) -> ast.Schema:
        if not isinstance(parsed, ParsedSchema):
            return parsed
        root = self._root_path()
        if root is not None:
            self.stack.append(root)
        self._add(parsed, self.root_source, self.base)
        definitions = tuple(
            self._splice(definition, self.refs.get(index, []))
            for index, definition in enumerate(self.definitions)
        )
        return ast.Schema(definitions, tuple(self.caveats), tuple(self.flags))

    def _root_path(self) -> Path | None:
        if self.base is None or self.root_source is None:
            return None
        candidate = (self.base / self.root_source).resolve()
        return candidate if candidate.is_file() else None

    def _error(self, message: str, pos: ast.Position | None, source: str | None) -> SchemaError:
        return SchemaError(message, *_at(pos), source=source)

    def _claim(self, name: str, pos: ast.Position | None, source: str | None) -> None:
        """Definitions and caveats share one namespace across all imported files."""
        if name in self.seen_names:
            first_source, first_pos = self.seen_names[name]
            line, column = _at(first_pos)
            where = f"{first_source or '<schema>'}:{line}:{column}"
            raise SchemaTypeError(
                f"found name reused between multiple definitions and/or caveats: '{name}' "
                f"(first defined at {where})",
                *_at(pos),
                source=source,
            )
        self.seen_names[name] = (source, pos)

    def _add(self, schema: ast.Schema, source: str | None, folder: Path | None) -> None:
        for flag in schema.use_flags:
            if flag not in self.flags:
                self.flags.append(flag)
        if not isinstance(schema, ParsedSchema):
            for caveat in schema.caveats:
                self._add_caveat(caveat, source)
            for definition in schema.definitions:
                self._add_definition(definition, [], source)
            return
        refs: dict[int, list[PartialRef]] = {}
        for index, ref in schema.partial_refs:
            refs.setdefault(index, []).append(ref)
        for kind, index in schema.layout:
            if kind == "definition":
                self._add_definition(schema.definitions[index], refs.get(index, []), source)
            elif kind == "caveat":
                self._add_caveat(schema.caveats[index], source)
            elif kind == "partial":
                partial = schema.partials[index]
                if partial.name in self.partials:
                    raise SchemaTypeError(
                        f"duplicate partial '{partial.name}'", *_at(partial.pos), source=source
                    )
                self.partials[partial.name] = (partial, source)
                for member in partial.members:
                    self.origins[id(member)] = source
            else:
                item = schema.imports[index]
                self._import(item.path, item.pos, source, folder)

    def _add_caveat(self, caveat: ast.Caveat, source: str | None) -> None:
        self._claim(caveat.name, caveat.pos, source)
        self.origins[id(caveat)] = source
        self.caveats.append(caveat)

    def _add_definition(
        self, definition: ast.Definition, refs: list[PartialRef], source: str | None
    ) -> None:
        self._claim(definition.name, definition.pos, source)
        if refs:
            self.refs[len(self.definitions)] = refs
        self.origins[id(definition)] = source
        for member in definition.members:
            self.origins[id(member)] = source
        self.definitions.append(definition)

    def _import(
        self, path: str, pos: ast.Position | None, source: str | None, folder: Path | None
    ) -> None:
        if self.base is None or folder is None:
            raise self._error(
                f"cannot resolve import '{path}': no base directory was given", pos, source
            )
        target = (folder / path).resolve()
        if Path(path).is_absolute() or not target.is_relative_to(self.base):
            raise self._error(
                f"import path '{path}' must stay within the schema's folder", pos, source
            )
        if target in self.stack:
            chain = [*self.stack[self.stack.index(target) :], target]
            names = " -> ".join(str(p.relative_to(self.base)) for p in chain)
            raise self._error(f"circular import: {names}", pos, source)
        if target in self.done:
            return  # diamond: already merged along another path
        try:
            text = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise self._error(f'failed to read import "{path}": {reason}', pos, source) from exc
        name = str(target.relative_to(self.base))
        self.stack.append(target)
        self._add(parse_schema(text, source=name), name, target.parent)
        self.stack.pop()
        self.done.add(target)

    def _splice(self, definition: ast.Definition, refs: list[PartialRef]) -> ast.Definition:
        if not refs:
            return definition
        source = self.origins.get(id(definition))
        members = self._members(definition.members, refs, source, [])
        spliced = ast.Definition(definition.name, members, definition.doc, definition.pos)
        self.origins[id(spliced)] = source
        return spliced

    def _members(
        self,
        own: tuple[Member, ...],
        refs: list[PartialRef] | tuple[PartialRef, ...],
        source: str | None,
        trail: list[str],
    ) -> tuple[Member, ...]:
        """``own`` members with each referenced partial's (expanded) members spliced in."""
        pending = sorted(refs, key=lambda ref: ref.index)
        result: list[Member] = []
        for index in range(len(own) + 1):
            while pending and pending[0].index <= index:
                result.extend(self._partial_members(pending.pop(0), source, trail))
            if index < len(own):
                result.append(own[index])
        return tuple(result)

    def _partial_members(
        self, ref: PartialRef, source: str | None, trail: list[str]
    ) -> tuple[Member, ...]:
        if ref.name not in self.partials:
            raise SchemaTypeError(f"unknown partial '{ref.name}'", *_at(ref.pos), source=source)
        if ref.name in trail:
            chain = " -> ".join([*trail[trail.index(ref.name) :], ref.name])
            raise SchemaTypeError(
                f"circular partial reference: {chain}", *_at(ref.pos), source=source
            )
        partial, partial_source = self.partials[ref.name]
        return self._members(partial.members, partial.refs, partial_source, [*trail, ref.name])


# -- type checks ------------------------------------------------------------------------------


class _Checker:
    def __init__(
        self, schema: ast.Schema, origins: Mapping[int, str | None], source: str | None
    ) -> None:
        self.schema = schema
        self.origins = origins
        self.source = source
        self.flags = frozenset(schema.use_flags)
        # Trees built in code could use keywords as names; their text would not parse back.
        self.reserved = reserved_words(self.flags)
        self.definitions = {d.name: d for d in schema.definitions}
        self.caveats = {c.name: c for c in schema.caveats}
        self.members = {
            d.name: {m.name: m for m in d.members} for d in schema.definitions
        }  # first occurrence wins; duplicates are reported below

    def error(self, message: str, pos: ast.Position | None, node: object) -> SchemaTypeError:
        source = self.origins.get(id(node), self.source)
        return SchemaTypeError(message, *_at(pos), source=source)

    def check(self) -> None:
        names: dict[str, ast.Definition | ast.Caveat] = {}
        items: list[ast.Definition | ast.Caveat] = [*self.schema.caveats, *self.schema.definitions]
        for item in items:
            if item.name in names:
                line, column = _at(names[item.name].pos)
                raise self.error(
                    "found name reused between multiple definitions and/or caveats: "
                    f"'{item.name}' (first defined at line {line}, column {column})",
                    item.pos,
                    item,
                )
            names[item.name] = item
        for caveat in self.schema.caveats:
            self.check_caveat(caveat)
        for definition in self.schema.definitions:
            self.check_names(definition)
        # All relations before any permission: arrow checks walk other definitions' relations
        # and rely on their subject types being known to exist.
        for definition in self.schema.definitions:
            for member in definition.members:
                if isinstance(member, ast.Relation):
                    self.check_relation(definition, member, self.node(definition, member))
        for definition in self.schema.definitions:
            for member in definition.members:
                if isinstance(member, ast.Permission):
                    self.check_permission(definition, member, self.node(definition, member))

    def node(self, definition: ast.Definition, member: Member) -> object:
        """The node whose origin names the file a member came from (partials may differ)."""
        return member if id(member) in self.origins else definition

    def check_not_keyword(
        self, name: str, kind: str, pos: ast.Position | None, node: object
    ) -> None:
        for segment in name.split("/"):
            if segment in self.reserved:
                raise self.error(
                    f"keyword '{segment}' cannot be used in the {kind} name '{name}'", pos, node
                )

    # caveats

    def check_caveat(self, caveat: ast.Caveat) -> None:
        self.check_not_keyword(caveat.name, "caveat", caveat.pos, caveat)
        if not is_valid_type_name(caveat.name):
            raise self.error(
                f"invalid caveat name '{caveat.name}': expected lowercase letters, digits and "
                "'_' (3 to 64 characters per '/'-separated segment)",
                caveat.pos,
                caveat,
            )
        seen: set[str] = set()
        for param in caveat.parameters:
            self.check_not_keyword(param.name, "parameter", param.pos, caveat)
            if not _CEL_IDENTIFIER.match(param.name) or param.name in _CEL_RESERVED:
                raise self.error(
                    f"invalid parameter name '{param.name}' in caveat '{caveat.name}'",
                    param.pos,
                    caveat,
                )
            if param.name in seen:
                raise self.error(
                    f"duplicate parameter '{param.name}' in caveat '{caveat.name}'",
                    param.pos,
                    caveat,
                )
            seen.add(param.name)
            self.check_caveat_type(param.type, param, caveat)

    def check_caveat_type(
        self, ctype: ast.CaveatType, param: ast.CaveatParameter, caveat: ast.Caveat
    ) -> None:
        where = f"parameter '{param.name}' of caveat '{caveat.name}'"
        if ctype.name in _GENERIC_CAVEAT_TYPES:
            if len(ctype.args) != 1:
                raise self.error(
                    f"type '{ctype}' of {where} needs exactly one type argument, "
                    f"e.g. '{ctype.name}<string>'",
                    param.pos,
                    caveat,
                )
        elif ctype.name in _SIMPLE_CAVEAT_TYPES:
            if ctype.args:
                raise self.error(
                    f"type '{ctype.name}' of {where} takes no type arguments, found '{ctype}'",
                    param.pos,
                    caveat,
                )
        else:
            known = ", ".join(sorted(_SIMPLE_CAVEAT_TYPES | _GENERIC_CAVEAT_TYPES))
            raise self.error(
                f"unknown type '{ctype.name}' for {where}; known types: {known}",
                param.pos,
                caveat,
            )
        for arg in ctype.args:
            self.check_caveat_type(arg, param, caveat)

    # definitions

    def check_names(self, definition: ast.Definition) -> None:
        self.check_not_keyword(definition.name, "definition", definition.pos, definition)
        if not is_valid_type_name(definition.name):
            raise self.error(
                f"invalid definition name '{definition.name}': expected lowercase letters, "
                "digits and '_' (3 to 64 characters per '/'-separated segment)",
                definition.pos,
                definition,
            )
        seen: set[str] = set()
        for member in definition.members:
            kind = "relation" if isinstance(member, ast.Relation) else "permission"
            node = self.node(definition, member)
            self.check_not_keyword(member.name, kind, member.pos, node)
            if not is_valid_relation_name(member.name):
                raise self.error(
                    f"invalid {kind} name '{member.name}' on definition '{definition.name}': "
                    "expected 3 to 64 lowercase letters, digits and '_', starting with a letter",
                    member.pos,
                    node,
                )
            if member.name in seen:
                raise self.error(
                    f"duplicate relation or permission '{member.name}' on definition "
                    f"'{definition.name}'",
                    member.pos,
                    node,
                )
            seen.add(member.name)

    def check_relation(
        self, definition: ast.Definition, relation: ast.Relation, node: object
    ) -> None:
        where = f"relation '{relation.name}' of definition '{definition.name}'"
        seen: set[str] = set()
        for allowed in relation.allowed:
            if allowed.type not in self.definitions:
                raise self.error(
                    f"unknown definition '{allowed.type}' in {where}", allowed.pos, node
                )
            if allowed.relation is not None and allowed.relation not in self.members[allowed.type]:
                raise self.error(
                    f"unknown relation or permission '{allowed.relation}' on definition "
                    f"'{allowed.type}' (in {where})",
                    allowed.pos,
                    node,
                )
            if allowed.caveat is not None and allowed.caveat not in self.caveats:
                if allowed.caveat == "expiration" and "expiration" not in self.flags:
                    raise self.error(
                        f"'with expiration' in {where} needs 'use expiration' at the top "
                        "of the schema",
                        allowed.pos,
                        node,
                    )
                raise self.error(f"unknown caveat '{allowed.caveat}' in {where}", allowed.pos, node)
            if allowed.expiration and "expiration" not in self.flags:
                raise self.error(
                    f"'with expiration' in {where} needs 'use expiration' at the top of the schema",
                    allowed.pos,
                    node,
                )
            text = str(allowed)
            if text in seen:
                raise self.error(f"duplicate allowed type '{text}' in {where}", allowed.pos, node)
            seen.add(text)

    def check_permission(
        self, definition: ast.Definition, permission: ast.Permission, node: object
    ) -> None:
        for type_name in permission.annotation:
            if type_name not in self.definitions:
                raise self.error(
                    f"unknown definition '{type_name}' in the type annotation of permission "
                    f"'{permission.name}' on definition '{definition.name}'",
                    permission.pos,
                    node,
                )
        for expr in _walk(permission.expr):
            if isinstance(expr, ast.RelationRef):
                self.check_reference(definition, expr, node)
            elif isinstance(expr, ast.SelfRef) and "self" not in self.flags:
                raise self.error(
                    f"'self' in permission '{permission.name}' needs 'use self' at the top of "
                    "the schema",
                    expr.pos,
                    node,
                )
            elif isinstance(expr, ast.Arrow):
                self.check_arrow(definition, permission, expr, node)

    def check_reference(
        self, definition: ast.Definition, ref: ast.RelationRef, node: object
    ) -> None:
        if ref.name in self.members[definition.name]:
            return
        if ref.name == "self" and "self" not in self.flags:
            raise self.error("'self' needs 'use self' at the top of the schema", ref.pos, node)
        raise self.error(
            f"unknown relation or permission '{ref.name}' on definition '{definition.name}'",
            ref.pos,
            node,
        )

    def check_arrow(
        self,
        definition: ast.Definition,
        permission: ast.Permission,
        arrow: ast.Arrow,
        node: object,
    ) -> None:
        text = f"{arrow.tupleset}->{arrow.target}"
        if arrow.function == "all":
            text = f"{arrow.tupleset}.all({arrow.target})"
        if not _SIMPLE_NAME.match(arrow.tupleset):
            raise self.error(
                f"nested arrows are not supported: '{text}' in permission '{permission.name}'",
                arrow.pos,
                node,
            )
        left = self.members[definition.name].get(arrow.tupleset)
        if left is None:
            raise self.error(
                f"unknown relation '{arrow.tupleset}' on definition '{definition.name}' "
                f"(left side of arrow '{text}')",
                arrow.pos,
                node,
            )
        if isinstance(left, ast.Permission):
            raise self.error(
                f"the left side of arrow '{text}' must be a relation, but '{arrow.tupleset}' is "
                f"a permission on definition '{definition.name}'",
                arrow.pos,
                node,
            )
        wildcard = self.wildcard_reached(definition.name, left)
        if wildcard is not None:
            via, allowed = wildcard
            raise self.error(
                f"relation '{arrow.tupleset}' of definition '{definition.name}' reaches the "
                f"wildcard '{allowed.type}:*' (via '{via}'), so it cannot be used on the left "
                f"side of arrow '{text}'",
                arrow.pos,
                node,
            )
        subject_types = list(dict.fromkeys(allowed.type for allowed in left.allowed))
        if not any(arrow.target in self.members[t] for t in subject_types):
            raise self.error(
                f"'{arrow.target}' (target of arrow '{text}') is a relation or permission on "
                f"none of the subject types of relation '{arrow.tupleset}': "
                f"{', '.join(subject_types)}",
                arrow.pos,
                node,
            )

    def wildcard_reached(
        self, type_name: str, relation: ast.Relation
    ) -> tuple[str, ast.AllowedType] | None:
        """A wildcard subject type reachable from ``relation`` through subject relations.

        SpiceDB forbids these on the left of arrows: the arrow would have to walk every object
        of the type. Returns ``(relation that allows it, the wildcard type)``. Iterative, so a
        long chain of subject relations cannot exhaust the stack.
        """
        todo = [(type_name, relation)]
        seen = {(type_name, relation.name)}
        while todo:
            current_type, current = todo.pop()
            for allowed in current.allowed:
                if allowed.wildcard:
                    return f"{current_type}#{current.name}", allowed
                key = (allowed.type, allowed.relation)
                if allowed.relation is None or key in seen:
                    continue
                seen.add((allowed.type, allowed.relation))
                target = self.members[allowed.type].get(allowed.relation)
                if isinstance(target, ast.Relation):
                    todo.append((allowed.type, target))
        return None


def _walk(expr: ast.Expr) -> Iterator[ast.Expr]:
    yield expr
    if isinstance(expr, ast.Union | ast.Intersection):
        for child in expr.children:
            yield from _walk(child)
    elif isinstance(expr, ast.Exclusion):
        yield from _walk(expr.base)
        yield from _walk(expr.subtract)
