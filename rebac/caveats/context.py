"""Conversion of JSON-ish caveat context values into typed run-time values.

Input values come from ``json.loads`` or a protobuf ``Struct`` (whose numbers are all floats
and whose nested values are ``Struct`` / ``ListValue``). Each declared parameter type gets one
converter function, built once per caveat.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from rebac.schema.ast import CaveatType

from . import runtime as rt

Converter = Callable[[Any], Any]


class ConversionError(Exception):
    """``value`` (a part of the parameter's value) is not a valid ``expected``."""

    def __init__(self, expected: str, value: Any, detail: str | None = None):
        super().__init__(expected)
        self.expected = expected
        self.value = value
        self.detail = detail


_NUMERIC_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _number(v: Any, expected: str) -> int | float | Decimal:
    """A JSON number, or (as SpiceDB accepts) a decimal number in a string."""
    t = type(v)
    if t is int or t is float:
        return v  # type: ignore[no-any-return]
    if isinstance(v, int | float) and not isinstance(v, bool):
        return v
    if isinstance(v, str) and _NUMERIC_TEXT.fullmatch(v.strip()):
        return Decimal(v.strip())
    raise ConversionError(expected, v)


def _integral(v: Any, expected: str, low: int, high: int) -> int:
    n = _number(v, expected)
    if type(n) is not int:
        if isinstance(n, float) and not math.isfinite(n):
            raise ConversionError(expected, v, "not an integral number")
        if n != int(n):
            raise ConversionError(expected, v, "not an integral number")
        n = int(n)
    if low <= n <= high:
        return int(n)
    if expected == "uint":
        raise ConversionError(expected, v, f"must be between 0 and {high}")
    raise ConversionError(expected, v, "out of the int64 range")


def _conv_int(v: Any) -> int:
    if type(v) is int and rt.INT_MIN <= v <= rt.INT_MAX:
        return v
    return _integral(v, "int", rt.INT_MIN, rt.INT_MAX)


def _conv_uint(v: Any) -> int:
    # SpiceDB gives uint parameters the CEL type int: non-negative int64 values
    if type(v) is int and 0 <= v <= rt.INT_MAX:
        return v
    return _integral(v, "uint", 0, rt.INT_MAX)


def _conv_double(v: Any) -> float:
    if type(v) is float:
        return v
    if type(v) is str and v in ("NaN", "Infinity", "-Infinity"):  # protobuf JSON spellings
        return float(v.replace("Infinity", "inf"))
    n = _number(v, "double")
    try:
        return float(n)
    except OverflowError:
        raise ConversionError("double", v, "out of range") from None


def _conv_bool(v: Any) -> bool:
    if v is True or v is False:
        return v
    raise ConversionError("bool", v)


def _conv_string(v: Any) -> str:
    if type(v) is str:
        return v
    if isinstance(v, str):
        return str(v)
    raise ConversionError("string", v)


def _conv_bytes(v: Any) -> bytes:
    if isinstance(v, bytes | bytearray):
        return bytes(v)
    if isinstance(v, str):
        s = v.strip().replace("-", "+").replace("_", "/")
        s += "=" * (-len(s) % 4)
        try:
            return base64.b64decode(s, validate=True)
        except (binascii.Error, ValueError):
            raise ConversionError("bytes", v, "not valid base64") from None
    raise ConversionError("bytes", v)


def _conv_timestamp(v: Any) -> datetime:
    if isinstance(v, datetime):
        return rt.normalize_datetime(v)
    if isinstance(v, str):
        try:
            return rt.parse_timestamp(v)
        except rt.CelError:
            raise ConversionError("timestamp", v, "expected an RFC 3339 timestamp") from None
    raise ConversionError("timestamp", v)


def _conv_duration(v: Any) -> timedelta:
    if isinstance(v, timedelta):
        return v
    if isinstance(v, str):
        try:
            return rt.parse_duration(v)
        except rt.CelError:
            raise ConversionError("duration", v, 'expected a duration such as "1h30m"') from None
    raise ConversionError("duration", v)


def _conv_ip(v: Any) -> IPv4Address | IPv6Address:
    if isinstance(v, IPv4Address | IPv6Address):
        return v
    if isinstance(v, str):
        try:
            return rt.parse_ip(v)
        except rt.CelError:
            raise ConversionError("ipaddress", v) from None
    raise ConversionError("ipaddress", v)


_PRIMITIVES = (bool, int, float, str, type(None))


def plain(v: Any) -> Any:
    """A dynamically typed (``any``) value as plain JSON-like Python data: protobuf ``Struct``
    and ``ListValue`` (and other mappings/sequences) become ``dict`` / ``list``."""
    t = type(v)
    if t in _PRIMITIVES:
        return v
    if t is dict:
        if all(type(x) in _PRIMITIVES for x in v.values()):
            return v
        return {k: plain(x) for k, x in v.items()}
    if t is list:
        if all(type(x) in _PRIMITIVES for x in v):
            return v
        return [plain(x) for x in v]
    if isinstance(v, Mapping):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, Sequence) and not isinstance(v, str | bytes | bytearray):
        return [plain(x) for x in v]
    return v


