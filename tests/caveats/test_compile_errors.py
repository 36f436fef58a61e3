"""compile_caveat errors: SchemaError with the schema line/column and the offending token."""

from __future__ import annotations

import pytest

from rebac.caveats import compile_caveat
from rebac.errors import SchemaError
from rebac.schema.ast import Caveat, CaveatParameter, CaveatType, Position

from .helpers import make_caveat


def compile_error(
    expression: str, params: dict[str, str] | None = None, pos: Position | None = None
) -> SchemaError:
    with pytest.raises(SchemaError) as info:
        compile_caveat(make_caveat(expression, params, name="cav", pos=pos))
    return info.value


@pytest.mark.parametrize(
    ("expr", "params", "fragment", "column"),
    [
        ("something == 1", {}, "unknown identifier 'something'", 1),
        ("a == 1 && b == 2", {"a": "int"}, "unknown identifier 'b'", 11),
        ("a == 'x'", {"a": "int"}, "'==' cannot compare int with string", 3),
        ("a == 42u", {"a": "uint"}, "'==' cannot compare int with uint", 3),
        ("a < 1.0", {"a": "int"}, "no operator '<' for int and double", 3),
        ("a + 1", {"a": "int"}, "must evaluate to bool, got int", 1),
        ("a", {"a": "string"}, "must evaluate to bool, got string", 1),
        ("a && true", {"a": "int"}, "'&&' expects bool operands, left side is int", 3),
        ("!a", {"a": "int"}, "'!' expects bool, got int", 1),
        ("-a == 'x'", {"a": "string"}, "'-' cannot negate string", 1),
        ("-1u == 1u", {}, "'-' cannot negate uint", 1),
        ("dyn(true)", {}, "must evaluate to bool, got dyn", 1),
        ("v", {"v": "any"}, "must evaluate to bool, got dyn", 1),
        ("m.flag", {"m": "map<bool>"}, "", 1),
        ("a.foo == 1", {"a": "int"}, "does not support field selection ('.foo')", 3),
        ("a['k'] == 1", {"a": "list<int>"}, "list index must be int, got string", 2),
        ("a[1] == 1", {"a": "map<int>"}, "map key must be string, got int", 2),
        ("a.startsWith(1)", {"a": "string"}, "expects a string argument, got int", 3),
        ("a.frobnicate()", {"a": "string"}, "unknown method 'frobnicate' on string", 3),
        ("a.contains('x')", {"a": "int"}, "unknown method 'contains' on int", 3),
        ("a.in_cidr('10.0.0.0/8')", {"a": "string"}, "unknown method 'in_cidr' on string", 3),
        ("a.in_cidr('bogus')", {"a": "ipaddress"}, "invalid CIDR 'bogus'", 11),
        ("a.getHours('Mars/Base')", {"a": "timestamp"}, "unknown timezone 'Mars/Base'", 12),
        ("frob(a)", {"a": "int"}, "unknown function 'frob'", 1),
        ("startsWith(a, 'x')", {"a": "string"}, "'startsWith' is a method", 1),
        ("size(a) == 1", {"a": "int"}, "size() is not defined for int", 1),
        ("int(a) == 1", {"a": "list<int>"}, "no conversion int() from list<int>", 1),
        ("a.all(x, x)", {"a": "list<int>"}, "predicate of 'all' must be bool, got int", 3),
        ("a.all(x, x > 0)", {"a": "int"}, "'all' needs a list or map, got int", 3),
        ("a ? 1 : 'x'", {"a": "bool"}, "'?:' branches have types int and string", 3),
        ("'x' in a", {"a": "list<int>"}, "no operator 'in' for string and list<int>", 5),
        ("a.matches('(')", {"a": "string"}, "invalid regular expression", 11),
        ("9223372036854775808 > 0", {}, "integer literal out of range", 1),
        ("a == 42 `", {"a": "int"}, "syntax error: unexpected character '`'", 9),
        ("a == ", {"a": "int"}, "syntax error: unexpected end of expression", 6),
        ("a = 1", {"a": "int"}, "syntax error: unexpected character '='", 3),
        ("(a == 1", {"a": "int"}, "expected ')'", 8),
        ("'unterminated", {}, "unterminated string literal", 1),
        ("'\\q' == 'q'", {}, "invalid escape sequence", 2),
        ("a?.b", {"a": "map<any>"}, "'?.' is not supported", 2),
        ("if == 1", {}, "reserved identifier 'if'", 1),
        ("has(a)", {"a": "map<any>"}, "has() takes a single field selection", 1),
        ("{'a': 1, 'a': 2}.a == 1", {}, "duplicate map key 'a'", 10),
        ("", {}, "empty caveat expression", 1),
    ],
)
def test_compile_errors(expr: str, params: dict[str, str], fragment: str, column: int) -> None:
    if not fragment:  # a valid expression listed next to its invalid neighbours
        compile_caveat(make_caveat(expr, params))
        return
    err = compile_error(expr, params)
    assert fragment in err.message, err.message
    assert err.message.startswith("caveat 'cav': ")
    assert (err.line, err.column) == (1, column), (err.line, err.column)


def test_positions_are_schema_positions() -> None:
    # the expression starts at line 5, column 3 of the schema
    err = compile_error(
        "somecondition == 42 &&\n    other == 1", {"somecondition": "int"}, Position(5, 3)
    )
    assert (err.line, err.column) == (6, 5)
    assert "'other'" in err.message
    err = compile_error("x == 'a'", {"x": "int"}, Position(2, 7))
    assert (err.line, err.column) == (2, 9)
    assert "line 2, column 9" in str(err)


def test_unknown_parameter_type() -> None:
    caveat = Caveat(
        "cav",
        (CaveatParameter("p", CaveatType("float"), pos=Position(3, 12)),),
        "true",
    )
    with pytest.raises(SchemaError) as info:
        compile_caveat(caveat)
    assert "unknown type 'float'" in info.value.message
    assert (info.value.line, info.value.column) == (3, 12)


def test_expression_size_limit() -> None:
    err = compile_error("true || " * 12_500 + "true")
    assert "maximum size of 100000 characters" in err.message


def test_deep_nesting_is_a_schema_error() -> None:
    err = compile_error("(" * 300 + "true" + ")" * 300)
    assert "nested too deeply" in err.message
    err = compile_error("!" * 1000 + "true")
    assert "nested too deeply" in err.message
    err = compile_error(" + ".join(["a"] * 300) + " > 0", {"a": "int"})
    assert "nested too deeply" in err.message


def test_long_logical_chains_are_flat() -> None:
    from .helpers import mk

    c = mk(" && ".join(f"a != {i}" for i in range(2000)), a="int")
    assert c.evaluate({"a": 5000}) is True
    assert c.evaluate({"a": 1999}) is False
    assert c.evaluate({}) == frozenset({"a"})
    d = mk(" || ".join(f"ip.in_cidr('10.{i}.0.0/16')" for i in range(200)), ip="ipaddress")
    assert d.evaluate(d.convert_context({"ip": "10.199.3.4"})) is True
    assert d.evaluate(d.convert_context({"ip": "11.0.0.1"})) is False


def test_positions_through_the_schema_parser() -> None:
    from rebac.schema import parse_schema

    schema = parse_schema("definition user {}\n\ncaveat c(a int) {\n\ta == 1 &&\n\t  b == 2\n}\n")
    with pytest.raises(SchemaError) as info:
        compile_caveat(schema.caveats[0])
    assert "unknown identifier 'b'" in info.value.message
    assert (info.value.line, info.value.column) == (5, 4)
