"""Static API keys: single-factor credentials for low-risk workloads.

An API key is a long random secret sent as ``authorization: Bearer rbk_...``. The server keeps
only its SHA-256 (the keys are 256-bit random values, so a fast hash is not brute-forceable; a
password hash would only slow every call down) and compares the hash of what it receives with
every configured hash in constant time, so timing tells nothing about which key nearly
matched. Each key maps to a principal with scopes and stores, and can never reach the admin
listener or satisfy step-up (see :mod:`server.auth.grants`).

Mint one with ``rebac token api-key --id NAME --sub SUB --scope ... --store ...``: it prints the
key once and the entry to add to the keys file (``[[key]]`` with ``id``, ``sha256``, ``sub``,
``scopes``, ``stores``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from server.auth.grants import Grant, GrantError, grant_of, read_entries
from server.auth.principal import Principal

PREFIX = "rbk_"
_HEX64 = re.compile(r"[0-9a-f]{64}")
MIN_KEY_LENGTH = 32


def new_key() -> str:
    """A fresh API key (the caller shows it once; only :func:`digest` of it is stored)."""
    return PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def looks_like_key(value: str) -> bool:
    return value.startswith(PREFIX)


@dataclass(frozen=True, slots=True)
class _Entry:
    key_id: str
    digest: bytes
    grant: Grant


class ApiKeys:
    """The configured keys; :meth:`authenticate` returns the principal of a matching key."""

    def __init__(self, entries: list[_Entry]):
        self._entries = entries

    @classmethod
    def load(cls, path: Path) -> ApiKeys:
        entries: list[_Entry] = []
        seen: set[str] = set()
        for n, raw in enumerate(read_entries(path, "key")):
            where = f"{path} key {n}"
            key_id, hexdigest = raw.get("id"), raw.get("sha256")
            if not isinstance(key_id, str) or not key_id or key_id in seen:
                raise GrantError(f"{where}: id is required and must be unique")
            if not isinstance(hexdigest, str) or not _HEX64.fullmatch(hexdigest):
                raise GrantError(f"{where}: sha256 must be 64 lowercase hex digits")
            seen.add(key_id)
            entries.append(_Entry(key_id, bytes.fromhex(hexdigest), grant_of(raw, where)))
        return cls(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def authenticate(self, presented: str) -> Principal | None:
        """Compare against every entry (no early exit), then build the principal."""
        if len(presented) < MIN_KEY_LENGTH or len(presented) > 512:
            return None
        wanted = digest(presented)
        found: _Entry | None = None
        for entry in self._entries:
            if hmac.compare_digest(entry.digest, wanted):
                found = entry
        if found is None:
            return None
        g = found.grant
        return Principal(
            sub=g.sub,
            iss="api-key",
            method="api_key",
            scopes=g.scopes,
            stores=g.stores,
            credential_id=found.key_id,
        )
