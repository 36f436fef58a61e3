"""Static grants: principals configured in a file rather than minted by an identity provider.

Used by API keys and client-certificate identities. A file is TOML or JSON holding a list of
entries (``[[key]]`` / ``[[client]]`` tables); each names the principal (``sub``), its
``scopes`` and ``stores``. Scopes that control the schema or stores are refused here: those
actions need a token with a recent multi-factor user authentication on the admin listener,
which a static credential can never show.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.auth.scopes import ADMIN, ALL_SCOPES, SCHEMA_WRITE

FORBIDDEN_STATIC_SCOPES = (SCHEMA_WRITE, ADMIN)


class GrantError(ValueError):
    """A grants file that cannot be used; ``str()`` names the file and entry."""


@dataclass(frozen=True, slots=True)
class Grant:
    sub: str
    scopes: frozenset[str]
    stores: frozenset[str]


def read_entries(path: Path, table: str) -> list[dict[str, Any]]:
    """The ``table`` entries of a TOML or JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GrantError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise GrantError(f"{path} does not parse: {exc}") from None
    entries = data.get(table) if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise GrantError(f"{path}: expected a list of [[{table}]] entries")
    return entries


def _string_list(entry: dict[str, Any], name: str, where: str) -> frozenset[str]:
    value = entry.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise GrantError(f"{where}: {name} must be a list of strings")
    return frozenset(value)


def grant_of(entry: dict[str, Any], where: str) -> Grant:
    sub = entry.get("sub")
    if not isinstance(sub, str) or not sub:
        raise GrantError(f"{where}: sub is required")
    scopes = _string_list(entry, "scopes", where)
    unknown = sorted(scopes - set(ALL_SCOPES))
    if unknown:
        raise GrantError(f"{where}: unknown scopes {unknown}")
    forbidden = sorted(scopes & set(FORBIDDEN_STATIC_SCOPES))
    if forbidden:
        raise GrantError(
            f"{where}: {forbidden} cannot be granted to a static credential (admin actions "
            "need a token with step-up authentication)"
        )
    return Grant(sub, scopes, _string_list(entry, "stores", where))
