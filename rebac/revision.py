"""Revisions, opaque consistency tokens, cursors and the four consistency modes.

A *revision* is a per-store integer that grows by one with every committed write. Callers never
see it raw: they get an opaque *consistency token* (SpiceDB's ZedToken) and hand it back to ask
for a state at least as fresh as, or exactly equal to, the one they saw. Cursors for paged reads
are tokens too, bound to the query they came from.

Why a MAC and not a checksum: a token carries a revision the server will wait for or read at, so
a client that could forge one could ask for a snapshot the store never had. Tokens are signed
with a secret kept by the datastore (:class:`TokenCodec`), which makes tampering and mixing
tokens between datastores detectable; every such problem raises an error that names it, and is
never silently treated as ``fully_consistent``.

Binary layout (then base64url without padding)::

    token : 0x01 | datastore(8) | store hash(8) | revision(u64) | mac(12)
    cursor: 0x81 | datastore(8) | store hash(8) | revision(u64) | query(8) | position JSON | mac(12)

The distinct first bytes mean a token is never accepted as a cursor or the other way round.
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import hashlib
import hmac
import json
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from json import encoder as json_encoder

from rebac.errors import InvalidCursor, InvalidRequest, RevisionError

TOKEN_VERSION = 0x01
CURSOR_VERSION = 0x81
_MAC_LEN = 12
_HEAD = struct.Struct(">B8s8sQ")  # version, datastore, store hash, revision
_QUERY_LEN = 8

#: A cursor position: the sort key of the last relationship returned (``Relationship.key``).
Position = tuple[str | None, ...]


class ConsistencyMode(enum.Enum):
    MINIMIZE_LATENCY = "minimize_latency"
    AT_LEAST_AS_FRESH = "at_least_as_fresh"
    AT_EXACT_SNAPSHOT = "at_exact_snapshot"
    FULLY_CONSISTENT = "fully_consistent"


_NEEDS_TOKEN = {ConsistencyMode.AT_LEAST_AS_FRESH, ConsistencyMode.AT_EXACT_SNAPSHOT}


@dataclass(frozen=True, slots=True)
class Consistency:
    """How fresh the snapshot of a query must be. Build with the class methods.

    The token stays an opaque string here: only the datastore that issued it can check it
    (see :func:`resolve_revision`).
    """

    mode: ConsistencyMode
    token: str | None = None

    def __post_init__(self) -> None:
        if (self.mode in _NEEDS_TOKEN) != (self.token is not None):
            need = "needs" if self.mode in _NEEDS_TOKEN else "takes no"
            raise InvalidRequest(f"consistency {self.mode.value} {need} a consistency token")

    @classmethod
    def minimize_latency(cls) -> Consistency:
        """Any recent revision, typically a cached one: fastest, may miss the latest writes."""
        return cls(ConsistencyMode.MINIMIZE_LATENCY)

    @classmethod
    def at_least_as_fresh(cls, token: str) -> Consistency:
        """A revision no older than ``token``: sees the caller's own writes (no new enemy)."""
        return cls(ConsistencyMode.AT_LEAST_AS_FRESH, token)

    @classmethod
    def at_exact_snapshot(cls, token: str) -> Consistency:
        """Exactly the revision of ``token`` (fails once it is garbage-collected)."""
        return cls(ConsistencyMode.AT_EXACT_SNAPSHOT, token)

    @classmethod
    def fully_consistent(cls) -> Consistency:
        """The head revision at the time of the call; bypasses caches."""
        return cls(ConsistencyMode.FULLY_CONSISTENT)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not isinstance(text, str) or not text.isascii() or "=" in text:
        raise ValueError("not unpadded base64url")
    # validate=True: no character may be silently skipped (b64decode's default skips them).
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


_json_string = json_encoder.encode_basestring_ascii


def _position_text(position: Sequence[str | None]) -> str:
    """``json.dumps(list(position), separators=(",", ":"))``, without setting up an encoder
    per cursor (a lookup signs one per result)."""
    return "[" + ",".join("null" if p is None else _json_string(p) for p in position) + "]"


@functools.lru_cache(maxsize=1024)
def store_hash(store_id: str) -> bytes:
    """8 bytes identifying a store in tokens (its id is not revealed by the token). Kept per
    store: a lookup signs a cursor per result, all for one store."""
    return hashlib.sha256(b"rebac-store\0" + store_id.encode("utf-8")).digest()[:8]


def query_fingerprint(*parts: object) -> bytes:
    """A stable hash of a query's parameters (frozen dataclasses have a deterministic repr).

    Page size is deliberately *not* part of it: a client may change it between pages.
    """
    return hashlib.sha256(repr(parts).encode("utf-8")).digest()[:_QUERY_LEN]


