"""Big and cyclic data: depth limits, rings, dense cycles, cycles through exclusions.

None of these may hang, hit Python's recursion limit, or turn "could not decide" into "no".
There are no timing assertions; a generous watchdog only turns a hang (e.g. exponential
re-exploration of a dense cycle) into a failure instead of a stuck test run.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from rebac.engine.engine import Engine
from rebac.errors import CycleDetected, MaximumDepthExceeded
from rebac.model import Permissionship

WATCHDOG_SECONDS = 20

# Two ways of nesting groups. ``group#member`` on a relation is *pure* nesting (plain
# reachability, which the checker may answer with one reverse walk); ``group#view`` goes through
# a permission, so every hop is a dispatch and counts against max_depth.
GROUPS = {
    "pure": """
definition user {}
definition group {
    relation member: user | group#member
    permission view = member
}
""",
    "via_permission": """
definition user {}
definition group {
    relation member: user | group#view
    permission view = member
}
""",
}
SUBJECT_RELATION = {"pure": "member", "via_permission": "view"}

FOLDERS = """
definition user {}
definition folder {
    relation parent: folder
    relation viewer: user
    permission view = viewer + parent->view
    permission view_all = viewer + parent.all(view_all)
}
"""


class Hang(Exception):
    pass


@contextmanager
def watchdog(seconds: int = WATCHDOG_SECONDS) -> Iterator[None]:
    """Fail (instead of hanging forever) if the block runs for more than ``seconds``."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return

    def fire(signum: int, frame: object) -> None:
        raise Hang(f"still running after {seconds}s: exponential re-exploration or a hang?")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except Hang as exc:
        # A fresh, shallow failure: the traceback of a deep recursion is useless and huge.
        pytest.fail(str(exc), pytrace=False)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def engine_with(schema: str, rels: list[str], max_depth: int = 50) -> Engine:
    engine = Engine(schema, max_updates=max(1000, len(rels)), max_depth=max_depth)
    for i in range(0, len(rels), 1000):
        engine.touch(*rels[i : i + 1000])
    return engine


def has(engine: Engine, resource: str, perm: str, subject: str) -> Permissionship:
    return engine.check(resource, perm, subject).permissionship


HAS = Permissionship.HAS_PERMISSION
NO = Permissionship.NO_PERMISSION


# -- a 10,000-deep chain --------------------------------------------------------------------------

CHAIN = 10_000


def chain_rels(nesting: str) -> list[str]:
    srel = SUBJECT_RELATION[nesting]
    rels = [f"group:g{i}#member@group:g{i + 1}#{srel}" for i in range(CHAIN - 1)]
    rels.append(f"group:g{CHAIN - 1}#member@user:deep")
    rels.append("group:g0#member@user:shallow")
    return rels


@pytest.mark.parametrize("max_depth", [50, 1000])
def test_deep_chain_through_permissions_exceeds_max_depth(max_depth: int) -> None:
    engine = engine_with(
        GROUPS["via_permission"], chain_rels("via_permission"), max_depth=max_depth
    )
    with watchdog():
        for perm in ("member", "view"):
            # Found right away on the first hop: answered.
            assert has(engine, "group:g0", perm, "user:shallow") is HAS
            # Named by no relationship at all: provably not a member, answered without a walk.
            assert has(engine, "group:g0", perm, "user:nobody") is NO
            # Only at the far end: the walk must give up with an error, not a "no".
            for subject in ("user:deep", f"group:g{CHAIN - 1}#view"):
                with pytest.raises(MaximumDepthExceeded) as info:
                    engine.check("group:g0", perm, subject)
                assert info.value.max_depth == max_depth
                assert info.value.path[0] == f"group:g0#{perm}"
            # Near the end the chain is short enough.
            assert has(engine, f"group:g{CHAIN - max_depth // 4}", perm, "user:deep") is HAS
        with pytest.raises(MaximumDepthExceeded):
            engine.lookup_subjects("group:g0", "view", "user")
        with pytest.raises(MaximumDepthExceeded):
            engine.lookup_resources("group", "view", "user:deep")
        with pytest.raises(MaximumDepthExceeded):
            engine.expand("group:g0", "view", recursive=True)


