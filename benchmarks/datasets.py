"""Seeded, deterministic data sets for benchmarks.

``docs`` is the scenario the Python peers are compared on: users; groups nested up to 5 levels
(``group#member``); folders in trees up to 6 deep (``parent`` arrows); documents with an owner,
viewers (users or ``group#member``) and a parent folder; ``view = viewer + owner + parent->view``.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

DOCS_SCHEMA = """
definition user {}

definition group {
    relation member: user | group#member
}

definition folder {
    relation parent: folder
    relation viewer: user | group#member
    permission view = viewer + parent->view
}

definition document {
    relation parent: folder
    relation owner: user
    relation viewer: user | group#member
    permission view = viewer + owner + parent->view
}
"""


@dataclass(frozen=True)
class Dataset:
    name: str
    schema: str
    relationships: list[str]
    users: list[str]
    resources: list[str]  # "type:id" of the resources queries are asked about
    permission: str


def docs(size: int = 200_000, seed: int = 42) -> Dataset:
    """About ``size`` relationships in the ``docs`` shape."""
    rng = random.Random(seed)
    n_users = max(10, size // 20)
    n_groups = max(5, size // 200)
    n_folders = max(5, size // 40)
    users = [f"u{i}" for i in range(n_users)]
    rels: list[str] = []
    # Groups: level 0..4; a group at level k > 0 is nested in one group of level k - 1.
    levels: list[list[str]] = [[] for _ in range(5)]
    for g_index in range(n_groups):
        levels[min(4, int(rng.random() * 5))].append(f"g{g_index}")
    for level in range(1, 5):
        for g in levels[level]:
            if levels[level - 1]:
                parent = rng.choice(levels[level - 1])
                rels.append(f"group:{parent}#member@group:{g}#member")
    groups = [g for lvl in levels for g in lvl]
    for g in groups:
        for u in rng.sample(users, min(len(users), rng.randint(3, 12))):
            rels.append(f"group:{g}#member@user:{u}")
    # Folders: trees up to 6 deep.
    depth_of: dict[str, int] = {}
    folders: list[str] = []
    for f_index in range(n_folders):
        name = f"f{f_index}"
        candidates = [p for p in folders[-50:] if depth_of[p] < 5]
        if candidates and rng.random() < 0.8:
            parent = rng.choice(candidates)
            depth_of[name] = depth_of[parent] + 1
            rels.append(f"folder:{name}#parent@folder:{parent}")
        else:
            depth_of[name] = 0
        folders.append(name)
        if rng.random() < 0.3:
            rels.append(f"folder:{name}#viewer@group:{rng.choice(groups)}#member")
        if rng.random() < 0.3:
            rels.append(f"folder:{name}#viewer@user:{rng.choice(users)}")
    # Documents fill the rest.
    documents: list[str] = []
    d = 0
    while len(rels) < size:
        name = f"d{d}"
        d += 1
        documents.append(f"document:{name}")
        rels.append(f"document:{name}#parent@folder:{rng.choice(folders)}")
        rels.append(f"document:{name}#owner@user:{rng.choice(users)}")
        for _ in range(rng.randint(0, 3)):
            if rng.random() < 0.25:
                rels.append(f"document:{name}#viewer@group:{rng.choice(groups)}#member")
            else:
                rels.append(f"document:{name}#viewer@user:{rng.choice(users)}")
    rels = list(dict.fromkeys(rels))
    return Dataset("docs", DOCS_SCHEMA, rels, users, documents, "view")


DATASETS = {"docs": docs}


# -- org, deep, wide ----------------------------------------------------------------------------
# Registered below with DATASETS.update() so that the entries above stay as they are.

ORG_SCHEMA = """
definition user {}

definition organization {
    relation admin: user
    relation member: user
}

definition team {
    relation parent: organization
    relation maintainer: user
    relation member: user | team#member
    permission membership = member + maintainer
}

