"""Seeded, deterministic data sets for benchmarks.

``docs`` is the scenario the Python peers are compared on: users; groups nested up to 5 levels
(``group#member``); folders in trees up to 6 deep (``parent`` arrows); documents with an owner,
viewers (users or ``group#member``) and a parent folder; ``view = viewer + owner + parent->view``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

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