def test_deep_pure_chain_is_answered_by_reachability() -> None:
    """Pure nesting (no caveats, subject sets of pure relations only) is plain reachability:
    check, lookup-resources and lookup-subjects all answer it without a depth limit, and agree.
    (Recursive expand still builds a tree hop by hop and stops at max_depth.)"""
    engine = engine_with(GROUPS["pure"], chain_rels("pure"))
    expected = {"user:shallow": HAS, "user:deep": HAS, "user:nobody": NO}
    expected[f"group:g{CHAIN - 1}#member"] = HAS
    with watchdog():
        for perm in ("member", "view"):
            for subject, want in expected.items():
                assert has(engine, "group:g0", perm, subject) is want, subject
            found = engine.lookup_subjects("group:g0", perm, "user")
            assert [s.id for s in found] == ["deep", "shallow"]
            resources = engine.lookup_resources("group", perm, "user:deep")
            assert len(resources) == CHAIN
        with pytest.raises(MaximumDepthExceeded):
            engine.expand("group:g0", "member", recursive=True)


def test_deep_arrow_chain_exceeds_max_depth() -> None:
    n = CHAIN
    rels = [f"folder:f{i}#parent@folder:f{i + 1}" for i in range(n - 1)]
    rels.append(f"folder:f{n - 1}#viewer@user:root")
    engine = engine_with(FOLDERS, rels)
    with watchdog():
        for perm in ("view", "view_all"):
            with pytest.raises(MaximumDepthExceeded):
                engine.check("folder:f0", perm, "user:root")
            # Named by no relationship: provably not a viewer, answered without the walk.
            assert has(engine, "folder:f0", perm, "user:nobody") is NO
            assert has(engine, f"folder:f{n - 10}", perm, "user:root") is HAS
            with pytest.raises(MaximumDepthExceeded):
                engine.lookup_subjects("folder:f0", perm, "user")


# -- a ring of 1,000 groups ------------------------------------------------------------------------

# Through a permission every hop costs two dispatches (view, member): the longest ring that can
# be walked within the largest max_depth (1000) has fewer than 500 groups.
RING = {"pure": 1000, "via_permission": 400}


def ring_rels(nesting: str) -> list[str]:
    srel = SUBJECT_RELATION[nesting]
    n = RING[nesting]
    rels = [f"group:g{i}#member@group:g{(i + 1) % n}#{srel}" for i in range(n)]
    rels.append(f"group:g{n // 2}#member@user:inside")
    return rels


@pytest.mark.parametrize("nesting", ["pure", "via_permission"])
def test_ring_answers_within_max_depth(nesting: str) -> None:
    engine = engine_with(GROUPS[nesting], ring_rels(nesting), max_depth=1000)
    srel = SUBJECT_RELATION[nesting]
    n = RING[nesting]
    with watchdog():
        for perm in ("member", "view"):
            assert has(engine, "group:g0", perm, "user:inside") is HAS
            assert has(engine, f"group:g{n // 2 + 1}", perm, "user:inside") is HAS
            assert has(engine, "group:g0", perm, "user:outside") is NO
            assert has(engine, "group:g0", perm, f"group:g{n - 1}#{srel}") is HAS
            assert has(engine, "group:g0", perm, f"group:g0#{srel}") is HAS
        found = engine.lookup_resources("group", "view", "user:inside")
        assert {r.id for r in found} == {f"g{i}" for i in range(n)}
        assert engine.lookup_resources("group", "view", "user:outside") == []
        # Walking the whole ring from g0#member takes exactly n nested subproblems.
        subjects = engine.lookup_subjects("group:g0", "member", "user")
        assert [s.id for s in subjects] == ["inside"]
        groups = engine.lookup_subjects("group:g0", "member", "group", srel)
        assert {s.id for s in groups} == {f"g{i}" for i in range(n)}


