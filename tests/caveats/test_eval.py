"""Evaluation semantics: CEL operators, functions, macros, unknowns and errors."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from rebac.caveats import CaveatEvaluationError

from .helpers import mk, run

# ---------------------------------------------------------------------------------------------
# constant expressions (no parameters): literals, operators, functions


@pytest.mark.parametrize(
    "expr",
    [
        "true",
        "!false",
        "1 + 2 == 3",
        "7 / 2 == 3",
        "-7 / 2 == -3",  # truncation toward zero
        "-7 % 3 == -1",
        "7 % -3 == 1",
        "2 * 3 - 1 == 5",
        "1 + 2 * 3 == 7",
        "(1 + 2) * 3 == 9",
        "-(-3) == 3",
        "- -3 == 3",
        "!!true",
        "0x10 == 16",
        "1u + 2u == 3u",
        "0xFFu == 255u",
        "1.5 + 1.5 == 3.0",
        "1e3 == 1000.0",
        ".5 == 0.5",
        "1.0 / 0.0 > 1e308",
        "-9223372036854775808 < 0",
        "9223372036854775807 > 0",
        "'a' + 'b' == 'ab'",
        '"abc" < "abd"',
        "'\\x41\\u0042\\103' == 'ABC'",
        "'\\n'.size() == 1",
        "r'\\n'.size() == 2",
        "'''multi\nline''' == 'multi\\nline'",
        "size('一级') == 2",
        "size(b'\\xff\\x00') == 2",
        "b'abc' == bytes('abc')",
        "b'\\xe4\\xb8\\x80' == bytes('一')",
        "null == null",
        "[1, 2] == [1, 2]",
        "[1, 2] != [2, 1]",
        "[1, 2] + [3] == [1, 2, 3]",
        "size([1, 2, 3]) == 3",
        "[1, 2, 3].size() == 3",
        "[1, 2, 3][1] == 2",
        "2 in [1, 2, 3]",
        "!(4 in [1, 2, 3])",
        "{'a': 1}['a'] == 1",
        "{'a': 1}.a == 1",
        "'a' in {'a': 1}",
        "has({'a': 1}.a)",
        "!has({'a': 1}.b)",
        "{'a': 1, 'b': 2} == {'b': 2, 'a': 1}",
        "size({'a': 1, 'b': 2}) == 2",
        "[1, 'a'] == [1, 'a']",
        "true ? 1 == 1 : false",
        "false ? false : true",
        "'hello world'.contains('o w')",
        "'hello'.startsWith('he')",
        "'hello'.endsWith('llo')",
        "'hello'.matches('^h.*o$')",
        "'hello'.matches('ell')",  # unanchored, like RE2 MatchString
        "matches('hello', 'l+')",
        "int('42') == 42",
        "int(3.9) == 3",
        "int(-3.9) == -3",
        "uint(42) == 42u",
        "double(2) == 2.0",
        "string(42) == '42'",
        "string(1.5) == '1.5'",
        "string(100.0) == '100'",
        "string(1e21) == '1e+21'",
        "string(true) == 'true'",
        "string(b'hi') == 'hi'",
        "bool('true') && !bool('f')",
        "dyn(1) == 1",
        "dyn(1) == 1.0",  # heterogeneous numeric equality
        "dyn(1) != 'a'",
        "dyn(true) != 1",
        "[1, 2, 3].all(x, x > 0)",
        "[1, 2, 3].exists(x, x == 2)",
        "[1, 2, 3].exists_one(x, x > 2)",
        "![1, 2, 3].exists_one(x, x > 1)",
        "[1, 2, 3].map(x, x * 2) == [2, 4, 6]",
        "[1, 2, 3].map(x, x > 1, x * 10) == [20, 30]",
        "[1, 2, 3].filter(x, x % 2 == 1) == [1, 3]",
        "{'a': 1, 'b': 2}.all(k, k in ['a', 'b'])",
        "{'a': 1, 'b': 2}.exists(k, k == 'b')",
        "[].all(x, x > 0)",
        "![].exists(x, x > 0)",
        "[[1, 2], [3]].all(l, l.all(x, x > 0))",
        "[1, 2].all(x, [3, 4].all(y, x < y))",
        "timestamp('2023-01-01T00:00:00Z') < timestamp('2023-01-01T00:00:01Z')",
        "timestamp('2023-01-01T00:00:00-07:00') == timestamp('2023-01-01T07:00:00Z')",
        "timestamp('2023-01-01T00:00:00Z') + duration('1h') == timestamp('2023-01-01T01:00:00Z')",
        "timestamp('2023-01-01T01:00:00Z') - timestamp('2023-01-01T00:00:00Z') == duration('1h')",
        "timestamp('2023-01-01T01:00:00Z') - duration('30m') > timestamp('2023-01-01T00:00:00Z')",
        "duration('1h30m') == duration('90m')",
        "duration('1.5h') == duration('5400s')",
        "duration('1h') + duration('1m') > duration('1h')",
        "duration('-1s') < duration('0')",
        "duration('1h30m').getMinutes() == 90",
        "duration('1h30m').getHours() == 1",
        "duration('2500ms').getSeconds() == 2",
        "duration('2500ms').getMilliseconds() == 2500",
        "string(duration('1h')) == '3600s'",
        "string(duration('1500ms')) == '1.5s'",
        "string(timestamp('2023-01-01T00:00:00.500-01:00')) == '2023-01-01T01:00:00.5Z'",
        "int(timestamp('1970-01-01T00:01:00Z')) == 60",
        "timestamp(60) == timestamp('1970-01-01T00:01:00Z')",
        "timestamp('2024-02-29T23:30:00Z').getFullYear() == 2024",
        "timestamp('2024-02-29T23:30:00Z').getMonth() == 1",
        "timestamp('2024-02-29T23:30:00Z').getDate() == 29",
        "timestamp('2024-02-29T23:30:00Z').getDayOfMonth() == 28",
        "timestamp('2024-02-29T23:30:00Z').getDayOfYear() == 59",
        "timestamp('2024-02-29T23:30:00Z').getDayOfWeek() == 4",  # Thursday
        "timestamp('2024-02-29T23:30:00Z').getHours() == 23",
        "timestamp('2024-02-29T23:30:00Z').getMinutes() == 30",
        "timestamp('2024-02-29T23:30:05.250Z').getSeconds() == 5",
        "timestamp('2024-02-29T23:30:05.250Z').getMilliseconds() == 250",
        "timestamp('2024-02-29T23:30:00Z').getHours('+01:00') == 0",
        "timestamp('2024-02-29T23:30:00Z').getDate('+01:00') == 1",
        "timestamp('2024-02-29T23:30:00Z').getHours('-05:30') == 18",
        "timestamp('2024-07-01T12:00:00Z').getHours('America/Los_Angeles') == 5",
        "timestamp('2024-01-01T12:00:00Z').getHours('America/Los_Angeles') == 4",
        "timestamp('2024-01-01T12:00:00Z').getDayOfWeek('Asia/Tokyo') == 1",
        "// comments are allowed\n true",
    ],
)
def test_constant_expressions_are_true(expr: str) -> None:
    assert run(expr) is True, expr


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("1 / 0 == 0", "division by zero"),
        ("1 % 0 == 0", "modulus by zero"),
        ("9223372036854775807 + 1 > 0", "overflow"),
        ("-9223372036854775807 - 2 < 0", "overflow"),
        ("0u - 1u > 0u", "overflow"),
        ("[1][1] == 1", "index out of range"),
        ("[1][-1] == 1", "index out of range"),
        ("{'a': 1}.b == 1", "no such key"),
        ("{'a': 1}['b'] == 1", "no such key"),
        ("int('abc') == 1", "cannot convert"),
        ("int(1e19) == 1", "out of range"),
        ("uint(-1) == 1u", "out of range"),
        ("timestamp('yesterday') < timestamp('2023-01-01T00:00:00Z')", "invalid timestamp"),
        ("duration('forever') > duration('1s')", "invalid duration"),
        ("dyn(1) < 'a'", "no matching overload"),
        ("dyn('a') + 1 == 'a1'", "no matching overload"),
        ("dyn(1).foo == 1", "does not support field selection"),
        ("[1, 0].all(x, 1 / x > 0)", "division by zero"),
        ("[1, 0].exists_one(x, 1 / x > 0)", "division by zero"),
        ("[1, 0].map(x, 1 / x) == [1]", "division by zero"),
        ("dyn(1) || false", "expected bool, got int"),
        ("dyn(1) ? true : false", "expected bool, got int"),
    ],
)
def test_runtime_errors_raise(expr: str, message: str) -> None:
    c = mk(expr)
    with pytest.raises(CaveatEvaluationError) as info:
        c.evaluate({})
    assert info.value.reason == "ERROR_REASON_CAVEAT_EVALUATION_ERROR"
    assert message in str(info.value)
    assert "caveat 'c'" in str(info.value)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # errors are absorbed by && / || when the other side decides, in either order
        ("1 / 0 == 0 || true", True),
        ("true || 1 / 0 == 0", True),
        ("1 / 0 == 0 && false", False),
        ("false && 1 / 0 == 0", False),
        ("{'a': 1}.b == 1 && false", False),
        ("[1, 0].all(x, 1 / x > 0 && false)", False),
        ("[0, 1].exists(x, 1 / x > 0)", True),  # error on 0 absorbed by a later true
        ("[0, 1].all(x, 1 / x > 5)", False),
        ("true ? true : 1 / 0 == 0", True),
    ],
)
def test_errors_absorbed(expr: str, expected: bool) -> None:
    assert run(expr) is expected


# ---------------------------------------------------------------------------------------------
# parameters, unknowns


def test_basic_parameter() -> None:
    c = mk("somecondition == 42", somecondition="int")
    assert c.evaluate({"somecondition": 42}) is True
    assert c.evaluate({"somecondition": 41}) is False
    assert c.evaluate({}) == frozenset({"somecondition"})
    assert c.evaluate({"other": 1}) == frozenset({"somecondition"})


@pytest.mark.parametrize(
    ("ctx", "expected"),
    [
        ({"a": 1, "b": 2}, True),
        ({"a": 0}, False),  # a == 1 false decides &&
        ({"b": 0}, False),  # commutative: b false decides too
        ({"a": 1}, frozenset({"b"})),
        ({"b": 2}, frozenset({"a"})),
        ({}, frozenset({"a", "b"})),
    ],
)
def test_and_with_unknowns(ctx: dict[str, Any], expected: Any) -> None:
    assert mk("a == 1 && b == 2", a="int", b="int").evaluate(ctx) == expected


@pytest.mark.parametrize(
    ("ctx", "expected"),
    [
        ({"a": 1, "b": 0}, True),
        ({"a": 0, "b": 2}, True),
        ({"a": 1}, True),  # true decides ||
        ({"b": 2}, True),  # commutative
        ({"a": 0, "b": 0}, False),
        ({"a": 0}, frozenset({"b"})),
        ({}, frozenset({"a", "b"})),
    ],
)
def test_or_with_unknowns(ctx: dict[str, Any], expected: Any) -> None:
    assert mk("a == 1 || b == 2", a="int", b="int").evaluate(ctx) == expected


def test_not_unknown_is_unknown() -> None:
    c = mk("!flag", flag="bool")
    assert c.evaluate({}) == frozenset({"flag"})
    assert c.evaluate({"flag": True}) is False


def test_unknown_wins_over_error_and_merges() -> None:
    c = mk("1 / zero == 1 || x == 1", zero="int", x="int")
    assert c.evaluate({"zero": 0}) == frozenset({"x"})
    with pytest.raises(CaveatEvaluationError):
        c.evaluate({"zero": 0, "x": 2})
    assert c.evaluate({"zero": 0, "x": 1}) is True
    # strict operators report every missing operand, not only the first
    assert mk("a + b == c", a="int", b="int", c="int").evaluate({"b": 1}) == frozenset({"a", "c"})


def test_ternary_unknown_condition() -> None:
    c = mk("flag ? a == 1 : true", flag="bool", a="int")
    assert c.evaluate({}) == frozenset({"flag"})
    assert c.evaluate({"flag": False}) is True
    assert c.evaluate({"flag": True}) == frozenset({"a"})
    assert c.evaluate({"flag": True, "a": 1}) is True


def test_comprehension_unknowns() -> None:
    c = mk("xs.all(x, x < limit)", xs="list<int>", limit="int")
    assert c.evaluate({"xs": [1, 2]}) == frozenset({"limit"})
    assert c.evaluate({"xs": []}) is True  # the body never runs: nothing is missing
    assert c.evaluate({"limit": 3}) == frozenset({"xs"})
    assert c.evaluate({"xs": [1, 2], "limit": 3}) is True
    e = mk("xs.exists(x, x == 1 || x < limit)", xs="list<int>", limit="int")
    assert e.evaluate({"xs": [5, 1]}) is True  # decided by the second element
    assert e.evaluate({"xs": [5]}) == frozenset({"limit"})


def test_comprehension_variable_shadows_parameter() -> None:
    c = mk("x.all(x, x > 0)", x="list<int>")
    assert c.evaluate({"x": [1, 2]}) is True
    assert c.evaluate({"x": [1, -2]}) is False


def test_map_any_field_access() -> None:
    c = mk("somemap.foo == 42 && somemap.bar < 56", somemap="map<any>")
    assert c.evaluate(c.convert_context({"somemap": {"foo": 41}})) is False
    assert c.evaluate(c.convert_context({"somemap": {"foo": 42, "bar": -2}})) is True
    assert c.evaluate(c.convert_context({"somemap": {"foo": 42, "bar": 56}})) is False
    assert c.evaluate(c.convert_context({"somemap": {"foo": 42.0, "bar": 10.0}})) is True
    assert c.evaluate({}) == frozenset({"somemap"})
    with pytest.raises(CaveatEvaluationError, match="no such key: 'bar'"):
        c.evaluate(c.convert_context({"somemap": {"foo": 42}}))


def test_has_macro_and_nested_maps() -> None:
    c = mk("has(m.a) && has(m.a.b) && m.a.b == 'x'", m="map<any>")
    assert c.evaluate({"m": {"a": {"b": "x"}}}) is True
    assert c.evaluate({"m": {"a": {}}}) is False
    assert c.evaluate({"m": {}}) is False
    assert c.evaluate({}) == frozenset({"m"})


def test_typed_maps_and_lists() -> None:
    c = mk("limits['read'] > 3 && 'admin' in roles", limits="map<int>", roles="list<string>")
    ctx = c.convert_context({"limits": {"read": 5}, "roles": ["user", "admin"]})
    assert c.evaluate(ctx) is True
    assert c.evaluate({"limits": {"read": 5}, "roles": []}) is False


def test_ipaddress() -> None:
    c = mk("user_ip.in_cidr('10.0.0.0/8')", user_ip="ipaddress")
    assert c.evaluate(c.convert_context({"user_ip": "10.2.3.4"})) is True
    assert c.evaluate(c.convert_context({"user_ip": "11.2.3.4"})) is False
    assert c.evaluate(c.convert_context({"user_ip": "::1"})) is False  # other family
    v6 = mk("user_ip.in_cidr('2001:db8::/32')", user_ip="ipaddress")
    assert v6.evaluate(v6.convert_context({"user_ip": "2001:db8::1"})) is True
    dynamic = mk("user_ip.in_cidr(cidr)", user_ip="ipaddress", cidr="string")
    with pytest.raises(CaveatEvaluationError, match="invalid CIDR"):
        dynamic.evaluate(dynamic.convert_context({"user_ip": "1.2.3.4", "cidr": "bogus"}))


def test_timestamp_parameters() -> None:
    c = mk(
        "now - created < duration('24h') && now.getDayOfWeek('Europe/Berlin') != 0",
        now="timestamp",
        created="timestamp",
    )
    ctx = c.convert_context({"now": "2024-03-05T10:00:00+01:00", "created": "2024-03-05T00:00:00Z"})
    assert c.evaluate(ctx) is True
    ctx = c.convert_context({"now": "2024-03-10T10:00:00Z", "created": "2024-03-09T12:00:00Z"})
    assert c.evaluate(ctx) is False  # a Sunday in Berlin


def test_duration_parameter() -> None:
    c = mk("elapsed <= duration('1h30m')", elapsed="duration")
    assert c.evaluate(c.convert_context({"elapsed": "90m"})) is True
    assert c.evaluate(c.convert_context({"elapsed": "1h31m"})) is False


def test_dyn_values() -> None:
    c = mk("v == 1 && v + 1 == 2 && v < 2.5", v="any")
    assert c.evaluate({"v": 1}) is True
    assert c.evaluate({"v": 2}) is False
    assert c.evaluate({"v": "1"}) is False  # '1' == 1 is false, which decides the &&
    with pytest.raises(CaveatEvaluationError, match="no matching overload"):
        mk("v + 1 == 2", v="any").evaluate({"v": "1"})


def test_any_parameter_as_bool() -> None:
    c = mk("v && true", v="any")
    assert c.evaluate({"v": True}) is True
    with pytest.raises(CaveatEvaluationError, match="expected bool, got int"):
        c.evaluate({"v": 3})
    assert mk("v || true", v="any").evaluate({"v": 3}) is True  # error absorbed by ||
    assert mk("v == true", v="any").evaluate({"v": 3}) is False


def test_uint_parameters_are_cel_ints() -> None:
    # SpiceDB declares uint parameters with the CEL type int
    c = mk("count < 10 && count + 1 > limit", count="uint", limit="uint")
    assert c.evaluate(c.convert_context({"count": 3, "limit": 2})) is True
    assert c.evaluate(c.convert_context({"count": 3.0, "limit": "4"})) is False


def test_now_function() -> None:
    c = mk("now() > expires", expires="timestamp")
    assert c.evaluate(c.convert_context({"expires": "2020-01-01T00:00:00Z"})) is True
    assert c.evaluate(c.convert_context({"expires": "2999-01-01T00:00:00Z"})) is False


def test_uint_and_double_parameters() -> None:
    c = mk("count < limit && ratio * 2.0 > 1.0", count="uint", limit="uint", ratio="double")
    assert c.evaluate(c.convert_context({"count": 1, "limit": 2.0, "ratio": 1})) is True
    assert c.evaluate(c.convert_context({"count": 3, "limit": 2, "ratio": 0.75})) is False


def test_bytes_parameter() -> None:
    c = mk("data == b'hi' && size(data) == 2", data="bytes")
    assert c.evaluate(c.convert_context({"data": "aGk="})) is True


def test_evaluate_accepts_any_mapping() -> None:
    from types import MappingProxyType

    c = mk("xs.exists(x, x == n)", xs="list<int>", n="int")
    assert c.evaluate(MappingProxyType({"xs": [1, 2], "n": 2})) is True


def test_evaluate_is_thread_safe() -> None:
    c = mk(
        "xs.all(x, x < limit) && xs.exists(y, y == want)", xs="list<int>", limit="int", want="int"
    )
    errors: list[str] = []

    def worker(k: int) -> None:
        for i in range(300):
            ctx = {"xs": [k, i], "limit": 1000, "want": i}
            if c.evaluate(ctx) is not True:
                errors.append(f"{k}/{i}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_repr_and_parameters() -> None:
    c = mk("a == 1", a="int", b="list<string>")
    assert list(c.parameters) == ["a", "b"]
    assert str(c.parameters["b"]) == "list<string>"
    assert "a == 1" in repr(c)
    with pytest.raises(TypeError):
        c.parameters["x"] = c.parameters["a"]  # type: ignore[index]
