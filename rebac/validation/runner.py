"""Loading validation files into an engine and checking what they assert.

``run_validation`` gives every file its own fresh engine, as SpiceDB does (one file = one
store); :func:`populate` can also load several files into one engine, which is what the upstream
loader does for ``initial_schema_and_rels.yaml`` + ``just_rels.yaml`` (the schema comes from the
first file that has one).

Only :class:`~rebac.errors.RebacError` is caught while checking: anything else is a bug in the
engine and should crash loudly rather than be reported as a failed assertion.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rebac.errors import RebacError, SchemaError, ValidationFileError
from rebac.model import Operation, Relationship, RelationshipUpdate
from rebac.validation.expected import compare_expected, expected_from_tree
from rebac.validation.loader import RelationshipLine, ValidationFile, load_validation_file

if TYPE_CHECKING:
    from rebac.engine import Engine

DEFAULT_BATCH_SIZE = 1000


@dataclass(frozen=True, slots=True)
class AssertionResult:
    """The outcome of one assertion (or one expected-relations key, or one file that failed to
    load: ``kind == "load"``). ``expected``/``actual`` are permissionship names for assertions."""

    file: str
    line: int | None
    assertion: str | None
    kind: str
    expected: str | None
    actual: str | None
    error: str | None = None
    details: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.error is None and self.expected == self.actual and not self.details

    def format(self) -> str:
        """One line (more for expected relations), starting with ``file:line:``."""
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        if self.kind == "load":
            return self.error or where
        what = f"{self.kind} '{self.assertion}'"
        if self.kind == "validation":
            what = f"expected relations for '{self.assertion}'"
        if self.error is not None:
            return f"{where}: {what} could not be checked: {self.error}"
        if self.details:
            return f"{where}: {what} do not match:\n" + "\n".join(f"  {d}" for d in self.details)
        return f"{where}: assertion {what} failed: expected {self.expected}, got {self.actual}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "line": self.line,
            "kind": self.kind,
            "assertion": self.assertion,
            "expected": self.expected,
            "actual": self.actual,
            "error": self.error,
        }
        if self.details:
            out["details"] = list(self.details)
        return out


@dataclass(slots=True)
class ValidationReport:
    """Results of a run. ``errors`` counts checks that raised and files that did not load."""

    files: int = 0
    results: list[AssertionResult] = field(default_factory=list)

    @property
    def assertions(self) -> int:
        return sum(1 for r in self.results if r.kind != "load")

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if r.error is None and not r.passed)

    @property
    def errors(self) -> int:
        return sum(1 for r in self.results if r.error is not None)

    @property
    def failures(self) -> list[AssertionResult]:
        return [r for r in self.results if not r.passed]

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        return (
            f"{self.files} file(s), {self.assertions} assertion(s): {self.passed} passed, "
            f"{self.failed} failed, {self.errors} error(s)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "assertions": self.assertions,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "failures": [r.to_json() for r in self.failures],
        }


def _write_schema(engine: Engine, vf: ValidationFile) -> None:
    assert vf.schema is not None
    # Imports resolve relative to the file the schema text lives in.
    from_file = vf.schema_source is not None and vf.schema_positions is None
    base_dir = Path(vf.schema_source).parent if from_file and vf.schema_source else vf.path.parent
    try:
        engine.write_schema(vf.schema, source=vf.schema_source, base_dir=base_dir)
    except SchemaError as exc:
        positions = vf.schema_positions
        if positions is not None and exc.source in (None, vf.schema_source):
            line, col = positions.locate(exc.line - 1, exc.column - 1)
            where = f"{vf.name}:{line}" + (f":{col}" if col is not None else "")
            raise ValidationFileError(
                f"{where}: error in schema (schema line {exc.line}, column {exc.column}): "
                f"{exc.message}"
            ) from exc
        raise ValidationFileError(
            f"{vf.name}: error in schema: {exc.format(exc.source or vf.schema_source)}"
        ) from exc
    except RebacError as exc:
        raise ValidationFileError(f"{vf.name}: error in schema: {exc}") from exc


def populate(
    engine: Engine, files: Sequence[ValidationFile], *, batch_size: int | None = None
) -> int:
    """Write the schema (from the first file that has one) and every file's relationships.

    A relationship may appear only once across all files, caveat and expiration ignored.
    Returns the number of relationships written.
    """
    with_schema = next((f for f in files if f.schema is not None), None)
    if with_schema is not None:
        _write_schema(engine, with_schema)
    else:
        # An empty schema, so that relationships fail with "definition not found" like upstream.
        try:
            engine.write_schema("")
        except RebacError as exc:
            raise ValidationFileError(f"cannot write an empty schema: {exc}") from exc
    seen: dict[tuple[str, str, str, str, str, str | None], tuple[str, int | None]] = {}
    pending: list[tuple[ValidationFile, RelationshipLine]] = []
    for vf in files:
        for item in vf.relationships:
            key = item.relationship.key
            if key in seen:
                first_file, first_line = seen[key]
                rel = item.relationship
                raise ValidationFileError(
                    f"{vf.name}:{item.line}: found repeated relationship "
                    f"'{rel.resource}#{rel.relation}@{rel.subject}' "
                    f"(first in {first_file}:{first_line})"
                )
            seen[key] = (vf.name, item.line)
            pending.append((vf, item))
    size = batch_size or engine.max_updates or DEFAULT_BATCH_SIZE
    for start in range(0, len(pending), size):
        _write_batch(engine, pending[start : start + size])
    return len(pending)


def _write_batch(engine: Engine, batch: list[tuple[ValidationFile, RelationshipLine]]) -> None:
    def update(rel: Relationship) -> RelationshipUpdate:
        return RelationshipUpdate(Operation.CREATE, rel)

    try:
        engine.write([update(item.relationship) for _, item in batch])
    except RebacError as batch_error:
        # Writes are atomic and the error may not say which relationship it is about: write
        # one at a time to find it (this engine is being discarded anyway).
        for vf, item in batch:
            try:
                engine.write([update(item.relationship)])
            except RebacError as exc:
                where = f"{vf.name}:{item.line}" if item.line is not None else vf.name
                raise ValidationFileError(f"{where}: relationship '{item.text}': {exc}") from exc
        raise ValidationFileError(f"cannot write relationships: {batch_error}") from batch_error


def check_assertions(engine: Engine, vf: ValidationFile) -> list[AssertionResult]:
    """Check every assertion of ``vf`` (already loaded into ``engine``) with Engine.check."""
    out = []
    for a in vf.assertions:
        actual: str | None = None
        error: str | None = None
        try:
            actual = engine.check(
                a.resource, a.permission, a.subject, a.context
            ).permissionship.name
        except RebacError as exc:
            error = str(exc)
        out.append(AssertionResult(vf.name, a.line, a.text, a.kind, a.expected.name, actual, error))
    return out


def check_expected_relations(engine: Engine, vf: ValidationFile) -> list[AssertionResult]:
    """Compare each ``validation`` key with a recursive expansion of it."""
    out = []
    for block in vf.expected_relations:
        listed = "\n".join(sorted(str(e) for e in block.entries))
        try:
            tree = engine.expand(block.resource, block.relation, recursive=True)
        except RebacError as exc:
            out.append(
                AssertionResult(
                    vf.name, block.line, block.key, "validation", listed, None, str(exc)
                )
            )
            continue
        actual = expected_from_tree(tree)
        problems = compare_expected(block.entries, actual)
        shown = "\n".join(str(e) for e in actual)
        out.append(
            AssertionResult(
                vf.name, block.line, block.key, "validation", listed, shown, None, tuple(problems)
            )
        )
    return out


def validate_file(vf: ValidationFile, engine: Engine) -> list[AssertionResult]:
    """Load ``vf`` into ``engine`` (fresh) and check its assertions and expected relations."""
    populate(engine, [vf])
    return check_assertions(engine, vf) + check_expected_relations(engine, vf)


def run_validation(
    paths: Iterable[str | os.PathLike[str]],
    *,
    engine_factory: Callable[[], Engine] | None = None,
) -> ValidationReport:
    """Validate each file in its own fresh engine (``engine_factory``, default :class:`Engine`).

    A file that cannot be loaded counts as one error and does not stop the others.
    """
    if engine_factory is None:
        # Imported here so that reading validation files never needs the evaluator.
        from rebac.engine import Engine

        engine_factory = Engine
    report = ValidationReport()
    for path in paths:
        report.files += 1
        name = str(path)
        try:
            vf = load_validation_file(path)
            report.results.extend(validate_file(vf, engine_factory()))
        except ValidationFileError as exc:
            report.results.append(AssertionResult(name, None, None, "load", None, None, str(exc)))
    return report
