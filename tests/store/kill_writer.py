"""Child process of the SIGKILL durability test (not a test module).

    python kill_writer.py DB_PATH ITERATION

Writes batches of BATCH relationships to store ``k`` forever -- every fifth one through bulk
import -- and prints ``name revision`` after each write returns, i.e. once it is acknowledged.
"""

from __future__ import annotations

import contextlib
import sys

from rebac.errors import StoreAlreadyExists
from rebac.model import ObjectRef, Operation, Relationship, RelationshipUpdate, SubjectRef
from rebac.store import SQLiteStore

BATCH = 40
STORE = "k"


def batch(name: str) -> list[Relationship]:
    return [
        Relationship(ObjectRef("document", f"{name}_{j}"), "viewer", SubjectRef("user", f"u{j}"))
        for j in range(BATCH)
    ]


def main() -> None:
    path, iteration = sys.argv[1], sys.argv[2]
    store = SQLiteStore(path)  # durable: synchronous=FULL
    with contextlib.suppress(StoreAlreadyExists):
        store.create_store(STORE)
    n = 0
    while True:
        name = f"it{iteration}b{n}"
        rels = batch(name)
        if n % 5 == 4:
            rev = store.import_relationships(STORE, [rels[:15], rels[15:]]).revision
        else:
            updates = [RelationshipUpdate(Operation.TOUCH, r) for r in rels]
            rev = store.write(STORE, updates, metadata={"batch": name})
        print(name, rev, flush=True)
        n += 1


if __name__ == "__main__":
    main()