def test_ring_longer_than_max_depth_is_an_error_not_a_no() -> None:
    engine = engine_with(GROUPS["via_permission"], ring_rels("via_permission"))  # max_depth 50
    with watchdog():
        # Named by no relationship: provably outside, answered without walking the ring.
        assert has(engine, "group:g0", "view", "user:outside") is NO
        with pytest.raises(MaximumDepthExceeded):
            engine.check("group:g0", "view", "user:inside")
        assert has(engine, "group:g190", "view", "user:inside") is HAS
        with pytest.raises(MaximumDepthExceeded):
            engine.lookup_subjects("group:g0", "view", "user")


# -- a complete graph of 30 groups -----------------------------------------------------------------


# A simple path through all 30 groups is 30 dispatches when nesting is pure, 60 through a
# permission: enough depth for either, so that only the work done can make these slow.
COMPLETE_MAX_DEPTH = 100


def complete_rels(nesting: str) -> list[str]:
    srel = SUBJECT_RELATION[nesting]
    n = 30
    return [f"group:g{i}#member@group:g{j}#{srel}" for i in range(n) for j in range(n) if i != j]


@pytest.mark.parametrize("nesting", ["pure", "via_permission"])
def test_complete_graph_without_answer_finishes(nesting: str) -> None:
    engine = engine_with(GROUPS[nesting], complete_rels(nesting), max_depth=COMPLETE_MAX_DEPTH)
    with watchdog():
        for i in range(30):
            assert has(engine, f"group:g{i}", "view", "user:nobody") is NO
        assert engine.lookup_resources("group", "view", "user:nobody") == []


@pytest.mark.parametrize("nesting", ["pure", "via_permission"])
def test_complete_graph_with_answer(nesting: str) -> None:
    rels = [*complete_rels(nesting), "group:g29#member@user:found"]
    engine = engine_with(GROUPS[nesting], rels, max_depth=COMPLETE_MAX_DEPTH)
    with watchdog():
        for i in range(30):
            assert has(engine, f"group:g{i}", "view", "user:found") is HAS
        assert len(engine.lookup_resources("group", "view", "user:found")) == 30


@pytest.mark.parametrize("nesting", ["pure", "via_permission"])
def test_complete_graph_lookup_subjects_finishes(nesting: str) -> None:
    rels = [*complete_rels(nesting), "group:g29#member@user:found"]
    engine = engine_with(GROUPS[nesting], rels, max_depth=COMPLETE_MAX_DEPTH)
    with watchdog():
        assert [s.id for s in engine.lookup_subjects("group:g0", "view", "user")] == ["found"]
        groups = engine.lookup_subjects("group:g0", "view", "group", SUBJECT_RELATION[nesting])
        assert {s.id for s in groups} == {f"g{i}" for i in range(30)}


def test_complete_graph_of_arrows_finishes() -> None:
    n = 30
    rels = [f"folder:f{i}#parent@folder:f{j}" for i in range(n) for j in range(n) if i != j]
    engine = engine_with(FOLDERS, rels)
    with watchdog():
        for perm in ("view", "view_all"):
            assert has(engine, "folder:f0", perm, "user:nobody") is NO
            assert engine.lookup_subjects("folder:f0", perm, "user") == []
        engine.touch("folder:f29#viewer@user:found")
        assert has(engine, "folder:f0", "view", "user:found") is HAS
        # .all needs every parent to have it; f29 is the only viewer: the least fixpoint says no.
        assert has(engine, "folder:f0", "view_all", "user:found") is NO
        assert has(engine, "folder:f29", "view_all", "user:found") is HAS


# -- cycles through an exclusion -------------------------------------------------------------------

SELF_EXCLUSION = """
definition user {}
definition group {
    relation direct: user | group#member
    relation owner: user
    relation nobody: user
    permission member = direct - member
    permission owner_first = owner + (direct - owner_first)
    permission owner_last = (direct - owner_last) + owner
    permission empty_first = nobody & (direct - empty_first)
}
"""

TWO_DEFINITIONS = """
definition user {}
definition team {
    relation parent: org
    permission member = parent->allowed
}
definition org {
    relation direct: user
    relation team: team
    permission allowed = direct - team->member
}
"""


