"""SpiceDB's steel-thread golden results (``spicedb-steelthread/``, README section 7).

Each operation of ``operations.yaml`` runs against its data file loaded into a fresh engine and
must print exactly the golden lines (compared as sorted lists, so duplicates would show):

* LookupSubjects: ``id``, ``* - [a, b (conditional)]`` for a wildcard with exclusions, and a
  `` (conditional)`` suffix for a conditional subject;
* LookupResources: ``id`` with an optional `` (conditional)`` suffix;
* bulk checks: ``<request> -> PERMISSIONSHIP_...`` in request order; a ``[name:{json}]`` suffix on
  a request only supplies the request's context.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
import yaml

from rebac.engine import Engine
from rebac.model import CheckItem, CheckResult, LookupResult, Permissionship, Relationship
from rebac.validation import load_validation_file, populate
from tests.conformance._corpus import CORPUS, MISSING_REASON

STEEL = CORPUS / "spicedb-steelthread"


def _operations() -> list[Any]:
    manifest = STEEL / "operations.yaml"
    if not manifest.exists():
        return [
            pytest.param(None, id="corpus-missing", marks=pytest.mark.skip(reason=MISSING_REASON))
        ]
    ops = yaml.safe_load(manifest.read_text(encoding="utf-8"))["operations"]
    return [
        pytest.param(op, id=f"{op['case']}: {op['name']} ({op['arguments'].get('permission', '')})")
        for op in ops
    ]


@cache
def _engine(datafile: str) -> Engine:
    engine = Engine()
    populate(engine, [load_validation_file(STEEL / "testdata" / datafile)])
    return engine


def _suffix(p: Permissionship) -> str:
    return " (conditional)" if p is Permissionship.CONDITIONAL_PERMISSION else ""


def format_subject(r: LookupResult) -> str:
    text = r.id
    if r.excluded:
        excluded = sorted(x.id + _suffix(x.permissionship) for x in r.excluded)
        text += " - [" + ", ".join(excluded) + "]"
    return text + _suffix(r.permissionship)


def _run(engine: Engine, op: dict[str, Any]) -> list[str]:
    args = op["arguments"]
    if op["operation"] == "lookupSubjects":
        resource = f"{args['resource_type']}:{args['resource_object_id']}"
        found = engine.lookup_subjects(resource, args["permission"], args["subject_type"])
        return [format_subject(r) for r in found]
    if op["operation"] == "lookupResources":
        subject = f"{args['subject_type']}:{args['subject_object_id']}"
        found = engine.lookup_resources(args["resource_type"], args["permission"], subject)
        return [r.id + _suffix(r.permissionship) for r in found]
    assert op["operation"] == "bulkCheckPermissions"
    requests: list[str] = args["check_requests"]
    items = []
    for text in requests:
        rel = Relationship.parse(text)  # the [name:{json}] part only carries the context
        items.append(CheckItem(rel.resource, rel.relation, rel.subject, rel.caveat_context))
    out = []
    for text, result in zip(requests, engine.check_bulk(items), strict=True):
        answer = (
            f"PERMISSIONSHIP_{result.permissionship.name}"
            if isinstance(result, CheckResult)
            else str(result)
        )
        out.append(f"{text} -> {answer}")
    return out


@pytest.mark.parametrize("op", _operations())
def test_steelthread_operation_matches_the_golden_results(op: dict[str, Any]) -> None:
    expected: list[str] = yaml.safe_load(
        (STEEL / "results" / op["results"]).read_text(encoding="utf-8")
    )
    got = _run(_engine(op["datafile"]), op)
    if op["operation"] == "bulkCheckPermissions":
        assert got == expected  # request order
    else:
        assert len(got) == len(set(got)), "duplicate results"
        assert sorted(got) == sorted(expected)


def test_steelthread_manifest_lists_ten_operations() -> None:
    params = _operations()
    if params[0].values[0] is None:
        pytest.skip(MISSING_REASON)
    assert len(params) == 10


def test_steelthread_data_files_load_with_every_relationship() -> None:
    folder = STEEL / "testdata"
    if not folder.is_dir():
        pytest.skip(MISSING_REASON)
    for path in sorted(folder.glob("*.yaml")):
        vf = load_validation_file(path)
        engine = Engine()
        assert populate(engine, [vf]) == len(vf.relationships), path.name
        assert vf.relationships, path.name
