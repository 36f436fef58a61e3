"""The optional peers of ``python -m benchmarks``: pemba's target, and how the suite picks,
measures and reports peers.

pemba is never a project dependency, so CI has none: there the target runs over a stand-in
``pemba`` module answered by rebac (every line of :class:`PembaTarget` still runs), the
"not installed" path is forced by hiding the module, and the suite's peer logic runs with fake
peers. Where pemba is installed, one more test loads the real one.
"""

from __future__ import annotations

import io
import sys
import types
from collections.abc import Sequence

import pytest

from benchmarks.__main__ import run_parser
from benchmarks.datasets import docs
from benchmarks.loading import load_engine
from benchmarks.measure import Summary, combined
from benchmarks.peers import (
    PEERS,
    PEMBA_WRITE_BATCH,
    Peer,
    PembaTarget,
    pemba_unavailable,
    selected_peers,
)
from benchmarks.progress import Progress
from benchmarks.report import print_report
from benchmarks.suite import Options, Suite
from benchmarks.targets import FULLY_CONSISTENT, MINIMIZE_LATENCY, CheckTriple
from benchmarks.workloads import Check, draw
from rebac import Engine

CAVEATED = "document:d1#viewer@user:u1[ip_allowed]"
EXPIRING = "document:d1#viewer@user:u1[expiration:2030-01-01T00:00:00Z]"


def _checks(size: int) -> tuple[list[str], str, list[Check]]:
    """A tiny ``docs`` data set and checks drawn on it, with rebac's answers as expected."""
    ds = docs(size, 7)
    engine, _ = load_engine(ds)
    queries = draw(engine, ds, checks=80, lookups=1, writes=1, seed=7)
    assert any(c.expected for c in queries.checks) and not all(c.expected for c in queries.checks)
    return ds.relationships, ds.schema, queries.checks


# -- pemba: not installed --------------------------------------------------------------------------


def test_pemba_unavailable_says_it_is_not_installed_and_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pemba", None)  # `import pemba` now raises ImportError
    reason = pemba_unavailable()
    assert reason is not None
    assert "not installed" in reason and "pip install pemba==0.1.0a1" in reason


def test_pemba_is_available_once_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pemba", _fake_pemba_module())
    assert pemba_unavailable() is None


# -- pemba's target over a stand-in module (runs in CI) --------------------------------------------


class FakePembaEngine:
    """pemba's ``Engine`` as far as :class:`PembaTarget` uses it, answered by rebac, and
    recording what it was asked (batch sizes, the revision each read asked for)."""

    def __init__(self) -> None:
        self.rebac: Engine | None = None
        self.batches: list[int] = []
        self.reads_at_least: list[int | None] = []
        self.failing: set[str] = set()

    @staticmethod
    def memory() -> FakePembaEngine:
        engine = FakePembaEngine()
        FAKE_ENGINES.append(engine)
        return engine

    def write_schema(self, source: str) -> int:
        self.rebac = Engine(source)
        return 1

    def write(self, *, touch: Sequence[str] = ()) -> int:
        assert self.rebac is not None
        self.batches.append(len(touch))
        self.rebac.touch(*touch)
        return self.head_revision()

    def head_revision(self) -> int:
        return len(self.batches)

    def check(
        self, resource: str, permission: str, subject: str, *, at_least: int | None = None
    ) -> bool:
        self.reads_at_least.append(at_least)
        return self._answer(resource, permission, subject)

    def _answer(self, resource: str, permission: str, subject: str) -> bool:
        assert self.rebac is not None
        return bool(self.rebac.check(resource, permission, subject).allowed)

    def check_bulk(
        self, items: Sequence[CheckTriple], *, at_least: int | None = None
    ) -> list[bool | Exception]:
        self.reads_at_least.append(at_least)
        return [
            RuntimeError(f"cannot answer {r}") if r in self.failing else self._answer(r, p, s)
            for r, p, s in items
        ]


FAKE_ENGINES: list[FakePembaEngine] = []


def _fake_pemba_module() -> types.ModuleType:
    module = types.ModuleType("pemba")
    module.Engine = FakePembaEngine  # type: ignore[attr-defined]
    return module


@pytest.fixture
def fake_pemba(monkeypatch: pytest.MonkeyPatch) -> list[FakePembaEngine]:
    monkeypatch.setitem(sys.modules, "pemba", _fake_pemba_module())
    FAKE_ENGINES.clear()
    return FAKE_ENGINES


def test_pemba_target_loads_in_batches_and_answers_checks(
    fake_pemba: list[FakePembaEngine],
) -> None:
    relationships, schema, checks = _checks(2500)
    target = PembaTarget(schema, MINIMIZE_LATENCY)
    assert target.name.startswith("pemba ")
    assert target.load(relationships) > 0
    (engine,) = fake_pemba
    n = len(relationships)
    assert engine.batches == [min(PEMBA_WRITE_BATCH, n - i) for i in range(0, n, PEMBA_WRITE_BATCH)]
    assert [target.check(c.resource, c.permission, c.subject) for c in checks] == [
        c.expected for c in checks
    ]
    triples = [(c.resource, c.permission, c.subject) for c in checks]
    assert target.check_bulk(triples) == [c.expected for c in checks]
    assert set(engine.reads_at_least) == {None}  # minimize_latency: pemba's default read
    engine.failing.add(checks[0].resource)
    with pytest.raises(RuntimeError, match="cannot answer"):  # an error, never a denial
        target.check_bulk(triples)
    target.close()
    assert target.engine is None


