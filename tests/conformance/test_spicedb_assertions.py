"""SpiceDB's consistency-suite files (``spicedb/*.yaml``): load, write, read back, assert.

These are README section 3's required steps. Every assertion is answered twice, by
``Engine.check`` and by ``Engine.check_bulk`` (as upstream runs every list through the bulk API),
and both must give the expected permissionship. All 411 assertions pass; none is marked xfail.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rebac.model import CheckItem, CheckResult, Permissionship, RelationshipFilter
from rebac.validation import load_validation_file, run_validation
from tests.conformance._corpus import corpus_dir, file_params, load

FILES = file_params("spicedb")


@pytest.mark.parametrize("path", FILES)
def test_every_assertion_holds_via_check_and_bulk_check(path: Path) -> None:
    loaded = load(path)
    vf, engine = loaded.vf, loaded.engine
    items = [CheckItem(a.resource, a.permission, a.subject, a.context) for a in vf.assertions]
    bulk = engine.check_bulk(items)
    problems = []
    for a, bulk_result in zip(vf.assertions, bulk, strict=True):
        single = engine.check(a.resource, a.permission, a.subject, a.context).permissionship
        assert isinstance(bulk_result, CheckResult), f"{vf.name}:{a.line}: {bulk_result}"
        if single is not a.expected or bulk_result.permissionship is not a.expected:
            problems.append(
                f"{path.name}:{a.line}: {a.kind} {a.text!r}: expected {a.expected.name}, "
                f"check gave {single.name}, bulk gave {bulk_result.permissionship.name}"
            )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", FILES)
def test_read_back_returns_every_unexpired_relationship(path: Path) -> None:
    loaded = load(path)
    vf, engine = loaded.vf, loaded.engine
    now = time.time()  # the engine's default clock
    written = {
        (str(i.relationship), i.relationship.caveat_name)
        for i in vf.relationships
        if i.relationship.expires_at is None or i.relationship.expires_at.timestamp() > now
    }
    read = set()
    for rtype in sorted({i.relationship.resource.type for i in vf.relationships}):
        for rel in engine.read_relationships(RelationshipFilter(resource_type=rtype)):
            read.add((str(rel), rel.caveat_name))
    assert read == written


def test_corpus_has_the_documented_number_of_assertions() -> None:
    """README section 0: 73 files, 475 relationships, 411 assertions (226 / 159 / 26)."""
    paths = sorted(corpus_dir("spicedb").glob("*.yaml"))
    files = [load_validation_file(p) for p in paths]
    kinds = [a.expected for f in files for a in f.assertions]
    assert len(files) == 73
    assert sum(len(f.relationships) for f in files) == 475
    assert len(kinds) == 411
    assert kinds.count(Permissionship.HAS_PERMISSION) == 226
    assert kinds.count(Permissionship.NO_PERMISSION) == 159
    assert kinds.count(Permissionship.CONDITIONAL_PERMISSION) == 26


def test_run_validation_passes_the_whole_corpus_with_fresh_engines() -> None:
    paths = sorted(corpus_dir("spicedb").glob("*.yaml"))
    report = run_validation(paths)
    assert [r.format() for r in report.failures] == []
    assert (report.files, report.assertions, report.passed) == (73, 411, 411)
