"""The set of subjects a lookup-subjects walk carries: concrete ids plus an optional wildcard.

Semantics follow SpiceDB's subject-set algebra (its ``BaseSubjectSet``), with caveat conditions
already evaluated against the request context into :mod:`rebac.engine.values` (``True`` or
``Conditional``; an entry that is ``False`` is simply absent):

* a member is ``concrete[id]`` OR (``wildcard`` AND NOT ``excluded[id]``);
* a union keeps *both* a concrete subject and a wildcard that covers it, so the concrete subjects
  the data names are always reported;
* subtracting a wildcard that has exclusions turns those exclusions into concrete subjects
  (``* - (* - {sarah})`` is ``{sarah}``).
"""

from __future__ import annotations

from rebac.engine.values import Conditional, Value, v_and, v_not, v_or


def _put(d: dict[str, Value], key: str, value: Value) -> None:
    if value is False:
        d.pop(key, None)
    else:
        d[key] = value


class SubjectSet:
    __slots__ = ("concrete", "excluded", "wildcard")

    def __init__(self) -> None:
        self.concrete: dict[str, Value] = {}
        self.wildcard: Value = False
        self.excluded: dict[str, Value] = {}

    def copy(self) -> SubjectSet:
        out = SubjectSet()
        out.concrete = dict(self.concrete)
        out.wildcard = self.wildcard
        out.excluded = dict(self.excluded)
        return out

    def same(self, other: SubjectSet) -> bool:
        """Equal membership (the fixpoint iteration's convergence test)."""
        return (
            _same_values(self.concrete, other.concrete)
            and _same_value(self.wildcard, other.wildcard)
            and _same_values(self.excluded, other.excluded)
        )

    def is_empty(self) -> bool:
        return not self.concrete and self.wildcard is False

    # -- building -------------------------------------------------------------------------------

    def add_concrete(self, sid: str, cond: Value) -> None:
        if cond is True:  # the common case, without the three-valued arithmetic
            self.concrete[sid] = True
            if self.wildcard is not False:
                self.excluded.pop(sid, None)
            return
        if cond is False:
            return
        _put(self.concrete, sid, v_or(self.concrete.get(sid, False), cond))
        if self.wildcard is not False and sid in self.excluded:
            # The concrete subject is present whenever ``cond`` holds: the exclusion only
            # bites when it does not.
            _put(self.excluded, sid, v_and(self.excluded[sid], v_not(cond)))

    def add_wildcard(self, cond: Value, excluded: dict[str, Value] | None = None) -> None:
        if cond is False:
            return
        excluded = excluded or {}
        if self.wildcard is False:
            self.wildcard = cond
            self.excluded = dict(excluded)
        else:
            self.wildcard = v_or(self.wildcard, cond)
            # Excluded from the union only if excluded from both wildcards.
            merged: dict[str, Value] = {}
            for sid, x in self.excluded.items():
                if sid in excluded:
                    _put(merged, sid, v_and(x, excluded[sid]))
            self.excluded = merged
        for sid, c in self.concrete.items():
            if sid in self.excluded:
                _put(self.excluded, sid, v_and(self.excluded[sid], v_not(c)))

    # -- algebra (each returns a new set; operands are never mutated) ---------------------------

    def with_condition(self, cond: Value) -> SubjectSet:
        """Every member additionally requires ``cond`` (a caveat on the edge that led here)."""
        if cond is True:
            return self
        out = SubjectSet()
        for sid, c in self.concrete.items():
            _put(out.concrete, sid, v_and(cond, c))
        if self.wildcard is not False:
            out.wildcard = v_and(cond, self.wildcard)
            if out.wildcard is not False:
                out.excluded = dict(self.excluded)
        return out

    def union(self, other: SubjectSet) -> SubjectSet:
        out = self.copy()
        out.union_update(other)
        return out

    def union_update(self, other: SubjectSet) -> None:
        if other.wildcard is False and self.wildcard is False:
            # Concrete subjects only (no exclusions to maintain): the common case, kept cheap.
            concrete = self.concrete
            if not concrete:
                self.concrete = dict(other.concrete)
                return
            for sid, c in other.concrete.items():
                if c is True:
                    concrete[sid] = True
                else:
                    _put(concrete, sid, v_or(concrete.get(sid, False), c))
            return
        if other.wildcard is not False:
            self.add_wildcard(other.wildcard, other.excluded)
        for sid, c in other.concrete.items():
            self.add_concrete(sid, c)

    def intersection(self, other: SubjectSet) -> SubjectSet:
        out = SubjectSet()
        if self.wildcard is not False and other.wildcard is not False:
            out.wildcard = v_and(self.wildcard, other.wildcard)
            if out.wildcard is not False:
                for src in (self.excluded, other.excluded):
                    for sid, x in src.items():
                        _put(out.excluded, sid, v_or(out.excluded.get(sid, False), x))
        for sid, c in self.concrete.items():
            both = v_and(c, other.concrete.get(sid, False))
            via_wild = _concrete_and_wildcard(sid, c, other)
            _put(out.concrete, sid, v_or(both, via_wild))
        if self.wildcard is not False:
            for sid, c in other.concrete.items():
                via_wild = _concrete_and_wildcard(sid, c, self)
                _put(out.concrete, sid, v_or(out.concrete.get(sid, False), via_wild))
        return out

    def difference(self, other: SubjectSet) -> SubjectSet:
        out = self.copy()
        for sid, x in other.concrete.items():
            if sid in out.concrete:
                _put(out.concrete, sid, v_and(out.concrete[sid], v_not(x)))
            if out.wildcard is not False:
                _put(out.excluded, sid, v_or(out.excluded.get(sid, False), x))
        if other.wildcard is False:
            return out
        wb, xb = other.wildcard, other.excluded
        for sid, c in list(out.concrete.items()):
            if sid not in xb:
                _put(out.concrete, sid, v_and(c, v_not(wb)))
            else:
                _put(out.concrete, sid, v_and(c, v_or(v_not(wb), xb[sid])))
        if out.wildcard is False:
            return out
        wa, xa = out.wildcard, out.excluded
        # Subjects the subtracted wildcard leaves out are still covered by ours.
        for sid, x in xb.items():
            cond = v_and(v_and(wa, wb), x)
            if sid in xa:
                cond = v_and(cond, v_not(xa[sid]))
            if cond is not False:
                _put(out.concrete, sid, v_or(out.concrete.get(sid, False), cond))
        out.wildcard = v_and(wa, v_not(wb))
        if out.wildcard is False:
            out.excluded = {}
        return out


def _concrete_and_wildcard(sid: str, cond: Value, other: SubjectSet) -> Value:
    if other.wildcard is False:
        return False
    x = other.excluded.get(sid, False)
    return v_and(cond, v_and(other.wildcard, v_not(x)))


def _same_value(a: Value, b: Value) -> bool:
    if a is b:
        return True
    if isinstance(a, Conditional) and isinstance(b, Conditional):
        return a.missing == b.missing
    return False


def _same_values(a: dict[str, Value], b: dict[str, Value]) -> bool:
    return a.keys() == b.keys() and all(_same_value(v, b[k]) for k, v in a.items())
