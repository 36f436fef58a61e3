"""What checks learned survives writes exactly as far as it is still true (rebac.engine.learned).

After any sequence of writes and deletes, an engine that kept its caches answers every question
exactly as a fresh engine over the same relationships does.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rebac import Engine

SCHEMA = """
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
    relation viewer: user | group#member
    permission view = viewer + parent->view
}
"""

USERS = [f"user:u{i}" for i in range(3)]
GROUPS = [f"g{i}" for i in range(3)]
FOLDERS = [f"f{i}" for i in range(3)]
DOCS = [f"d{i}" for i in range(2)]

RELATIONSHIPS = (
    [f"group:{g}#member@{u}" for g in GROUPS for u in USERS]
    + [f"group:{a}#member@group:{b}#member" for a in GROUPS for b in GROUPS if a != b]
    + [f"folder:{a}#parent@folder:{b}" for a in FOLDERS for b in FOLDERS if a != b]
    + [f"folder:{f}#viewer@{u}" for f in FOLDERS for u in USERS]
    + [f"folder:{f}#viewer@group:{g}#member" for f in FOLDERS for g in GROUPS]
    + [f"document:{d}#parent@folder:{f}" for d in DOCS for f in FOLDERS]
    + [f"document:{d}#viewer@group:{g}#member" for d in DOCS for g in GROUPS]
)
QUESTIONS = [
    (resource, "view" if not resource.startswith("group") else "member", u)
    for resource in [f"document:{d}" for d in DOCS]
    + [f"folder:{f}" for f in FOLDERS]
    + [f"group:{g}" for g in GROUPS]
    for u in USERS
]


def answers(engine: Engine) -> list[bool]:
    return [engine.check(r, p, s).allowed for r, p, s in QUESTIONS]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.sampled_from(RELATIONSHIPS), st.integers(0, 1000)),
        min_size=1,
        max_size=25,
    )
)
def test_kept_caches_answer_like_a_fresh_engine_after_every_write(
    ops: list[tuple[bool, str, int]],
) -> None:
    kept = Engine(SCHEMA)
    present: set[str] = set()
    for add, rel, pick in ops:
        if add:
            kept.touch(rel)
            present.add(rel)
        elif present:  # delete one that is there
            gone = sorted(present)[pick % len(present)]
            kept.delete(gone)
            present.discard(gone)
        answers(kept)  # learn at this revision; the next write must drop what it changes
        fresh = Engine(SCHEMA)
        if present:
            fresh.touch(*sorted(present))
        assert answers(kept) == answers(fresh)


def test_a_viewer_write_keeps_flattened_folders_and_group_closures() -> None:
    e = Engine(SCHEMA)
    e.touch(
        "group:inner#member@user:u",
        "group:outer#member@group:inner#member",
        "folder:root#viewer@group:outer#member",
        "folder:sub#parent@folder:root",
        "document:a#parent@folder:sub",
        "document:b#parent@folder:sub",
    )
    assert e.check("document:a", "view", "user:u").allowed
    learned = e._head.learned
    flats, closures = learned.flats.entries(), len(learned.closures)
    assert flats and closures
    e.touch("document:b#viewer@user:w")
    assert learned.flats.entries() == flats  # no tupleset changed
    assert len(learned.closures) == closures  # no group the closures walked changed
    assert e.check("document:b", "view", "user:w").allowed
    assert e.check("document:b", "view", "user:u").allowed


def test_a_membership_write_drops_only_the_closures_that_walked_through_it() -> None:
    e = Engine(SCHEMA)
    e.touch(
        "group:a#member@user:u",
        "group:b#member@user:v",
        "document:d#viewer@group:a#member",
        "document:d#viewer@group:b#member",
    )
    assert e.check("document:d", "view", "user:u").allowed
    assert e.check("document:d", "view", "user:v").allowed
    closures = e._head.learned.closures
    assert closures.get(("group", "a", "member")) is not None
    assert closures.get(("group", "b", "member")) is not None
    e.touch("group:top#member@group:a#member")  # group:a is now inside group:top
    assert closures.get(("group", "a", "member")) is None
    assert closures.get(("group", "b", "member")) is not None
    e.touch("document:e#viewer@group:top#member")
    assert e.check("document:e", "view", "user:u").allowed
    assert not e.check("document:e", "view", "user:v").allowed
    e.delete("group:top#member@group:a#member")
    assert not e.check("document:e", "view", "user:u").allowed


def test_a_parent_write_drops_flattened_entries() -> None:
    e = Engine(SCHEMA)
    e.touch(
        "folder:root#viewer@user:u",
        "folder:sub#parent@folder:root",
        "document:a#parent@folder:sub",
    )
    assert e.check("document:a", "view", "user:u").allowed
    e.delete("folder:sub#parent@folder:root")
    assert not e._head.learned.flats
    assert not e.check("document:a", "view", "user:u").allowed
