"""Workloads: which calls are made, with which arguments, and what the right answers are.

Queries are drawn once per data set (seeded) and their expected answers come from the
in-process engine, which then serves as the oracle for every runner: a gRPC server or a peer
that answers differently is counted in ``wrong``. Operations are small frozen dataclasses so
that they can be sent to child processes.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from benchmarks.datasets import Dataset, deep_pairs
from benchmarks.targets import PAGE, Target
from rebac import Engine, Permissionship

#: Every workload, in report order. ``import`` is not a stream of calls: the suite times the
#: bulk load itself (see :mod:`benchmarks.suite`).
WORKLOADS = (
    "check",
    "bulk_check",
    "lookup_resources_page",
    "lookup_resources_full",
    "lookup_subjects",
    "write",
    "mixed",
    "import",
)
#: Workloads only the ``deep`` data set has: the same check through 50 levels and directly.
DEEP_WORKLOADS = ("deep_check", "direct_check")
#: Workloads whose calls are each made once per cell, on emptied caches: a check answered
#: from the engine's result cache says nothing about the cost of checking.
COLD_WORKLOADS = frozenset({"check", "bulk_check", "mixed", *DEEP_WORKLOADS})

ALLOWED_SHARE = 0.3
BULK_SIZE = 100
WRITE_EVERY = 100  # mixed: one write in a hundred calls (99/1)
SUBJECT_TYPE = "user"


@dataclass(frozen=True, slots=True)
class Check:
    resource: str
    permission: str
    subject: str
    expected: bool


@dataclass(frozen=True, slots=True)
class BulkCheck:
    items: tuple[Check, ...]


@dataclass(frozen=True, slots=True)
class LookupResources:
    resource_type: str
    permission: str
    subject: str
    limit: int | None


@dataclass(frozen=True, slots=True)
class LookupSubjects:
    resource: str
    permission: str
    subject_type: str


@dataclass(frozen=True, slots=True)
class Write:
    relationship: str


Op = Check | BulkCheck | LookupResources | LookupSubjects | Write


def execute(target: Target, op: Op) -> tuple[int, int]:
    """Run one operation; returns (items of work done or results returned, wrong answers)."""
    if isinstance(op, Check):
        return 1, int(target.check(op.resource, op.permission, op.subject) != op.expected)
    if isinstance(op, BulkCheck):
        got = target.check_bulk([(c.resource, c.permission, c.subject) for c in op.items])
        wrong = sum(g != c.expected for g, c in zip(got, op.items, strict=False))
        return len(op.items), wrong + abs(len(got) - len(op.items))
    if isinstance(op, LookupResources):
        return target.lookup_resources(op.resource_type, op.permission, op.subject, op.limit), 0
    if isinstance(op, LookupSubjects):
        return target.lookup_subjects(op.resource, op.permission, op.subject_type), 0
    target.write(op.relationship)
    return 1, 0


@dataclass(frozen=True)
class QuerySet:
    """The drawn arguments of every workload for one data set."""

    checks: list[Check]
    lookup_subjects_of: list[str]  # subjects whose resources are looked up
    lookup_resources_of: list[str]  # resources whose subjects are looked up
    writes: list[str]
    deep: list[Check]
    direct: list[Check]
    resource_type: str
    permission: str

    def ops(self, workload: str) -> list[Op]:
        """The operations of ``workload``, in the order a runner cycles through them."""
        if workload == "check":
            return list(self.checks)
        if workload == "bulk_check":
            return [
                BulkCheck(tuple(_cycle_slice(self.checks, i * BULK_SIZE, BULK_SIZE)))
                for i in range(max(1, len(self.checks) // BULK_SIZE))
            ]
        if workload in ("lookup_resources_page", "lookup_resources_full"):
            limit = PAGE if workload == "lookup_resources_page" else None
            return [
                LookupResources(self.resource_type, self.permission, s, limit)
                for s in self.lookup_subjects_of
            ]
        if workload == "lookup_subjects":
            return [
                LookupSubjects(r, self.permission, SUBJECT_TYPE) for r in self.lookup_resources_of
            ]
        if workload == "write":
            return [Write(w) for w in self.writes]
        if workload == "mixed":
            writes = iter(self.writes * (len(self.checks) // WRITE_EVERY // len(self.writes) + 1))
            mixed: list[Op] = []
            for i, c in enumerate(self.checks):
                mixed.append(Write(next(writes)) if i % WRITE_EVERY == WRITE_EVERY - 1 else c)
            return mixed
        if workload == "deep_check":
            return list(self.deep)
        if workload == "direct_check":
            return list(self.direct)
        raise ValueError(f"unknown workload {workload!r}")

    def reset_write(self, n: int) -> str:
        """A relationship nobody asks about; writing it empties a server's caches (they are
        per revision) without changing any answer."""
        head = self.writes[0].rsplit("@", 1)[0]
        return f"{head}@user:bench-reset-{n}"


def _cycle_slice(items: Sequence[Check], start: int, n: int) -> Iterator[Check]:
    for i in range(start, start + n):
        yield items[i % len(items)]


def _user_degrees(ds: Dataset) -> Counter[str]:
    """Direct relationships per user subject: the users whose lookups are big."""
    degrees: Counter[str] = Counter()
    for rel in ds.relationships:
        subject = rel.rsplit("@", 1)[1]
        if subject.startswith("user:") and "#" not in subject and "[" not in subject:
            degrees[subject] += 1
    return degrees


def _resource_degrees(ds: Dataset) -> Counter[str]:
    degrees: Counter[str] = Counter(rel.split("#", 1)[0] for rel in ds.relationships)
    wanted = set(ds.resources)
    return Counter({r: n for r, n in degrees.items() if r in wanted})


def _write_relations(ds: Dataset, resource_type: str) -> list[str]:
    """Relations of ``resource_type`` that take a plain user (seen in the data set)."""
    found: dict[str, None] = {}
    for rel in ds.relationships:
        head, subject = rel.rsplit("@", 1)
        plain_user = subject.startswith("user:") and "#" not in subject and "[" not in subject
        if plain_user and head.startswith(resource_type + ":"):
            found[head.split("#", 1)[1]] = None
    return list(found)


def draw(
    engine: Engine, ds: Dataset, *, checks: int, lookups: int, writes: int, seed: int
) -> QuerySet:
    """Arguments and expected answers for every workload, from the loaded ``engine``.

    Allowed pairs are rare among random pairs, so they are drawn from a resource's
    lookup-subjects (cached per resource: ``wide`` has one with 100k subjects); denied pairs
    are random pairs the engine denies. Lookups ask about the busiest users and resources
    first (they make the shape of a data set matter), then random ones.
    """
    rng = random.Random(seed)
    perm = ds.permission
    resource_type = ds.resources[0].split(":", 1)[0]
    subjects_of: dict[str, list[str]] = {}

    def allowed_subjects(resource: str) -> list[str]:
        found = subjects_of.get(resource)
        if found is None:
            found = subjects_of[resource] = [
                r.id
                for r in engine.lookup_subjects(resource, perm, SUBJECT_TYPE)
                if r.id != "*" and r.permissionship is Permissionship.HAS_PERMISSION
            ]
        return found

    want_allowed = round(checks * ALLOWED_SHARE)
    allowed: list[Check] = []
    attempts = 0
    while len(allowed) < want_allowed and attempts < checks * 20:
        attempts += 1
        res = rng.choice(ds.resources)
        found = allowed_subjects(res)
        if found:
            allowed.append(Check(res, perm, f"user:{rng.choice(found)}", True))
    denied: list[Check] = []
    attempts = 0
    while len(denied) < checks - len(allowed) and attempts < checks * 20:
        attempts += 1
        res, subj = rng.choice(ds.resources), f"user:{rng.choice(ds.users)}"
        if not engine.check(res, perm, subj).allowed:
            denied.append(Check(res, perm, subj, False))
    mix = allowed + denied
    rng.shuffle(mix)

    busy_users = [u for u, _ in _user_degrees(ds).most_common(max(1, lookups // 5))]
    rand_users = [f"user:{u}" for u in rng.sample(ds.users, min(len(ds.users), lookups))]
    users = list(dict.fromkeys(busy_users + rand_users))[:lookups]
    busy_res = [r for r, _ in _resource_degrees(ds).most_common(max(1, lookups // 5))]
    rand_res = rng.sample(ds.resources, min(len(ds.resources), lookups))
    resources = list(dict.fromkeys(busy_res + rand_res))[:lookups]

    relations = _write_relations(ds, resource_type) or ["viewer"]
    new_writes = [
        f"{rng.choice(ds.resources)}#{rng.choice(relations)}@user:bench-w{i}"
        for i in range(max(1, writes))
    ]

    deep: list[Check] = []
    direct: list[Check] = []
    if ds.name == "deep":
        deepest, plain = deep_pairs(ds, min(checks, 2000), seed)
        deep = [Check(p.split(" ")[0], perm, p.split(" ")[1], True) for p in deepest]
        direct = [Check(p.split(" ")[0], perm, p.split(" ")[1], True) for p in plain]
    return QuerySet(mix, users, resources, new_writes, deep, direct, resource_type, perm)


def allowed_share(checks: Sequence[Check]) -> float:
    return sum(c.expected for c in checks) / len(checks) if checks else 0.0
