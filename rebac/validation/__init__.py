"""SpiceDB validation files: load them, run their assertions, report ``file:line`` failures.

A validation file (the format ``zed validate`` and SpiceDB's test suites read) holds a schema,
relationships, assertions and optionally expected relations. The pieces:

* :mod:`~rebac.validation.loader` parses the YAML (with a real YAML parser: the files use folded
  block scalars) into a :class:`ValidationFile`, keeping the YAML line of every relationship and
  assertion, and rejects what upstream rejects (legacy keys, ``schema`` + ``schemaFile``, a schema
  file outside the folder, repeated relationships, bad relationship syntax);
* :mod:`~rebac.validation.runner` writes a file into an engine and checks it;
* :mod:`~rebac.validation.expected` checks the ``validation`` section against a recursive expand.

Every loading problem is a :class:`~rebac.errors.ValidationFileError` whose message starts with
``file:line:`` where the line is known.

>>> report = run_validation(["spicedb/public.yaml"])          # doctest: +SKIP
>>> report.ok, report.summary()                                # doctest: +SKIP
"""

from rebac.validation.expected import (
    ExpectedRelation,
    ExpectedSubject,
    FoundSubject,
    FoundSubjects,
    expected_from_tree,
    found_subjects,
    parse_expected_relation,
)
from rebac.validation.loader import (
    EXPECTED,
    Assertion,
    AssertionKind,
    ExpectedRelations,
    RelationshipLine,
    ValidationFile,
    load_validation_file,
    parse_assertion,
    parse_validation_text,
)
from rebac.validation.runner import (
    AssertionResult,
    ValidationReport,
    check_assertions,
    check_expected_relations,
    populate,
    run_validation,
    validate_file,
)

__all__ = [
    "EXPECTED",
    "Assertion",
    "AssertionKind",
    "AssertionResult",
    "ExpectedRelation",
    "ExpectedRelations",
    "ExpectedSubject",
    "FoundSubject",
    "FoundSubjects",
    "RelationshipLine",
    "ValidationFile",
    "ValidationReport",
    "check_assertions",
    "check_expected_relations",
    "expected_from_tree",
    "found_subjects",
    "load_validation_file",
    "parse_assertion",
    "parse_expected_relation",
    "parse_validation_text",
    "populate",
    "run_validation",
    "validate_file",
]
