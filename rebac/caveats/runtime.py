"""Run-time values and operations of the CEL subset.

Value representation (chosen so that evaluation needs no wrapping):

=========== =======================================================
CEL type    Python value
=========== =======================================================
bool        ``bool``
int, uint   ``int`` (the static type tells them apart; int64 / uint64 ranges are enforced)
double      ``float``
string      ``str``
bytes       ``bytes``
null        ``None``
list        ``list``
map         ``dict``
timestamp   timezone-aware ``datetime`` in UTC
duration    ``timedelta``
ipaddress   ``IPv4Address`` / ``IPv6Address``
=========== =======================================================

"Unknown" (a parameter that was not supplied) and CEL errors travel as exceptions: an operation
that is strict in its arguments needs no check at all (the exception simply propagates), and
only the operators that may absorb them (``&&``, ``||``, the ``all``/``exists`` macros) catch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

INT_MIN = -(1 << 63)
INT_MAX = (1 << 63) - 1
UINT_MAX = (1 << 64) - 1


class Unknown(Exception):
    """Signal: the value depends on parameters that are missing (``names``)."""

    def __init__(self, names: frozenset[str]):
        super().__init__()
        self.names = names


class CelError(Exception):
    """A CEL run-time error (no such key, overflow, bad conversion, ...)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def merge(a: BaseException | None, b: BaseException) -> BaseException:
    """Combine two failures the way CEL does: unknowns win over errors and are merged; of two
    errors the first one is kept."""
    if a is None:
        return b
    if isinstance(a, Unknown):
        if isinstance(b, Unknown):
            return Unknown(a.names | b.names)
        return a
    if isinstance(b, Unknown):
        return b
    return a


def fail_strict(
    first: BaseException, ctx: Mapping[str, Any], others: tuple[Callable[[Any], Any], ...]
) -> NoReturn:
    """An argument of a strict operation failed with ``first``: evaluate the remaining
    arguments only to collect further missing parameters, then raise the combined failure."""
    acc: BaseException = first
    for o in others:
        try:
            o(ctx)
        except Exception as e:
            acc = merge(acc, e)
    raise acc


def describe_error(e: BaseException) -> str:
    if isinstance(e, CelError):
        return e.message
    if isinstance(e, ZeroDivisionError):
        return "division by zero"
    if isinstance(e, OverflowError):
        return f"overflow: {e}"
    if isinstance(e, RecursionError):
        return "expression nested too deeply"
    if isinstance(e, KeyError):
        return f"no such key: {e.args[0]!r}" if e.args else "no such key"
    if isinstance(e, TypeError):
        return f"no matching overload ({e})"
    return f"{type(e).__name__}: {e}"


# --------------------------------------------------------------------------------------------
# Dynamic typing helpers

_KINDS: dict[type, str] = {
    bool: "bool",
    int: "int",
    float: "double",
    str: "string",
    bytes: "bytes",
    type(None): "null",
    list: "list",
    tuple: "list",
    dict: "map",
    datetime: "timestamp",
    timedelta: "duration",
    IPv4Address: "ipaddress",
    IPv6Address: "ipaddress",
}


def kind(v: Any) -> str:
    """The CEL type name of a run-time value."""
    k = _KINDS.get(type(v))
    if k is not None:
        return k
    for t, name in _KINDS.items():  # subclasses
        if isinstance(v, t):
            return name
    if isinstance(v, Mapping):
        return "map"
    return type(v).__name__


def _no_overload(op: str, *args: Any) -> NoReturn:
    raise CelError(
        f"no matching overload for '{op}' applied to ({', '.join(kind(a) for a in args)})"
    )


def cel_eq(a: Any, b: Any) -> bool:
    """CEL heterogeneous equality: numbers compare by value across int/uint/double, values of
    different kinds are unequal (never an error), lists and maps compare element-wise."""
    ta = type(a)
    tb = type(b)
    if ta is tb and ta is not list and ta is not dict and ta is not tuple:
        return bool(a == b)
    if ta is bool or tb is bool:
        return ta is tb and a == b
    ka = kind(a)
    kb = kind(b)
    if ka in ("int", "double") and kb in ("int", "double"):
        return bool(a == b)
    if ka != kb:
        return False
    if ka == "list":
        return len(a) == len(b) and all(cel_eq(x, y) for x, y in zip(a, b, strict=True))
    if ka == "map":
        if len(a) != len(b):
            return False
        return all(k in b and cel_eq(v, b[k]) for k, v in a.items())
    return bool(a == b)


