"""RelationshipFilter and read positions as SQL, shaped so that SQLite uses the right index.

Two planner details drive the shape (checked with EXPLAIN QUERY PLAN):

* keyset paging compares only the key columns *after* those the filter fixes by equality;
  a row-value comparison over a fixed column makes SQLite sort the result in a temp b-tree;
* a filter on a subject id without a resource id names ``rel_subject`` explicitly: without
  statistics the planner prefers the index that matches ORDER BY and scans a whole type.
"""

from __future__ import annotations

from rebac.model import ELLIPSIS, RelationshipFilter
from rebac.store._rows import Key

KEY_COLUMNS = ("rtype", "rid", "rel", "stype", "sid", "srel")
ROW_COLUMNS = "rtype, rid, rel, stype, sid, srel, caveat, context_json, expires_at"
ORDER_BY = "ORDER BY rtype, rid, rel, stype, sid, srel"

Params = list[object]


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: none)."""
    chars = list(prefix)
    while chars:
        c = ord(chars.pop()) + 1
        if 0xD800 <= c <= 0xDFFF:
            c = 0xE000  # surrogates cannot be stored as UTF-8
        if c <= 0x10FFFF:
            return "".join(chars) + chr(c)
    return None


def fixed_values(f: RelationshipFilter | None) -> list[str]:
    """Values of the leading key columns the filter fixes by equality, in key order."""
    if f is None:
        return []
    sf = f.subject
    srel = None
    if sf is not None and sf.relation is not None:
        srel = "" if sf.relation == ELLIPSIS else sf.relation
    values = [
        f.resource_type,
        f.resource_id,
        f.relation,
        None if sf is None else sf.type,
        None if sf is None else sf.id,
        srel,
    ]
    out: list[str] = []
    for v in values:
        if v is None:
            break
        out.append(v)
    return out


def filter_sql(f: RelationshipFilter | None) -> tuple[str, Params]:
    """``AND ...`` conditions for ``f`` (empty for no filter)."""
    if f is None:
        return "", []
    sql: list[str] = []
    params: Params = []

    def eq(column: str, value: str | None) -> None:
        if value is not None:
            sql.append(f"{column} = ?")
            params.append(value)

    eq("rtype", f.resource_type)
    eq("rid", f.resource_id)
    if f.resource_id_prefix:
        p = f.resource_id_prefix
        sql.append("rid >= ?")
        params.append(p)
        upper = prefix_upper_bound(p)
        if upper is not None:
            sql.append("rid < ?")
            params.append(upper)
        sql.append("substr(rid, 1, ?) = ?")  # exact, whatever the collation of odd characters
        params.extend([len(p), p])
    eq("rel", f.relation)
    sf = f.subject
    if sf is not None:
        eq("stype", sf.type)
        eq("sid", sf.id)
        if sf.relation is not None:
            eq("srel", "" if sf.relation == ELLIPSIS else sf.relation)
    return "".join(f" AND {s}" for s in sql), params


def index_hint(f: RelationshipFilter | None) -> str:
    if (
        f is not None
        and f.subject is not None
        and f.subject.id is not None
        and f.resource_id is None
        and not f.resource_id_prefix
    ):
        return " INDEXED BY rel_subject"
    return ""


def after_sql(f: RelationshipFilter | None, after: Key | None) -> tuple[str, Params] | None:
    """``AND (...) > (...)`` for rows after ``after``; None when no row can follow it."""
    if after is None:
        return "", []
    fixed = fixed_values(f)
    n = len(fixed)
    head = list(after[:n])
    if head < fixed:
        return "", []  # every matching row sorts after the position
    if head > fixed or n == len(KEY_COLUMNS):
        return None
    cols = KEY_COLUMNS[n:]
    marks = ", ".join("?" * len(cols))
    return f" AND ({', '.join(cols)}) > ({marks})", list(after[n:])