class TokenCodec:
    """Signs and checks tokens and cursors for one datastore.

    ``datastore_id`` is a stable identifier of the datastore (persisted with the data, so tokens
    survive restarts); ``key`` is the secret the MACs are computed with.
    """

    __slots__ = ("_id8", "_key", "datastore_id")

    def __init__(self, datastore_id: str, key: bytes):
        if len(key) < 16:
            raise ValueError("token key must be at least 16 bytes")
        self.datastore_id = datastore_id
        self._id8 = hashlib.sha256(b"rebac-datastore\0" + datastore_id.encode()).digest()[:8]
        self._key = key

    def _mac(self, body: bytes) -> bytes:
        # hmac.digest: the one-shot form, without an HMAC object per token (same result).
        return hmac.digest(self._key, body, "sha256")[:_MAC_LEN]

    # -- consistency tokens ---------------------------------------------------------------------

    def encode(self, store_id: str, revision: int) -> str:
        """The opaque token for ``revision`` of ``store_id``."""
        if revision < 0:
            raise ValueError(f"negative revision {revision}")
        body = _HEAD.pack(TOKEN_VERSION, self._id8, store_hash(store_id), revision)
        return _b64encode(body + self._mac(body))

    def decode(self, token: str, store_id: str) -> int:
        """The revision in ``token``; :class:`RevisionError` naming what is wrong otherwise."""
        body = self._open(token, TOKEN_VERSION, "consistency token", RevisionError)
        if len(body) != _HEAD.size:
            raise RevisionError(f"malformed consistency token {_quote(token)}: wrong length")
        _, _, shash, revision = _HEAD.unpack(body)
        if shash != store_hash(store_id):
            raise RevisionError(
                f"consistency token {_quote(token)} was issued for another store, "
                f"not for store {store_id!r}"
            )
        return int(revision)

    # -- cursors ----------------------------------------------------------------------------------

    def encode_cursor(
        self, store_id: str, revision: int, query: bytes, position: Sequence[str | None]
    ) -> str:
        """A cursor resuming ``query`` after ``position`` at snapshot ``revision``."""
        return self.cursors(store_id, revision, query)(position)

    def cursors(
        self, store_id: str, revision: int, query: bytes
    ) -> Callable[[Sequence[str | None]], str]:
        """:meth:`encode_cursor` for many positions of one query at one revision (a lookup
        signs one per result): the MAC of the common prefix is computed once and copied."""
        if len(query) != _QUERY_LEN:
            raise ValueError("query must be a query_fingerprint()")
        prefix = _HEAD.pack(CURSOR_VERSION, self._id8, store_hash(store_id), revision) + query
        signed = hmac.new(self._key, prefix, hashlib.sha256)

        def cursor(position: Sequence[str | None]) -> str:
            pos = _position_text(position).encode("utf-8")
            mac = signed.copy()
            mac.update(pos)
            return _b64encode(prefix + pos + mac.digest()[:_MAC_LEN])

        return cursor

    def decode_cursor(self, cursor: str, store_id: str, query: bytes) -> tuple[int, Position]:
        """``(revision, position)``; :class:`InvalidCursor` if it is not this query's cursor."""
        body = self._open(cursor, CURSOR_VERSION, "cursor", InvalidCursor)
        if len(body) < _HEAD.size + _QUERY_LEN:
            raise InvalidCursor(f"malformed cursor {_quote(cursor)}: too short")
        _, _, shash, revision = _HEAD.unpack_from(body)
        if shash != store_hash(store_id):
            raise InvalidCursor(f"cursor was issued for another store, not for store {store_id!r}")
        if body[_HEAD.size : _HEAD.size + _QUERY_LEN] != query:
            raise InvalidCursor(
                "cursor was issued for a different query; a cursor can only resume the query "
                "(filter and parameters) it came from"
            )
        try:
            pos = json.loads(body[_HEAD.size + _QUERY_LEN :].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidCursor(f"malformed cursor {_quote(cursor)}: bad position") from exc
        if not isinstance(pos, list) or not all(p is None or isinstance(p, str) for p in pos):
            raise InvalidCursor(f"malformed cursor {_quote(cursor)}: bad position")
        return int(revision), tuple(pos)

    # -- shared -----------------------------------------------------------------------------------

    def _open(self, text: str, version: int, what: str, error: type[Exception]) -> bytes:
        """Base64-decode, check version, datastore and MAC; returns the signed body."""
        try:
            raw = _b64decode(text)
        except (ValueError, binascii.Error) as exc:
            raise error(f"malformed {what} {_quote(text)}: not base64url") from exc
        if len(raw) < _HEAD.size + _MAC_LEN:
            raise error(f"malformed {what} {_quote(text)}: too short")
        if raw[0] != version:
            raise error(f"malformed {what} {_quote(text)}: unknown format version {raw[0]}")
        body, mac = raw[:-_MAC_LEN], raw[-_MAC_LEN:]
        if body[1:9] != self._id8:
            raise error(
                f"{what} {_quote(text)} was issued by another datastore "
                f"(this is datastore {self.datastore_id!r})"
            )
        if not hmac.compare_digest(mac, self._mac(body)):
            raise error(f"{what} {_quote(text)} failed its integrity check (altered or corrupted)")
        return body


def _quote(text: object) -> str:
    s = repr(text)
    return s if len(s) <= 80 else s[:77] + "...'"


def resolve_revision(
    consistency: Consistency,
    *,
    codec: TokenCodec,
    store_id: str,
    head: Callable[[], int],
    cached: int | None = None,
) -> int:
    """The revision a query must be evaluated at.

    ``head`` is called only when needed (it may cost a query); ``cached`` is the revision of
    whatever index or cache the caller could answer from. ``at_least_as_fresh`` uses the cache
    only when it is at least as new as the token, so a stale index never answers (new enemy).
    """
    mode = consistency.mode
    if mode is ConsistencyMode.FULLY_CONSISTENT:
        return head()
    if mode is ConsistencyMode.MINIMIZE_LATENCY:
        return cached if cached is not None else head()
    assert consistency.token is not None
    wanted = codec.decode(consistency.token, store_id)
    if mode is ConsistencyMode.AT_LEAST_AS_FRESH and cached is not None and cached >= wanted:
        return cached
    current = head()
    if wanted > current:
        raise RevisionError(
            f"consistency token is for revision {wanted}, ahead of the store's head {current}"
        )
    return current if mode is ConsistencyMode.AT_LEAST_AS_FRESH else wanted