def cel_ne(a: Any, b: Any) -> bool:
    return not cel_eq(a, b)


_ORDERED_KINDS = frozenset({"bool", "string", "bytes", "timestamp", "duration"})


def _cmp_check(op: str, a: Any, b: Any) -> None:
    ka = kind(a)
    kb = kind(b)
    if ka in ("int", "double") and kb in ("int", "double"):
        return
    if ka == kb and ka in _ORDERED_KINDS:
        return
    _no_overload(op, a, b)


def dyn_lt(a: Any, b: Any) -> bool:
    ta = type(a)
    tb = type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a < b)
    _cmp_check("<", a, b)
    return bool(a < b)


def dyn_le(a: Any, b: Any) -> bool:
    ta = type(a)
    tb = type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a <= b)
    _cmp_check("<=", a, b)
    return bool(a <= b)


def dyn_gt(a: Any, b: Any) -> bool:
    ta = type(a)
    tb = type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a > b)
    _cmp_check(">", a, b)
    return bool(a > b)


def dyn_ge(a: Any, b: Any) -> bool:
    ta = type(a)
    tb = type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a >= b)
    _cmp_check(">=", a, b)
    return bool(a >= b)


def in_list(x: Any, lst: list[Any]) -> bool:
    return any(cel_eq(x, y) for y in lst)


def dyn_in(x: Any, container: Any) -> bool:
    k = kind(container)
    if k == "list":
        return in_list(x, container)
    if k == "map":
        try:
            return x in container
        except TypeError:
            _no_overload("in", x, container)
    _no_overload("in", x, container)


# --------------------------------------------------------------------------------------------
# Arithmetic


def _int_range(r: int) -> int:
    if INT_MIN <= r <= INT_MAX:
        return r
    raise CelError("integer overflow")


def _uint_range(r: int) -> int:
    if 0 <= r <= UINT_MAX:
        return r
    raise CelError("unsigned integer overflow")


def int_add(a: int, b: int) -> int:
    r = a + b
    if INT_MIN <= r <= INT_MAX:
        return r
    raise CelError("integer overflow")


def int_sub(a: int, b: int) -> int:
    r = a - b
    if INT_MIN <= r <= INT_MAX:
        return r
    raise CelError("integer overflow")


def int_mul(a: int, b: int) -> int:
    r = a * b
    if INT_MIN <= r <= INT_MAX:
        return r
    raise CelError("integer overflow")


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _trunc_mod(a: int, b: int) -> int:
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def int_div(a: int, b: int) -> int:
    if b == 0:
        raise CelError("division by zero")
    return _int_range(_trunc_div(a, b))


def int_mod(a: int, b: int) -> int:
    if b == 0:
        raise CelError("modulus by zero")
    return _trunc_mod(a, b)


def int_neg(a: int) -> int:
    return _int_range(-a)


def uint_add(a: int, b: int) -> int:
    return _uint_range(a + b)


def uint_sub(a: int, b: int) -> int:
    return _uint_range(a - b)


def uint_mul(a: int, b: int) -> int:
    return _uint_range(a * b)


def uint_div(a: int, b: int) -> int:
    if b == 0:
        raise CelError("division by zero")
    return a // b


def uint_mod(a: int, b: int) -> int:
    if b == 0:
        raise CelError("modulus by zero")
    return a % b


def double_add(a: float, b: float) -> float:
    return a + b


def double_sub(a: float, b: float) -> float:
    return a - b


def double_mul(a: float, b: float) -> float:
    return a * b


