"""``self.yaml.skip``: the ``use self`` file upstream runs in a dedicated test (README section 3).

The generic suite skips it (upstream's harness cannot enumerate "self" relations), so its
expectations are spelled out here: the four assertions plus fixed LookupResources and
LookupSubjects answers.
"""

from __future__ import annotations

import pytest

from rebac.model import LookupResult, Permissionship
from tests.conformance._corpus import Loaded, corpus_dir, load


@pytest.fixture(scope="module")
def loaded() -> Loaded:
    return load(corpus_dir("spicedb", "self.yaml.skip"))


def _ids(results: list[LookupResult]) -> list[str]:
    assert all(r.permissionship is Permissionship.HAS_PERMISSION for r in results)
    return sorted(r.id for r in results)


def test_self_file_has_the_documented_schema_and_relationship(loaded: Loaded) -> None:
    assert "self" in loaded.engine.schema.use_flags
    assert [str(r.relationship) for r in loaded.vf.relationships] == ["user:bob#related@user:alice"]


def test_self_assertions_hold(loaded: Loaded) -> None:
    results = {
        a.text: loaded.engine.check(a.resource, a.permission, a.subject, a.context).permissionship
        for a in loaded.vf.assertions
    }
    assert results == {a.text: a.expected for a in loaded.vf.assertions}
    assert len(results) == 4


def test_self_lookup_resources_includes_the_subject_itself(loaded: Loaded) -> None:
    engine = loaded.engine
    assert _ids(engine.lookup_resources("user", "me_or_related", "user:alice")) == ["alice", "bob"]
    assert _ids(engine.lookup_resources("user", "me_or_related", "user:bob")) == ["bob"]


def test_self_lookup_subjects_includes_the_resource_itself(loaded: Loaded) -> None:
    engine = loaded.engine
    assert _ids(engine.lookup_subjects("user:alice", "me_or_related", "user")) == ["alice"]
    assert _ids(engine.lookup_subjects("user:bob", "me_or_related", "user")) == ["alice", "bob"]