def _conv_any(v: Any) -> Any:
    return plain(v)


_SCALAR_CONVERTERS: dict[str, Converter] = {
    "int": _conv_int,
    "uint": _conv_uint,
    "double": _conv_double,
    "bool": _conv_bool,
    "string": _conv_string,
    "bytes": _conv_bytes,
    "timestamp": _conv_timestamp,
    "duration": _conv_duration,
    "ipaddress": _conv_ip,
    "any": _conv_any,
}


def _all_str(v: list[Any]) -> bool:
    return all(type(x) is str for x in v)


def _all_bool(v: list[Any]) -> bool:
    return all(type(x) is bool for x in v)


def _all_float(v: list[Any]) -> bool:
    return all(type(x) is float for x in v)


def _all_int(v: list[Any]) -> bool:
    return all(type(x) is int and rt.INT_MIN <= x <= rt.INT_MAX for x in v)


def _all_uint(v: list[Any]) -> bool:
    return all(type(x) is int and 0 <= x <= rt.INT_MAX for x in v)


# element types whose correctly typed values convert to themselves
_EXACT_ELEMENT: dict[str, Callable[[list[Any]], bool]] = {
    "string": _all_str,
    "bool": _all_bool,
    "double": _all_float,
    "int": _all_int,
    "uint": _all_uint,
}


def converter_for(t: CaveatType) -> Converter:
    """The converter for a declared parameter type (``list<T>``, ``map<T>`` recurse)."""
    if not t.args and t.name in _SCALAR_CONVERTERS:
        return _SCALAR_CONVERTERS[t.name]
    expected = str(t)
    if t.name == "list" and len(t.args) == 1:
        elem = converter_for(t.args[0])

        exact = _EXACT_ELEMENT.get(str(t.args[0]))

        def conv_list(v: Any) -> list[Any]:
            if type(v) is list and exact is not None and exact(v):
                return v  # already the right types: no copy
            if isinstance(v, str | bytes | bytearray | Mapping) or not isinstance(v, Sequence):
                raise ConversionError(expected, v)
            try:
                return [elem(x) for x in v]
            except ConversionError as e:
                raise ConversionError(expected, v, _element_detail(e)) from None

        return conv_list
    if t.name == "map" and len(t.args) == 1:
        val = converter_for(t.args[0])

        def conv_map(v: Any) -> dict[str, Any]:
            if not isinstance(v, Mapping):
                raise ConversionError(expected, v)
            out: dict[str, Any] = {}
            for k, x in v.items():
                if not isinstance(k, str):
                    raise ConversionError(expected, v, f"key {k!r} is not a string")
                try:
                    out[k] = val(x)
                except ConversionError as e:
                    raise ConversionError(
                        expected, v, f"value of key {k!r}: {_element_detail(e)}"
                    ) from None
            return out

        return conv_map
    raise ValueError(f"unsupported caveat parameter type {t}")


def _element_detail(e: ConversionError) -> str:
    text = f"element {_short(e.value)} is not a valid {e.expected}"
    if e.detail:
        text += f" ({e.detail})"
    return text


def _short(v: Any, limit: int = 120) -> str:
    text = repr(v)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def conversion_message(caveat: str, param: str, e: ConversionError, raw: Any) -> str:
    msg = f"caveat '{caveat}': parameter '{param}' expects {e.expected}, got {_short(raw)}"
    if e.detail:
        msg += f" ({e.detail})"
    return msg