def test_pemba_target_fully_consistent_reads_at_least_the_head(
    fake_pemba: list[FakePembaEngine],
) -> None:
    relationships, schema, checks = _checks(1500)
    target = PembaTarget(schema, FULLY_CONSISTENT)
    target.load(relationships)
    c = checks[0]
    assert target.check(c.resource, c.permission, c.subject) == c.expected
    assert target.check_bulk([(c.resource, c.permission, c.subject)]) == [c.expected]
    (engine,) = fake_pemba
    assert engine.reads_at_least == [engine.head_revision()] * 2


@pytest.mark.parametrize("bad", [CAVEATED, EXPIRING])
def test_pemba_target_refuses_caveats_and_expiration_before_writing(
    fake_pemba: list[FakePembaEngine], bad: str
) -> None:
    relationships, schema, _ = _checks(1500)
    target = PembaTarget(schema, MINIMIZE_LATENCY)
    with pytest.raises(ValueError, match="plain relationships only"):
        target.load([*relationships, bad])
    assert fake_pemba[0].batches == []  # nothing half-loaded


# -- pemba itself, where installed ---------------------------------------------------------------


def test_real_pemba_answers_like_rebac() -> None:
    """Runs only where pemba is installed (``pip install pemba==0.1.0a1``); -ra lists the
    skip with its reason elsewhere."""
    pytest.importorskip("pemba", reason="pemba is not installed (an optional peer)")
    import importlib.metadata

    assert pemba_unavailable() is None
    relationships, schema, checks = _checks(1500)
    target = PembaTarget(schema, MINIMIZE_LATENCY)
    try:
        assert target.name == f"pemba {importlib.metadata.version('pemba')}"
        assert target.load(relationships) > 0
        expected = [c.expected for c in checks]
        assert [target.check(c.resource, c.permission, c.subject) for c in checks] == expected
        triples = [(c.resource, c.permission, c.subject) for c in checks]
        assert target.check_bulk(triples) == expected
        consistent = PembaTarget(schema, FULLY_CONSISTENT)
        consistent.load(relationships)
        assert consistent.check_bulk(triples) == expected
        with pytest.raises(ValueError, match="plain relationships only"):
            target.load([CAVEATED])
    finally:
        target.close()


# -- the suite's peer selection and reporting, with fake peers (runs in CI) ----------------------


