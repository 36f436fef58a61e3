"""Consistency tokens, cursors and consistency modes (rebac.revision)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rebac.errors import InvalidCursor, InvalidRequest, RevisionError
from rebac.revision import (
    Consistency,
    ConsistencyMode,
    TokenCodec,
    query_fingerprint,
    resolve_revision,
)

CODEC = TokenCodec("datastore-one", b"k" * 32)
OTHER = TokenCodec("datastore-two", b"k" * 32)
Q = query_fingerprint("read", "document")


def test_token_round_trip_and_opacity() -> None:
    for rev in (0, 1, 42, 2**40):
        token = CODEC.encode("acme", rev)
        assert CODEC.decode(token, "acme") == rev
        assert "acme" not in token and token.isascii() and "=" not in token
    assert CODEC.encode("acme", 5) == CODEC.encode("acme", 5)  # deterministic


def test_token_from_another_store_is_refused_by_name() -> None:
    token = CODEC.encode("acme", 3)
    with pytest.raises(RevisionError, match="another store, not for store 'Acme'"):
        CODEC.decode(token, "Acme")


def test_token_from_another_datastore_is_refused_by_name() -> None:
    with pytest.raises(RevisionError, match="another datastore"):
        CODEC.decode(OTHER.encode("acme", 3), "acme")


def test_token_with_another_key_fails_the_integrity_check() -> None:
    forged = TokenCodec("datastore-one", b"x" * 32).encode("acme", 999)
    with pytest.raises(RevisionError, match="integrity"):
        CODEC.decode(forged, "acme")


def test_every_altered_byte_is_detected() -> None:
    raw = bytearray(base64.urlsafe_b64decode(CODEC.encode("acme", 7) + "=="))
    for i in range(len(raw)):
        for bit in (1, 0x80):
            bad = bytearray(raw)
            bad[i] ^= bit
            text = base64.urlsafe_b64encode(bytes(bad)).rstrip(b"=").decode()
            with pytest.raises(RevisionError):
                CODEC.decode(text, "acme")


@pytest.mark.parametrize("bad", ["", "abc", "not base64 at all!", "ÿÿÿ", "A" * 60, "AQ"])
def test_malformed_tokens(bad: str) -> None:
    with pytest.raises(RevisionError):
        CODEC.decode(bad, "acme")


def test_extra_characters_are_not_ignored() -> None:
    token = CODEC.encode("acme", 7)
    for bad in (token + "!", token[:5] + " " + token[5:], token + "=", "=" + token):
        with pytest.raises(RevisionError, match="malformed"):
            CODEC.decode(bad, "acme")


@given(st.text(max_size=80))
def test_no_string_decodes_by_accident(text: str) -> None:
    with pytest.raises(RevisionError):
        CODEC.decode(text, "acme")


def test_tokens_and_cursors_are_not_interchangeable() -> None:
    token = CODEC.encode("acme", 1)
    cursor = CODEC.encode_cursor("acme", 1, Q, ("a", "b", "c", "d", "e", None))
    with pytest.raises(InvalidCursor, match="format version"):
        CODEC.decode_cursor(token, "acme", Q)
    with pytest.raises(RevisionError, match="format version"):
        CODEC.decode(cursor, "acme")


def test_cursor_round_trip_and_binding() -> None:
    pos = ("document", "d1", "viewer", "user", "alice", None)
    cursor = CODEC.encode_cursor("acme", 9, Q, pos)
    assert CODEC.decode_cursor(cursor, "acme", Q) == (9, pos)
    with pytest.raises(InvalidCursor, match="different query"):
        CODEC.decode_cursor(cursor, "acme", query_fingerprint("read", "folder"))
    with pytest.raises(InvalidCursor, match="another store"):
        CODEC.decode_cursor(cursor, "other", Q)
    with pytest.raises(InvalidCursor, match="another datastore"):
        OTHER.decode_cursor(cursor, "acme", Q)
    with pytest.raises(InvalidCursor, match="integrity"):
        CODEC.decode_cursor(
            cursor[:-3] + ("A" if cursor[-3] != "A" else "B") + cursor[-2:], "acme", Q
        )
    assert isinstance(InvalidCursor("x"), InvalidRequest)


@given(
    st.lists(st.one_of(st.none(), st.text(max_size=20)), max_size=6),
    st.integers(min_value=0, max_value=2**40),
)
def test_a_cursor_is_its_json_position_signed_with_hmac_sha256(
    position: list[str | None], revision: int
) -> None:
    """The layout cursors already issued were made with (json.dumps, hmac.new): a faster
    encoder must give the very same bytes, or those cursors would stop resuming."""
    import hashlib
    import hmac
    import json

    cursor = CODEC.encode_cursor("acme", revision, Q, tuple(position))
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    body, mac = raw[:-12], raw[-12:]
    assert body.endswith(Q + json.dumps(position, separators=(",", ":")).encode("utf-8"))
    assert mac == hmac.new(b"k" * 32, body, hashlib.sha256).digest()[:12]
    assert CODEC.decode_cursor(cursor, "acme", Q) == (revision, tuple(position))


def test_query_fingerprint_is_stable_and_discriminating() -> None:
    assert query_fingerprint("read", None) == query_fingerprint("read", None)
    assert query_fingerprint("read", None) != query_fingerprint("export", None)
    assert len(Q) == 8


def test_codec_needs_a_real_key() -> None:
    with pytest.raises(ValueError):
        TokenCodec("d", b"short")


# -- consistency ----------------------------------------------------------------------------------


def test_consistency_constructors() -> None:
    assert Consistency.minimize_latency().mode is ConsistencyMode.MINIMIZE_LATENCY
    assert Consistency.fully_consistent().token is None
    assert Consistency.at_least_as_fresh("t").token == "t"
    assert Consistency.at_exact_snapshot("t").mode is ConsistencyMode.AT_EXACT_SNAPSHOT
    with pytest.raises(InvalidRequest, match="needs a consistency token"):
        Consistency(ConsistencyMode.AT_LEAST_AS_FRESH)
    with pytest.raises(InvalidRequest, match="takes no"):
        Consistency(ConsistencyMode.FULLY_CONSISTENT, "t")


class Head:
    """Counts how often the head is asked for (it may cost a query)."""

    def __init__(self, value: int):
        self.value = value
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.value


def resolve(c: Consistency, head: Head, cached: int | None = None) -> int:
    return resolve_revision(c, codec=CODEC, store_id="acme", head=head, cached=cached)


def test_fully_consistent_uses_the_head_not_the_cache() -> None:
    assert resolve(Consistency.fully_consistent(), Head(10), cached=7) == 10


def test_minimize_latency_prefers_the_cache() -> None:
    head = Head(10)
    assert resolve(Consistency.minimize_latency(), head, cached=7) == 7
    assert head.calls == 0
    assert resolve(Consistency.minimize_latency(), head) == 10


def test_at_least_as_fresh_never_answers_from_an_older_cache() -> None:
    token = CODEC.encode("acme", 8)
    head = Head(10)
    assert resolve(Consistency.at_least_as_fresh(token), head, cached=9) == 9
    assert head.calls == 0
    assert resolve(Consistency.at_least_as_fresh(token), head, cached=8) == 8
    assert resolve(Consistency.at_least_as_fresh(token), head, cached=7) == 10  # new enemy
    assert resolve(Consistency.at_least_as_fresh(token), head) == 10


def test_at_exact_snapshot_uses_the_token_revision() -> None:
    token = CODEC.encode("acme", 4)
    assert resolve(Consistency.at_exact_snapshot(token), Head(10), cached=9) == 4


def test_a_token_ahead_of_the_store_is_an_error() -> None:
    token = CODEC.encode("acme", 11)
    for c in (Consistency.at_least_as_fresh(token), Consistency.at_exact_snapshot(token)):
        with pytest.raises(RevisionError, match="ahead"):
            resolve(c, Head(10))


def test_a_bad_token_is_never_downgraded() -> None:
    with pytest.raises(RevisionError):
        resolve(Consistency.at_least_as_fresh(OTHER.encode("acme", 1)), Head(10), cached=10)
    with pytest.raises(RevisionError):
        resolve(Consistency.at_least_as_fresh("garbage"), Head(10))