definition repository {
    relation owner: organization
    relation admin: user | team#member
    relation writer: user | team#member
    relation reader: user | team#member
    permission manage = admin + owner->admin
    permission write = writer + manage
    permission read = reader + write
}
"""


def org(size: int = 100_000, seed: int = 42) -> Dataset:
    """An RBAC-style organisation, what most users model first: organisations with admins and
    members, teams (some nested in another team of the same organisation), repositories owned
    by an organisation with roles granted to teams and to users; ``admin ⊃ write ⊃ read``
    (org admins manage every repository of their organisation)."""
    rng = random.Random(seed)
    n_orgs = max(2, size // 25_000)
    n_users = max(20, size // 10)
    n_teams = max(4, size // 100)
    users = [f"u{i}" for i in range(n_users)]
    members: list[list[str]] = [[] for _ in range(n_orgs)]
    rels: list[str] = []
    for i, u in enumerate(users):
        o = i % n_orgs
        members[o].append(u)
        rels.append(f"organization:o{o}#member@user:{u}")
    for o in range(n_orgs):
        for u in rng.sample(members[o], min(3, len(members[o]))):
            rels.append(f"organization:o{o}#admin@user:{u}")
    teams: list[list[str]] = [[] for _ in range(n_orgs)]
    for t in range(n_teams):
        o = t % n_orgs
        name = f"t{t}"
        rels.append(f"team:{name}#parent@organization:o{o}")
        rels.append(f"team:{name}#maintainer@user:{rng.choice(members[o])}")
        for u in rng.sample(members[o], min(len(members[o]), rng.randint(4, 16))):
            rels.append(f"team:{name}#member@user:{u}")
        if teams[o] and rng.random() < 0.2:  # a child team: its members belong to the parent
            rels.append(f"team:{rng.choice(teams[o])}#member@team:{name}#member")
        teams[o].append(name)
    repositories: list[str] = []
    roles = ("reader", "reader", "reader", "writer", "writer", "admin")
    r = 0
    while len(rels) < size:
        o = r % n_orgs
        name = f"r{r}"
        r += 1
        repositories.append(f"repository:{name}")
        rels.append(f"repository:{name}#owner@organization:o{o}")
        for _ in range(rng.randint(1, 3)):
            rels.append(f"repository:{name}#{rng.choice(roles)}@team:{rng.choice(teams[o])}#member")
        for _ in range(rng.randint(0, 3)):
            rels.append(f"repository:{name}#{rng.choice(roles)}@user:{rng.choice(members[o])}")
    rels = list(dict.fromkeys(rels))
    return Dataset("org", ORG_SCHEMA, rels, users, repositories, "read")


DEEP_SCHEMA = """
definition user {}

definition group {
    relation member: user | group#member
}

definition document {
    relation viewer: user | group#member
    permission view = viewer
}
"""

#: Groups in one nesting chain of ``deep``: a member of the last is a member of the first
#: through 49 nested ``group#member`` hops.
DEEP_LEVELS = 50
_DEEP_USERS_PER_LEVEL = 6
_DEEP_DOCUMENTS_PER_CHAIN = 50


def deep(size: int = 20_000, seed: int = 42) -> Dataset:
    """Chains of groups nested :data:`DEEP_LEVELS` deep (``c3_0`` contains ``c3_1`` contains
    ... ``c3_49``), users at every level, and documents shared with the top group of a chain
    and with a few users directly. A user at the bottom of a chain reaches a document only
    through every level: the case an index of transitive membership exists for."""
    rng = random.Random(seed)
    rels: list[str] = []
    users: list[str] = []
    documents: list[str] = []
    c = 0
    while len(rels) < size:
        chain = [f"c{c}_{k}" for k in range(DEEP_LEVELS)]
        for outer, inner in itertools.pairwise(chain):
            rels.append(f"group:{outer}#member@group:{inner}#member")
        for k, g in enumerate(chain):
            for j in range(_DEEP_USERS_PER_LEVEL):
                users.append(f"u{c}_{k}_{j}")
                rels.append(f"group:{g}#member@user:u{c}_{k}_{j}")
        for i in range(_DEEP_DOCUMENTS_PER_CHAIN):
            name = f"document:d{c}_{i}"
            documents.append(name)
            rels.append(f"{name}#viewer@group:{chain[0]}#member")
            direct = f"v{c}_{i}"
            users.append(direct)
            rels.append(f"{name}#viewer@user:{direct}")
            if rng.random() < 0.5:
                rels.append(f"{name}#viewer@user:{rng.choice(users)}")
        c += 1
    rels = list(dict.fromkeys(rels))
    return Dataset("deep", DEEP_SCHEMA, rels, users, documents, "view")


def deep_pairs(ds: Dataset, n: int, seed: int = 42) -> tuple[list[str], list[str]]:
    """Up to ``n`` (resource, subject) pairs of :func:`deep` allowed only through all
    :data:`DEEP_LEVELS` levels, and as many allowed by a direct relationship, as
    ``"resource subject"`` strings: the two sides of "how much does nesting cost". Every pair
    has its own subject, so that no answer is reused from an earlier check of the subject."""
    rng = random.Random(seed)
    chains: dict[str, list[str]] = {}
    for doc in ds.resources:
        chains.setdefault(doc.removeprefix("document:d").split("_")[0], []).append(doc)
    deepest: list[str] = []
    direct: list[str] = []
    for c, docs_of_chain in chains.items():
        for j in range(_DEEP_USERS_PER_LEVEL):
            deepest.append(f"{rng.choice(docs_of_chain)} user:u{c}_{DEEP_LEVELS - 1}_{j}")
    for doc in ds.resources:
        c, i = doc.removeprefix("document:d").split("_")
        direct.append(f"{doc} user:v{c}_{i}")
    rng.shuffle(deepest)
    rng.shuffle(direct)
    k = min(n, len(deepest), len(direct))
    return deepest[:k], direct[:k]


WIDE_SCHEMA = """
definition user {}

definition group {
    relation member: user
}