class RebacPeer:
    """A peer answered by a rebac engine of its own; ``lie`` turns every answer over, so
    that the suite's count of differing answers is seen to count."""

    lie = False

    def __init__(self, schema: str, mode: str) -> None:
        self.engine = Engine(schema)
        self.name = f"{type(self).__name__} 1.0"
        self.closed = False

    def load(self, relationships: Sequence[str]) -> float:
        self.engine.import_relationships([relationships])
        return 0.001

    def check(self, resource: str, permission: str, subject: str) -> bool:
        return self.engine.check(resource, permission, subject).allowed != self.lie

    def check_bulk(self, items: Sequence[CheckTriple]) -> list[bool]:
        return [self.check(*item) for item in items]

    def lookup_resources(
        self, resource_type: str, permission: str, subject: str, limit: int | None
    ) -> int:
        raise NotImplementedError

    def lookup_subjects(self, resource: str, permission: str, subject_type: str) -> int:
        raise NotImplementedError

    def write(self, relationship: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.closed = True


class LyingPeer(RebacPeer):
    lie = True


class BrokenPeer(RebacPeer):
    def load(self, relationships: Sequence[str]) -> float:
        raise RuntimeError("cannot load")


class CountingProgress(Progress):
    """Counts steps past the total too (Progress itself stops at it)."""

    steps = 0

    def step(self, label: str) -> None:
        self.steps += 1
        super().step(label)


@pytest.fixture
def fake_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only fakes in the registry: the run is the same with or without SpiceDB or pemba."""
    for name in list(PEERS):
        monkeypatch.delitem(PEERS, name)
    monkeypatch.setitem(PEERS, "honest", Peer("honest", "Honest", lambda: None, RebacPeer))
    monkeypatch.setitem(PEERS, "liar", Peer("liar", "Liar", lambda: None, LyingPeer))
    monkeypatch.setitem(PEERS, "broken", Peer("broken", "Broken", lambda: None, BrokenPeer))
    monkeypatch.setitem(PEERS, "absent", Peer("absent", "Absent", lambda: "not here", RebacPeer))


def _run(peers: str, repeats: int = 3) -> tuple[Suite, CountingProgress]:
    opts = Options(
        datasets=[],
        runners=["inprocess"],
        peers=peers,
        peer_sizes=[600],
        peer_seconds=1.0,
        peer_repeats=repeats,
        memory=False,
    )
    suite = Suite(opts)
    progress = CountingProgress(suite.total_cells(), enabled=False)
    suite.progress = progress
    suite.run()
    return suite, progress


def test_suite_measures_every_available_peer_side_by_side(fake_peers: None) -> None:
    suite, progress = _run("auto")
    report = suite.report
    rows = {(r.runner, r.workload): r for r in report.results}
    assert {r.dataset for r in report.results} == {"docs@600"}
    ours, honest, liar = (rows[(n, "check")] for n in ("inprocess", "honest", "liar"))
    assert ours.ops == honest.ops == liar.ops > 0  # the same checks, each once
    assert ours.wrong == 0 and honest.wrong == 0 and honest.errors == 0
    assert liar.wrong == liar.ops  # every answer differs from rebac's, and is counted
    assert rows[("honest", "import")].seconds == 0.001
    broken = rows[("broken", "check")]
    assert broken.errors == 1 and broken.first_error == "RuntimeError: cannot load"
    assert ("broken", "import") not in rows and ("absent", "check") not in rows
    assert "peers: Absent not measured: not here" in report.notes
    assert "peers: honest is RebacPeer 1.0" in report.notes
    assert progress.steps == suite.total_cells() == 5  # rebac, then four peers (one skipped)
    derived = report.derived()
    assert "honest_median_over_rebac/docs@600" in derived
    assert "liar_median_over_rebac/docs@600" in derived
    out = io.StringIO()
    print_report(report, out)
    table = out.getvalue().split("Peers (")[1]
    assert "rebac (in-process)" in table and "Honest" in table and "Liar" in table


def test_suite_measures_only_the_peers_named(fake_peers: None) -> None:
    suite, progress = _run("honest")
    runners = {r.runner for r in suite.report.results}
    assert runners == {"inprocess", "honest"}
    assert progress.steps == suite.total_cells() == 2
    assert not any("Absent" in n for n in suite.report.notes)


def test_suite_with_no_available_peer_measures_nothing_and_says_why(fake_peers: None) -> None:
    suite, progress = _run("absent")
    assert suite.report.results == []
    assert suite.report.notes == ["peers: Absent not measured: not here"]
    assert progress.steps == suite.total_cells() == 2


def test_suite_with_peers_off_measures_no_peer(fake_peers: None) -> None:
    suite, _ = _run("off")
    assert suite.report.results == [] and suite.report.notes == []
    assert suite.total_cells() == 0


def test_peer_selection_and_the_command_line() -> None:
    assert [p.runner for p in selected_peers("auto")] == ["spicedb", "pemba"]
    assert [p.runner for p in selected_peers("on")] == ["spicedb", "pemba"]
    assert selected_peers("off") == []
    assert [p.runner for p in selected_peers("pemba")] == ["pemba"]
    assert [p.runner for p in selected_peers("pemba, spicedb,pemba")] == ["pemba", "spicedb"]
    with pytest.raises(ValueError, match="unknown peer nope"):
        selected_peers("spicedb,nope")
    parser = run_parser()
    assert parser.parse_args([]).peers == "auto"
    assert parser.parse_args(["--peers", "spicedb, pemba"]).peers == "spicedb,pemba"
    assert parser.parse_args(["--peers", "off"]).peers == "off"
    with pytest.raises(SystemExit):
        parser.parse_args(["--peers", "nope"])


def test_peer_repetitions_combine_into_sums_and_median_percentiles() -> None:
    """A peer row is several interleaved repetitions: throughput over all of them, each
    percentile the median of the repetitions', so one slow moment cannot decide it."""

    def run(
        seconds: float, p50: float, p95: float, p99: float, error: str | None = None
    ) -> Summary:
        bad = 0 if error is None else 1
        return Summary(10, 10, seconds, p50, p95, p99, wrong=bad, errors=bad, first_error=error)

    runs = [run(1.0, 5.0, 9.0, 20.0), run(3.0, 50.0, 90.0, 200.0, "boom"), run(1.0, 6.0, 8.0, 30.0)]
    c = combined(runs)
    assert (c.ops, c.items, c.seconds, c.wrong, c.errors) == (30, 30, 5.0, 1, 1)
    assert (c.median_us, c.p95_us, c.p99_us) == (6.0, 9.0, 30.0)
    assert c.first_error == "boom" and c.items_per_second == 6.0


def test_suite_repeats_the_peer_cells(fake_peers: None) -> None:
    """Every engine is asked the same checks once per repetition."""

    def check_ops(repeats: int) -> tuple[int, int]:
        suite, _ = _run("honest", repeats)
        rows = {(r.runner, r.workload): r for r in suite.report.results}
        return rows[("inprocess", "check")].ops, rows[("honest", "check")].ops

    ours_once, theirs_once = check_ops(1)
    assert ours_once == theirs_once > 0
    assert check_ops(3) == (3 * ours_once, 3 * theirs_once)