def test_cycle_through_exclusion_is_detected() -> None:
    engine = engine_with(SELF_EXCLUSION, ["group:a#direct@user:u"])
    with watchdog():
        with pytest.raises(CycleDetected) as info:
            engine.check("group:a", "member", "user:u")
        assert "group:a#member" in info.value.cycle
        assert "group:a#member" in str(info.value)


def test_cycle_through_exclusion_in_the_data_is_detected() -> None:
    # No self-reference in the schema: the cycle only exists in the data (a#direct holds b's
    # members and the other way round), and runs through 'member - ...'.
    engine = engine_with(
        SELF_EXCLUSION,
        ["group:a#direct@group:b#member", "group:b#direct@group:a#member", "group:a#direct@user:u"],
    )
    with watchdog(), pytest.raises(CycleDetected) as info:
        engine.check("group:b", "member", "user:u")
    assert any(step.startswith("group:") for step in info.value.cycle)


def test_cycle_through_exclusion_across_definitions() -> None:
    engine = engine_with(
        TWO_DEFINITIONS,
        ["team:t#parent@org:o", "org:o#team@team:t", "org:o#direct@user:u"],
    )
    with watchdog():
        with pytest.raises(CycleDetected) as info:
            engine.check("team:t", "member", "user:u")
        assert "team:t#member" in info.value.cycle
        assert "org:o#allowed" in info.value.cycle
        with pytest.raises(CycleDetected):
            engine.check("org:o", "allowed", "user:u")
        with pytest.raises(CycleDetected):
            engine.lookup_subjects("team:t", "member", "user")


def test_answers_that_do_not_depend_on_the_cycle() -> None:
    engine = engine_with(
        SELF_EXCLUSION,
        ["group:a#direct@user:u", "group:a#owner@user:u", "group:a#direct@user:v"],
    )
    with watchdog():
        # The base of the exclusion is empty for w: the cycle is never reached.
        assert has(engine, "group:a", "member", "user:w") is NO
        # Another branch of a union already grants u, whichever side comes first.
        assert has(engine, "group:a", "owner_first", "user:u") is HAS
        assert has(engine, "group:a", "owner_last", "user:u") is HAS
        # An intersection whose other side is empty decides no.
        assert has(engine, "group:a", "empty_first", "user:u") is NO
        # v is a direct member but not an owner: the answer for v does depend on the cycle.
        with pytest.raises(CycleDetected):
            engine.check("group:a", "owner_first", "user:v")
        with pytest.raises(CycleDetected):
            engine.check("group:a", "owner_last", "user:v")


def test_answers_across_definitions_that_do_not_depend_on_the_cycle() -> None:
    engine = engine_with(
        TWO_DEFINITIONS,
        ["team:t#parent@org:o", "org:o#team@team:t", "org:o#direct@user:u"],
    )
    with watchdog():
        assert has(engine, "team:t", "member", "user:w") is NO
        assert has(engine, "org:o", "allowed", "user:w") is NO


def test_a_checker_keeps_its_cycle_bookkeeping_to_itself() -> None:
    """Checkers start with shared empty bookkeeping (Checker._bookkeeping) and must take
    their own before writing to it: a write to the shared containers would leak one check's
    cycle state into every other checker."""
    from rebac.engine import check

    e = Engine(GROUPS["via_permission"])
    e.touch(
        *(f"group:g{i}#member@group:g{(i + 1) % 5}#view" for i in range(5)),
        "group:g3#member@user:u",
    )
    for i in range(5):
        assert e.check(f"group:g{i}", "view", "user:u").allowed
        assert not e.check(f"group:g{i}", "view", "user:other").allowed
    shared = (
        check._NO_ONSTACK,
        check._NO_STACK,
        check._NO_CUT,
        check._NO_PROV,
        check._NO_PENDING,
        check._NO_TOPS,
    )
    assert all(len(container) == 0 for container in shared)
    used = e._head.checkers.get("user", "u", None)
    assert used is not None
    assert used.stack is not check._NO_STACK  # it dispatched, so it took its own