definition document {
    relation viewer: user | group#member
    permission view = viewer
}
"""

#: The resource of ``wide`` with half of all relationships as direct subjects.
WIDE_RESOURCE = "document:wide"
#: The user of ``wide`` who is a member of one group in twenty relationships.
WIDE_USER = "hub"


def wide(size: int = 200_000, seed: int = 42) -> Dataset:
    """Extremes of fan-out, scaled with ``size``: :data:`WIDE_RESOURCE` with ``size / 2``
    direct viewers (100k at 200k), and :data:`WIDE_USER` in ``size / 20`` groups (10k at 200k),
    each group a viewer of its own document; the rest is ordinary documents with a few
    viewers each."""
    rng = random.Random(seed)
    n_wide = max(10, size // 2)
    n_groups = max(5, size // 20)
    users = [WIDE_USER] + [f"w{i}" for i in range(n_wide)]
    rels = [f"{WIDE_RESOURCE}#viewer@user:w{i}" for i in range(n_wide)]
    documents = [WIDE_RESOURCE]
    for g in range(n_groups):
        rels.append(f"group:g{g}#member@user:{WIDE_USER}")
        for u in rng.sample(users, 2):
            rels.append(f"group:g{g}#member@user:{u}")
        documents.append(f"document:gd{g}")
        rels.append(f"document:gd{g}#viewer@group:g{g}#member")
    f = 0
    while len(rels) < size:
        name = f"document:f{f}"
        f += 1
        documents.append(name)
        for u in rng.sample(users, 2):
            rels.append(f"{name}#viewer@user:{u}")
    rels = list(dict.fromkeys(rels))
    return Dataset("wide", WIDE_SCHEMA, rels, users, documents, "view")


DATASETS.update({"org": org, "deep": deep, "wide": wide})


# -- caveated ------------------------------------------------------------------------------------
# The ``docs`` data with caveats: the same relationships (same seed and size, so the same graph),
# a share of those that may carry a caveat carrying one, most with a stored context; plus
# request contexts to ask with. It exists to put the price of caveats next to plain checks on
# data of one shape (``python -m benchmarks.caveated``).

CAVEATED_SCHEMA = """
caveat on_network(network string, ip ipaddress) {
    ip.in_cidr(network)
}

caveat clearance(required int, level int) {
    level >= required
}

caveat business_hours(hour int) {
    hour >= 9 && hour < 17
}

definition user {}

definition group {
    relation member: user | group#member | user with clearance
}

definition folder {
    relation parent: folder
    relation viewer: user | group#member | user with on_network | group#member with business_hours
    permission view = viewer + parent->view
}

definition document {
    relation parent: folder
    relation owner: user
    relation viewer: DOCUMENT_VIEWERS
    permission view = viewer + owner + parent->view
}
""".replace(  # one relation line would be too long to read
    "DOCUMENT_VIEWERS",
    " | ".join(
        (
            "user",
            "group#member",
            "user with clearance",
            "user with on_network",
            "group#member with business_hours",
        )
    ),
)

CAVEATED_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
_ADDRESSES = ("10.1.2.3", "172.16.9.9", "192.168.1.20", "8.8.8.8")


@dataclass(frozen=True)
class CaveatedDataset(Dataset):
    """A data set whose questions come with caveat context."""

    #: Request contexts to ask with (a few leave a parameter out, as real callers do).
    contexts: tuple[dict[str, Any], ...] = ()
    #: How many relationships carry a caveat.
    caveated: int = 0


def _caveat_for(text: str, rng: random.Random) -> str:
    """``text`` with a caveat its relation allows (and a stored context), or unchanged."""
    head, _, subject = text.partition("@")
    relation = head.partition("#")[2]
    if relation == "member" and "#" not in subject:
        return f'{text}[clearance:{{"required":{rng.randint(1, 4)}}}]'
    if relation == "viewer" and subject.endswith("#member"):
        return f"{text}[business_hours]"  # the request says what time it is
    if relation == "viewer" and head.startswith("document:") and rng.random() < 0.5:
        return f'{text}[clearance:{{"required":{rng.randint(1, 4)}}}]'
    if relation == "viewer":
        return f'{text}[on_network:{{"network":"{rng.choice(CAVEATED_NETWORKS)}"}}]'
    return text  # parent, owner, nested groups: structure stays uncaveated


def _request_context(rng: random.Random) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "ip": rng.choice(_ADDRESSES),
        "level": rng.randint(0, 5),
        "hour": rng.choice((8, 9, 11, 14, 16, 18)),
    }
    if rng.random() < 0.1:
        del ctx[rng.choice(sorted(ctx))]
    return ctx


def caveated(size: int = 200_000, seed: int = 42, share: float = 0.3) -> CaveatedDataset:
    """``docs(size, seed)`` with about ``share`` of the relationships that may carry a caveat
    (group members, viewers) carrying one, and 64 request contexts."""
    base = docs(size, seed)
    rng = random.Random(seed + 1)
    rels: list[str] = []
    n = 0
    for text in base.relationships:
        if rng.random() < share:
            changed = _caveat_for(text, rng)
            n += changed != text
            text = changed
        rels.append(text)
    contexts = tuple(_request_context(rng) for _ in range(64))
    return CaveatedDataset(
        "caveated",
        CAVEATED_SCHEMA,
        rels,
        base.users,
        base.resources,
        base.permission,
        contexts=contexts,
        caveated=n,
    )


DATASETS["caveated"] = caveated
