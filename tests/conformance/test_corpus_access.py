"""The conformance tests skip, with a reason, when ``../shared/conformance`` is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance import _corpus


def test_missing_corpus_yields_one_skipping_parameter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_corpus, "CORPUS", tmp_path / "absent")
    (param,) = _corpus.file_params("spicedb")
    assert param.values == (None,)
    (mark,) = param.marks
    assert mark.name == "skip" and "not present" in mark.kwargs["reason"]


def test_missing_corpus_path_skips_the_calling_test(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_corpus, "CORPUS", tmp_path / "absent")
    with pytest.raises(pytest.skip.Exception, match="conformance corpus not present"):
        _corpus.corpus_dir("spicedb")


def test_corpus_path_is_the_shared_folder_beside_the_repository() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert repo.parent / "shared" / "conformance" == _corpus.CORPUS