def double_div(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def double_neg(a: float) -> float:
    return -a


def concat(a: Any, b: Any) -> Any:
    return a + b


def list_concat(a: list[Any], b: list[Any]) -> list[Any]:
    return [*a, *b]


def time_add(a: Any, b: Any) -> Any:
    try:
        return a + b
    except OverflowError:
        raise CelError("timestamp or duration out of range") from None


def time_sub(a: Any, b: Any) -> Any:
    try:
        return a - b
    except OverflowError:
        raise CelError("timestamp or duration out of range") from None


def duration_neg(a: timedelta) -> timedelta:
    return -a


_DYN_ARITH: dict[tuple[str, str, str], Callable[[Any, Any], Any]] = {
    ("+", "int", "int"): int_add,
    ("+", "double", "double"): double_add,
    ("+", "string", "string"): concat,
    ("+", "bytes", "bytes"): concat,
    ("+", "list", "list"): list_concat,
    ("+", "timestamp", "duration"): time_add,
    ("+", "duration", "timestamp"): time_add,
    ("+", "duration", "duration"): time_add,
    ("-", "int", "int"): int_sub,
    ("-", "double", "double"): double_sub,
    ("-", "timestamp", "timestamp"): time_sub,
    ("-", "timestamp", "duration"): time_sub,
    ("-", "duration", "duration"): time_sub,
    ("*", "int", "int"): int_mul,
    ("*", "double", "double"): double_mul,
    ("/", "int", "int"): int_div,
    ("/", "double", "double"): double_div,
    ("%", "int", "int"): int_mod,
}


def dyn_arith(op: str) -> Callable[[Any, Any], Any]:
    def impl(a: Any, b: Any) -> Any:
        f = _DYN_ARITH.get((op, kind(a), kind(b)))
        if f is None:
            _no_overload(op, a, b)
        return f(a, b)

    return impl


def dyn_neg(a: Any) -> Any:
    k = kind(a)
    if k == "int":
        return int_neg(a)
    if k == "double":
        return -a
    if k == "duration":
        return -a
    _no_overload("-", a)


def dyn_not(a: Any) -> bool:
    if a is True:
        return False
    if a is False:
        return True
    _no_overload("!", a)


def require_bool(v: Any) -> bool:
    if v is True or v is False:
        return v
    raise CelError(f"expected bool, got {kind(v)}")


# --------------------------------------------------------------------------------------------
# Containers


def list_index(lst: Any, i: Any) -> Any:
    if kind(lst) == "list":
        ki = kind(i)
        if ki == "double" and float(i).is_integer():
            i = int(i)
        elif ki != "int":
            _no_overload("_[_]", lst, i)
        if 0 <= i < len(lst):
            return lst[i]
        raise CelError(f"index out of range: {i}")
    if kind(lst) == "map":
        return map_index(lst, i)
    _no_overload("_[_]", lst, i)


def map_index(m: Any, k: Any) -> Any:
    try:
        return m[k]
    except KeyError:
        # heterogeneous numeric keys: 1.0 finds key 1 (Python already does), 1 finds 1.0
        raise CelError(f"no such key: {k!r}") from None
    except TypeError:
        if kind(m) != "map":
            _no_overload("_[_]", m, k)
        raise CelError(f"no such key: {k!r}") from None


def select_field(m: Any, field: str) -> Any:
    if type(m) is dict:
        try:
            return m[field]
        except KeyError:
            raise CelError(f"no such key: '{field}'") from None
    if isinstance(m, Mapping):
        if field in m:
            return m[field]
        raise CelError(f"no such key: '{field}'")
    raise CelError(f"type '{kind(m)}' does not support field selection ('.{field}')")


def has_field(m: Any, field: str) -> bool:
    if isinstance(m, Mapping):
        return field in m
    raise CelError(f"type '{kind(m)}' does not support field selection (has(.{field}))")


def cel_size(v: Any) -> int:
    k = kind(v)
    if k in ("string", "bytes", "list", "map"):
        return len(v)
    _no_overload("size", v)


def iter_range(v: Any) -> Any:
    k = kind(v)
    if k == "list" or k == "map":
        return v
    raise CelError(f"cannot iterate over a value of type '{k}'")


# --------------------------------------------------------------------------------------------
# Strings


def str_contains(s: Any, sub: Any) -> bool:
    if type(s) is str and type(sub) is str:
        return sub in s
    _no_overload("contains", s, sub)


def str_starts(s: Any, p: Any) -> bool:
    if type(s) is str and type(p) is str:
        return s.startswith(p)
    _no_overload("startsWith", s, p)


def str_ends(s: Any, p: Any) -> bool:
    if type(s) is str and type(p) is str:
        return s.endswith(p)
    _no_overload("endsWith", s, p)


@lru_cache(maxsize=512)
def compile_regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise CelError(f"invalid regular expression {pattern!r}: {e}") from None


def str_matches(s: Any, pattern: Any) -> bool:
    if type(s) is str and type(pattern) is str:
        return compile_regex(pattern).search(s) is not None
    _no_overload("matches", s, pattern)


# --------------------------------------------------------------------------------------------
# Timestamps and durations

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=4096)
def parse_timestamp(s: str) -> datetime:
    """RFC 3339 (``2023-01-01T00:00:00Z``, ``2024-10-03T07:16:28.068632-07:00``) -> UTC.

    Fractional seconds beyond microseconds are truncated (Python datetimes have no nanos)."""
    text = s.strip()
    if _RFC3339.fullmatch(text) is None:
        raise CelError(f"invalid timestamp {s!r} (expected RFC 3339)")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise CelError(f"invalid timestamp {s!r}") from None
    if dt.tzinfo is not UTC:
        try:
            dt = dt.astimezone(UTC)
        except OverflowError:
            raise CelError(f"invalid timestamp {s!r} (out of range)") from None
    return dt


