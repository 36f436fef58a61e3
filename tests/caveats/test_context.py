"""convert_context: JSON-ish values -> typed values, and its errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import pytest

from rebac.errors import InvalidCaveatContext

from .helpers import mk


@pytest.mark.parametrize(
    ("ptype", "raw", "expected"),
    [
        ("int", 42, 42),
        ("int", 42.0, 42),
        ("int", -7, -7),
        ("int", 9223372036854775807, 9223372036854775807),
        ("uint", 3, 3),
        ("uint", 3.0, 3),
        ("uint", 9223372036854775807, 9223372036854775807),
        ("int", "42", 42),  # SpiceDB also accepts numbers in strings
        ("int", "-4.0", -4),
        ("uint", "7", 7),
        ("double", "1.5", 1.5),
        ("double", "1e3", 1000.0),
        ("double", 1, 1.0),
        ("double", 1.5, 1.5),
        ("bool", True, True),
        ("string", "hi", "hi"),
        ("bytes", "aGk=", b"hi"),
        ("bytes", "aGk", b"hi"),  # unpadded
        ("bytes", "_-8=", b"\xff\xef"),  # URL-safe alphabet
        ("timestamp", "2023-01-01T00:00:00Z", datetime(2023, 1, 1, tzinfo=UTC)),
        ("timestamp", "2023-01-01T00:00:00-07:00", datetime(2023, 1, 1, 7, tzinfo=UTC)),
        (
            "timestamp",
            "2024-10-03T07:16:28.068632-07:00",
            datetime(2024, 10, 3, 14, 16, 28, 68632, tzinfo=UTC),
        ),
        (
            "timestamp",
            "2024-10-03T14:16:30.776734123Z",
            datetime(2024, 10, 3, 14, 16, 30, 776734, tzinfo=UTC),
        ),
        ("duration", "1h30m", timedelta(minutes=90)),
        ("duration", "10s", timedelta(seconds=10)),
        ("duration", "1.5s", timedelta(seconds=1.5)),
        ("duration", "-2m", timedelta(minutes=-2)),
        ("duration", "300ms", timedelta(milliseconds=300)),
        ("duration", "0", timedelta(0)),
        ("ipaddress", "10.0.0.1", IPv4Address("10.0.0.1")),
        ("ipaddress", "2001:db8::1", IPv6Address("2001:db8::1")),
        ("list<int>", [1, 2.0], [1, 2]),
        ("list<string>", [], []),
        ("list<list<int>>", [[1], []], [[1], []]),
        ("map<int>", {"a": 1.0}, {"a": 1}),
        ("map<any>", {"foo": 42, "bar": [1, {"x": None}]}, {"foo": 42, "bar": [1, {"x": None}]}),
        ("any", {"a": [1, "b"]}, {"a": [1, "b"]}),
        ("any", None, None),
        ("list<timestamp>", ["2023-01-01T00:00:00Z"], [datetime(2023, 1, 1, tzinfo=UTC)]),
    ],
)
def test_conversions(ptype: str, raw: Any, expected: Any) -> None:
    c = mk("true", p=ptype)
    out = c.convert_context({"p": raw})
    assert out == {"p": expected}
    assert type(out["p"]) is type(expected)


def test_already_typed_values_pass_through() -> None:
    c = mk("true", t="timestamp", d="duration", ip="ipaddress")
    now = datetime(2024, 1, 1, tzinfo=UTC)
    ctx = c.convert_context({"t": now, "d": timedelta(seconds=1), "ip": IPv4Address("1.2.3.4")})
    assert ctx == {"t": now, "d": timedelta(seconds=1), "ip": IPv4Address("1.2.3.4")}


def test_unknown_keys_dropped_and_none_context() -> None:
    c = mk("a == 1", a="int")
    assert c.convert_context({"a": 1, "zzz": "whatever"}) == {"a": 1}
    assert c.convert_context(None) == {}
    assert c.convert_context({}) == {}


def test_protobuf_struct_context() -> None:
    struct_pb2 = pytest.importorskip("google.protobuf.struct_pb2")
    s = struct_pb2.Struct()
    s.update({"n": 42, "xs": [1, 2], "m": {"a": {"b": [True]}}, "ip": "10.0.0.1"})
    c = mk(
        "n == 42 && xs[1] == 2 && m.a.b[0] && ip.in_cidr('10.0.0.0/8')",
        n="int",
        xs="list<uint>",
        m="map<any>",
        ip="ipaddress",
    )
    ctx = c.convert_context(s)
    assert ctx["n"] == 42 and type(ctx["n"]) is int
    assert ctx["m"] == {"a": {"b": [True]}} and type(ctx["m"]["a"]) is dict
    assert c.evaluate(ctx) is True


@pytest.mark.parametrize(
    ("ptype", "raw", "fragment"),
    [
        ("ipaddress", "notanip", "parameter 'p' expects ipaddress, got 'notanip'"),
        ("int", "4x2", "expects int, got '4x2'"),
        ("int", "", "expects int"),
        ("int", 4.5, "expects int, got 4.5 (not an integral number)"),
        ("int", True, "expects int, got True"),
        ("int", 2**63, "out of the int64 range"),
        ("int", None, "expects int, got None"),
        ("uint", -1, "expects uint, got -1"),
        ("uint", "-1", "expects uint, got '-1'"),
        ("uint", 2**63, "must be between 0 and 9223372036854775807"),
        ("int", float("inf"), "not an integral number"),
        ("double", "abc", "expects double"),
        ("double", [1.5], "expects double"),
        ("bool", 1, "expects bool, got 1"),
        ("string", 5, "expects string, got 5"),
        ("bytes", "***", "expects bytes"),
        ("timestamp", "2023-01-01", "expects timestamp, got '2023-01-01'"),
        ("timestamp", "yesterday", "RFC 3339"),
        ("timestamp", 1700000000, "expects timestamp"),
        ("duration", "1 hour", "expects duration, got '1 hour'"),
        ("duration", 10, "expects duration"),
        ("list<int>", [1, "x"], "expects list<int>, got [1, 'x'] (element 'x' is not a valid int)"),
        ("list<int>", "1,2", "expects list<int>"),
        ("list<int>", {"a": 1}, "expects list<int>"),
        ("map<int>", {"a": "b"}, "expects map<int>"),
        ("map<int>", [1], "expects map<int>"),
    ],
)
def test_conversion_errors(ptype: str, raw: Any, fragment: str) -> None:
    c = mk("true", p=ptype)
    with pytest.raises(InvalidCaveatContext) as info:
        c.convert_context({"p": raw})
    assert fragment in str(info.value)
    assert str(info.value).startswith("caveat 'c': parameter 'p'")
    assert info.value.reason == "ERROR_REASON_CAVEAT_PARAMETER_TYPE_ERROR"


def test_error_message_format() -> None:
    from rebac.caveats import compile_caveat

    from .helpers import make_caveat

    c = compile_caveat(
        make_caveat("user_ip.in_cidr('10.0.0.0/8')", {"user_ip": "ipaddress"}, name="ip_allowlist")
    )
    with pytest.raises(InvalidCaveatContext) as info:
        c.convert_context({"user_ip": "notanip"})
    assert str(info.value) == (
        "caveat 'ip_allowlist': parameter 'user_ip' expects ipaddress, got 'notanip'"
    )