def normalize_datetime(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_timestamp(dt: datetime) -> str:
    dt = dt.astimezone(UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += ("." + f"{dt.microsecond:06d}").rstrip("0")
    return text + "Z"


_DURATION_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5
    "μs": 1_000,  # U+03BC
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?([a-zµμ]+)")


def parse_duration(s: str) -> timedelta:
    """Go ``time.ParseDuration`` syntax: ``1h30m``, ``10s``, ``1.5h``, ``-300ms``."""
    text = s.strip()
    orig = text
    neg = False
    if text[:1] in ("+", "-"):
        neg = text[0] == "-"
        text = text[1:]
    if text == "0":
        return timedelta(0)
    if not text:
        raise CelError(f"invalid duration {orig!r}")
    total = Decimal(0)
    pos = 0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if m is None or (not m.group(1) and not m.group(2)):
            raise CelError(f"invalid duration {orig!r}")
        unit = _DURATION_UNITS_NS.get(m.group(3))
        if unit is None:
            raise CelError(f"invalid duration {orig!r} (unknown unit {m.group(3)!r})")
        number = Decimal((m.group(1) or "0") + "." + (m.group(2) or "0"))
        total += number * unit
        pos = m.end()
    ns = int(total)
    if ns > INT_MAX:
        raise CelError(f"invalid duration {orig!r} (out of range)")
    micro = ns // 1000
    return timedelta(microseconds=-micro if neg else micro)


def total_micros(d: timedelta) -> int:
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def format_duration(d: timedelta) -> str:
    us = total_micros(d)
    text = format(Decimal(us) / Decimal(1_000_000), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + "s"


@lru_cache(maxsize=256)
def zone(name: str) -> tzinfo:
    """A CEL timezone argument: an IANA name (``America/Los_Angeles``) or ``[+-]HH:MM``."""
    m = re.fullmatch(r"([+-])?(\d{1,2}):(\d{2})", name)
    if m:
        off = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return timezone(-off if m.group(1) == "-" else off)
    if name in ("UTC", "Z", "utc"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CelError(f"unknown timezone {name!r}") from None


def _in_zone(t: Any, tz: Any) -> datetime:
    if type(t) is not datetime:
        _no_overload("timestamp accessor", t)
    if tz is None:
        return t
    if type(tz) is not str:
        _no_overload("timestamp accessor", t, tz)
    return t.astimezone(zone(tz))


def _trunc_micros(d: timedelta, unit: int) -> int:
    us = total_micros(d)
    q = abs(us) // unit
    return -q if us < 0 else q


def ts_full_year(t: Any, tz: Any = None) -> int:
    return _in_zone(t, tz).year


def ts_month(t: Any, tz: Any = None) -> int:
    return _in_zone(t, tz).month - 1


def ts_date(t: Any, tz: Any = None) -> int:
    return _in_zone(t, tz).day


def ts_day_of_month(t: Any, tz: Any = None) -> int:
    return _in_zone(t, tz).day - 1


def ts_day_of_year(t: Any, tz: Any = None) -> int:
    return _in_zone(t, tz).timetuple().tm_yday - 1


def ts_day_of_week(t: Any, tz: Any = None) -> int:
    return _in_zone(t, tz).isoweekday() % 7


def time_hours(t: Any, tz: Any = None) -> int:
    if type(t) is timedelta and tz is None:
        return _trunc_micros(t, 3_600_000_000)
    return _in_zone(t, tz).hour


def time_minutes(t: Any, tz: Any = None) -> int:
    if type(t) is timedelta and tz is None:
        return _trunc_micros(t, 60_000_000)
    return _in_zone(t, tz).minute


def time_seconds(t: Any, tz: Any = None) -> int:
    if type(t) is timedelta and tz is None:
        return _trunc_micros(t, 1_000_000)
    return _in_zone(t, tz).second


def time_milliseconds(t: Any, tz: Any = None) -> int:
    if type(t) is timedelta and tz is None:
        return _trunc_micros(t, 1_000)
    return _in_zone(t, tz).microsecond // 1000


# --------------------------------------------------------------------------------------------
# IP addresses (SpiceDB's ``ipaddress`` extension)


@lru_cache(maxsize=1024)
def parse_cidr(cidr: str) -> IPv4Network | IPv6Network:
    """Go's ``netip.ParsePrefix``: ``addr/bits`` (host bits may be set)."""
    if "/" not in cidr:
        raise CelError(f"invalid CIDR {cidr!r}")
    try:
        return ip_network(cidr, strict=False)
    except ValueError:
        raise CelError(f"invalid CIDR {cidr!r}") from None


@lru_cache(maxsize=1024)
def cidr_matcher(cidr: str) -> Callable[[Any], bool]:
    """A fast membership test for one CIDR: compares the masked address bits directly."""
    net = parse_cidr(cidr)
    addr_type = IPv4Address if net.version == 4 else IPv6Address
    other_type = IPv6Address if net.version == 4 else IPv4Address
    mask = int(net.netmask)
    prefix = int(net.network_address)

    def match(ip: Any) -> bool:
        t = type(ip)
        if t is addr_type:
            return (int(ip) & mask) == prefix
        if t is other_type:  # netip's Prefix.Contains: a different family never matches
            return False
        _no_overload("in_cidr", ip, cidr)

    return match


def in_cidr(ip: Any, cidr: Any) -> bool:
    if type(cidr) is not str:
        _no_overload("in_cidr", ip, cidr)
    return cidr_matcher(cidr)(ip)


@lru_cache(maxsize=4096)
def parse_ip(s: str) -> IPv4Address | IPv6Address:
    try:
        return ip_address(s.strip())
    except ValueError:
        raise CelError(f"invalid IP address {s!r}") from None


# --------------------------------------------------------------------------------------------
# Conversion functions: int() uint() double() string() bytes() bool() timestamp() duration()

_INT_TEXT = re.compile(r"[+-]?\d+")
_UINT_TEXT = re.compile(r"\+?\d+")
_FLOAT_TEXT = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)", re.I)


def to_int(v: Any) -> int:
    k = kind(v)
    if k == "int":
        return _int_range(v)
    if k == "double":
        if math.isnan(v) or not (-9.223372036854775808e18 <= v < 9.223372036854775808e18):
            raise CelError(f"int() out of range: {v!r}")
        return int(v)
    if k == "string":
        if not _INT_TEXT.fullmatch(v):
            raise CelError(f"int() cannot convert {v!r}")
        return _int_range(int(v))
    if k == "timestamp":
        return (v - _EPOCH) // timedelta(seconds=1)  # type: ignore[no-any-return]
    _no_overload("int", v)


def to_uint(v: Any) -> int:
    k = kind(v)
    if k == "int":
        if 0 <= v <= UINT_MAX:
            return v  # type: ignore[no-any-return]
        raise CelError(f"uint() out of range: {v!r}")
    if k == "double":
        if math.isnan(v) or not (0 <= v < 1.8446744073709552e19):
            raise CelError(f"uint() out of range: {v!r}")
        return int(v)
    if k == "string":
        if not _UINT_TEXT.fullmatch(v):
            raise CelError(f"uint() cannot convert {v!r}")
        return _uint_range(int(v))
    _no_overload("uint", v)


def to_double(v: Any) -> float:
    k = kind(v)
    if k == "double":
        return v  # type: ignore[no-any-return]
    if k == "int":
        return float(v)
    if k == "string":
        if not _FLOAT_TEXT.fullmatch(v):
            raise CelError(f"double() cannot convert {v!r}")
        return float(v)
    _no_overload("double", v)


def format_double(x: float) -> str:
    """Go's ``strconv.FormatFloat(x, 'g', -1, 64)``, which CEL's ``string(double)`` uses."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    sign, digits, exp = Decimal(repr(x)).normalize().as_tuple()
    ds = "".join(str(d) for d in digits)
    assert isinstance(exp, int)
    e10 = len(ds) - 1 + exp  # exponent of the first digit
    prefix = "-" if sign else ""
    if e10 < -4 or e10 >= 21:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{prefix}{mant}e{'-' if e10 < 0 else '+'}{abs(e10):02d}"
    if e10 >= len(ds) - 1:
        return prefix + ds + "0" * (e10 - len(ds) + 1)
    if e10 >= 0:
        return prefix + ds[: e10 + 1] + "." + ds[e10 + 1 :]
    return prefix + "0." + "0" * (-e10 - 1) + ds


def to_string(v: Any) -> str:
    k = kind(v)
    if k == "string":
        return v  # type: ignore[no-any-return]
    if k == "bool":
        return "true" if v else "false"
    if k == "int":
        return str(v)
    if k == "double":
        return format_double(v)
    if k == "bytes":
        try:
            return v.decode("utf-8")  # type: ignore[no-any-return]
        except UnicodeDecodeError:
            raise CelError("string() of bytes that are not valid UTF-8") from None
    if k == "timestamp":
        return format_timestamp(v)
    if k == "duration":
        return format_duration(v)
    if k == "ipaddress":
        return str(v)
    _no_overload("string", v)


def to_bytes(v: Any) -> bytes:
    k = kind(v)
    if k == "bytes":
        return v  # type: ignore[no-any-return]
    if k == "string":
        return v.encode("utf-8")  # type: ignore[no-any-return]
    _no_overload("bytes", v)


_BOOL_TEXT = {
    "1": True,
    "t": True,
    "T": True,
    "true": True,
    "TRUE": True,
    "True": True,
    "0": False,
    "f": False,
    "F": False,
    "false": False,
    "FALSE": False,
    "False": False,
}


def to_bool(v: Any) -> bool:
    if v is True or v is False:
        return v
    if type(v) is str:
        b = _BOOL_TEXT.get(v)
        if b is None:
            raise CelError(f"bool() cannot convert {v!r}")
        return b
    _no_overload("bool", v)


_TS_MIN = datetime(1, 1, 1, tzinfo=UTC)


def to_timestamp(v: Any) -> datetime:
    k = kind(v)
    if k == "timestamp":
        return v  # type: ignore[no-any-return]
    if k == "string":
        return parse_timestamp(v)
    if k == "int":
        try:
            return _EPOCH + timedelta(seconds=v)
        except OverflowError:
            raise CelError(f"timestamp() out of range: {v}") from None
    _no_overload("timestamp", v)


def to_duration(v: Any) -> timedelta:
    k = kind(v)
    if k == "duration":
        return v  # type: ignore[no-any-return]
    if k == "string":
        return parse_duration(v)
    _no_overload("duration", v)


def identity(v: Any) -> Any:
    return v
