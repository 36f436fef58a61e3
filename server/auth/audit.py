"""The audit log: one JSON line per call, saying who did what to which store and what came of it.

Fields (every line has all of them, ``null`` when they do not apply):

``event_id``, ``time`` (UTC, ISO 8601), ``listener`` (``data``/``admin``), ``rpc``, ``store``,
``principal`` (``{"sub", "iss"}``), ``auth_method`` (``jwt``/``api_key``/``mtls``),
``credential`` (key id or certificate identity, never the credential), ``resource``,
``permission``, ``subject`` (Check), ``items`` (CheckBulk: one object per item), ``decision``,
``revision`` (the consistency token the answer was computed at), ``request_id``, ``peer``,
``status`` (gRPC code name), ``reason`` and ``detail`` (why a call was refused).

``decision`` is, for Check, the answer (ALLOW, DENY, CONDITIONAL) or ERROR; for every other
call the access decision: ALLOW (admitted and served), DENY (refused by authentication or
authorization), ERROR (admitted, then failed).

Why this shape: the *decision fields* (:data:`DECISION_FIELDS`: everything except event id,
time, request id and peer) are a pure function of the caller, the request and the revision, so
two identical checks at the same revision give identical decision fields and an auditor can
diff them. Attacker-supplied text is clipped and JSON-escaped (``ensure_ascii``), so no line can
be forged or split. Tokens, keys and secrets are never written: the event is built from the
:class:`~server.auth.principal.Principal`, which holds none.

Admin-listener calls are always written; ``audit_calls = false`` only silences the data plane.
Every ``write`` on the ``O_APPEND`` descriptor holds whole lines (one, or an admitted Checks'
batch, see :class:`AuditLog`), so several worker processes can share the file without
interleaving.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from json import encoder as json_encoder
from pathlib import Path
from typing import Any

from server.auth.principal import Principal
from server.auth.quote import clip
from server.ids import new_id

log = logging.getLogger("rebac.audit")

FIELDS = (
    "event_id",
    "time",
    "listener",
    "rpc",
    "store",
    "principal",
    "auth_method",
    "credential",
    "resource",
    "permission",
    "subject",
    "items",
    "decision",
    "revision",
    "request_id",
    "peer",
    "status",
    "reason",
    "detail",
)
DECISION_FIELDS = tuple(f for f in FIELDS if f not in ("event_id", "time", "request_id", "peer"))
MAX_FIELD = 256

PERMISSIONSHIP_DECISIONS = {1: "DENY", 2: "ALLOW", 3: "CONDITIONAL"}
#: One encoder for every line (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=True, separators=(",", ":"))


def _line_encoder() -> Callable[[Any], str]:
    """``_ENCODER.encode`` without its per-call set-up: the C encoder is made once (an event
    has no cycles to watch for, so no markers) and reused; the pure-Python one elsewhere."""
    make: Any = getattr(json_encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython has the C encoder
        return _ENCODER.encode
    chunks: Callable[[Any, int], Iterable[str]] = make(
        None,
        _ENCODER.default,
        json_encoder.encode_basestring_ascii,
        None,
        ":",
        ",",
        True,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan, as json.dumps
    )
    return lambda value: "".join(chunks(value, 0))


encode = _line_encoder()
CHECK = "/rebac.api.v1.PermissionService/Check"
CHECK_BULK = "/rebac.api.v1.PermissionService/CheckBulk"
#: Admitted calls whose line is made and written later (Gate.succeeded): the checks.
DEFERRED = frozenset({CHECK, CHECK_BULK})


class AuditLog:
    """An append-only JSON-lines sink. ``healthy`` turns False after a failed write.

    **Deferred lines.** Most lines are admitted Checks, and writing each one as its call ends
    costs the call a system call and the formatting, on a worker thread whose caches the
    rest of the call has just filled with other things (measured in a busy server: about 40
    us of a Check's CPU). :meth:`write_later` hands such a line over instead: a writer
    thread makes and writes everything handed over within ``flush_interval`` seconds, in one
    ``write``. The price: a process killed with SIGKILL loses at most that long of deferred
    lines; ``flush_interval = 0`` writes every line at once. Refusals, errors and admin
    actions are never deferred, and write whatever is waiting before themselves, so the
    file keeps the order in which calls ended.
    """

    def __init__(
        self, fd: int, name: str, *, owned: bool = True, flush_interval: float = 0.0
    ) -> None:
        self._fd = fd
        self.name = name
        self._owned = owned
        self.flush_interval = flush_interval
        self._lock = threading.Lock()
        self.healthy = True
        # Deferred lines: (make, args); deque appends and pops are atomic, no lock needed.
        self._later: deque[tuple[Callable[..., str], tuple[Any, ...]]] = deque()
        self._scheduled = False  # a flush is coming that will see anything appended now
        self._wake = threading.Event()
        self._closing = False
        self._writer: threading.Thread | None = None

    @classmethod
    def open(cls, destination: str, *, flush_interval: float = 0.0) -> AuditLog:
        """A file (created 0600, appended to) or ``-`` for standard error."""
        if destination == "-":
            return cls(sys.stderr.fileno(), "<stderr>", owned=False, flush_interval=flush_interval)
        path = Path(destination)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return cls(fd, str(path), flush_interval=flush_interval)

    def write(self, event: Mapping[str, Any]) -> None:
        self.write_line(encode(event))

    def write_line(self, line: str) -> None:
        """``line`` (as :func:`encode` or :func:`check_line` makes it) now, after the lines
        still waiting."""
        with self._lock:
            lines = self._drain()
            lines.append(line)
            self._emit(lines)

    def write_later(self, make: Callable[..., str], *args: Any) -> None:
        """The line ``make(*args)``, made and written by the writer thread within
        ``flush_interval`` seconds (at once when that is 0 or the log is closing)."""
        if self.flush_interval <= 0 or self._closing:
            self.write_line(make(*args))
            return
        self._later.append((make, args))
        if not self._scheduled:
            self._scheduled = True
            if self._writer is None:
                self._start_writer()
            self._wake.set()

    def flush(self) -> None:
        """Write the deferred lines now."""
        with self._lock:
            lines = self._drain()
            if lines:
                self._emit(lines)

    def close(self) -> None:
        """Write what is waiting, stop the writer thread, and close the file."""
        self._closing = True
        self._wake.set()
        writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join(timeout=5.0)
        with self._lock:
            lines = self._drain()
            if lines:
                self._emit(lines)
            if self._owned and self._fd >= 0:
                os.close(self._fd)
            self._fd = -1

    def _start_writer(self) -> None:
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_deferred, name="rebac-audit", daemon=True
                )
                self._writer.start()

    def _write_deferred(self) -> None:
        while not self._closing:
            self._wake.wait()
            self._wake.clear()
            if not self._closing:
                time.sleep(self.flush_interval)  # let the calls of the interval join in
            # Reset before draining: a line appended from here on either is drained below
            # or sees no flush scheduled and wakes this thread again.
            self._scheduled = False
            self.flush()

    def _drain(self) -> list[str]:
        """The deferred lines, made (the caller holds the lock)."""
        lines: list[str] = []
        later = self._later
        while later:
            make, args = later.popleft()
            try:
                lines.append(make(*args))
            except Exception:  # one bad line must not take the others with it
                log.exception("audit log %s: cannot make a deferred line", self.name)
        return lines

    def _emit(self, lines: list[str]) -> None:
        """One ``write`` of ``lines`` (the caller holds the lock)."""
        lines.append("")
        data = "\n".join(lines).encode("ascii")
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(f"short write ({written} of {len(data)} bytes)")
        except OSError as exc:
            if self.healthy:
                log.error("audit log %s: write failed: %s", self.name, exc)
            self.healthy = False
            return
        self.healthy = True


_second: tuple[int, str] = (-1, "")


def utc_text(when: float) -> str:
    """``when`` (``time.time()``) as ISO 8601 UTC to the millisecond, ``...T12:00:00.250Z``
    (the text of one second is kept: lines come many to a second)."""
    global _second
    whole = int(when // 1)
    millis = round((when - whole) * 1e6) // 1000
    if millis >= 1000:
        whole, millis = whole + 1, 0
    second, text = _second
    if second != whole:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second = (whole, text)
    return text + _MILLIS[millis]


#: ``.000Z`` to ``.999Z``: formatting the milliseconds was most of utc_text's cost.
_MILLIS = tuple(f".{n:03d}Z" for n in range(1000))


def new_event(
    listener: str, rpc: str, request_id: str, peer: str, started: float | None = None
) -> dict[str, Any]:
    """An event with every field; ``started`` (``time.time()``, default now) is its time."""
    return {
        "event_id": new_id(),
        "time": utc_text(time.time() if started is None else started),
        "listener": listener,
        "rpc": rpc,
        "store": None,
        "principal": None,
        "auth_method": None,
        "credential": None,
        "resource": None,
        "permission": None,
        "subject": None,
        "items": None,
        "decision": None,
        "revision": None,
        "request_id": request_id,
        "peer": clip(peer, MAX_FIELD),
        "status": None,
        "reason": None,
        "detail": None,
    }


def set_principal(event: dict[str, Any], principal: Principal) -> None:
    event["principal"] = {"sub": clip(principal.sub, MAX_FIELD), "iss": principal.iss}
    event["auth_method"] = principal.method
    event["credential"] = clip(principal.credential_id, MAX_FIELD)


def set_refusal(event: dict[str, Any], status: str, reason: str, detail: str) -> None:
    event.update(decision="DENY", status=status, reason=reason, detail=clip(detail, MAX_FIELD))


# -- what a request and a response say, read by field name (no generated code imported) --------


def _object(ref: Any) -> str:
    kind, oid = ref.object_type, ref.object_id
    if len(kind) <= 128 and len(oid) <= MAX_FIELD:  # the usual case: nothing to clip
        return f"{kind}:{oid}"
    return f"{clip(kind, 128)}:{clip(oid, MAX_FIELD)}"


def _subject(ref: Any) -> str:
    text = _object(ref.object)
    relation = ref.optional_relation
    return f"{text}#{clip(relation, 128)}" if relation else text


def _check_fields(item: Any) -> dict[str, str]:
    permission = item.permission
    return {
        "resource": _object(item.resource),
        "permission": permission if len(permission) <= 128 else clip(permission, 128),
        "subject": _subject(item.subject),
    }


def describe_request(rpc: str, request: Any, event: dict[str, Any]) -> None:
    """Store and, for checks, what was asked."""
    store = getattr(request, "store_id", None)
    if isinstance(store, str) and store:
        event["store"] = clip(store, MAX_FIELD)
    if rpc == CHECK:
        event.update(_check_fields(request))
    elif rpc == CHECK_BULK:
        event["items"] = [_check_fields(item) for item in request.items]


def find_revision(message: Any) -> str | None:
    """The consistency token in a response (top level, or one level down as in LookupEnd)."""
    for field, value in message.ListFields():
        if field.message_type is None or field.is_repeated:
            continue
        if field.message_type.name == "ConsistencyToken":
            token: str = value.token
            return token
        if field.message_type.name == "LookupEnd":
            return find_revision(value)
    return None


def _check_revision(response: Any) -> str | None:
    # the hot path: its one token field, without walking the message
    return response.checked_at.token if response.HasField("checked_at") else None


def describe_response(rpc: str, response: Any, event: dict[str, Any]) -> None:
    revision = _check_revision(response) if rpc == CHECK else find_revision(response)
    if revision is not None:
        event["revision"] = revision
    if rpc == CHECK:
        event["decision"] = PERMISSIONSHIP_DECISIONS.get(response.permissionship, "ERROR")
    elif rpc == CHECK_BULK and event["items"] is not None:
        for item, pair in zip(event["items"], response.pairs, strict=False):
            if pair.HasField("error"):
                item["decision"] = "ERROR"
            else:
                item["decision"] = PERMISSIONSHIP_DECISIONS.get(pair.item.permissionship, "ERROR")


# -- the line of an admitted Check, written as text ----------------------------------------------

_text = json_encoder.encode_basestring_ascii


def _json(value: str | None) -> str:
    return "null" if value is None else _text(value)


#: Texts a Check line repeats from call to call, kept by what they are made of (see
#: check_line): a principal's fields (by identity; the entry holds the principal, so its id is
#: not reused while cached), a peer, a store, the answer last seen. Bounded by
#: clearing.
_TEXTS_LIMIT = 1024
_principal_texts: dict[int, tuple[Principal, str, str]] = {}
_texts: dict[str, str] = {}
_last_answer: list[tuple[Any, str, str]] = [(None, "", "")]


def _principal_text(principal: Principal) -> tuple[str, str]:
    """The ``auth_method`` and ``credential`` fields of a Check line, and its ``principal``."""
    hit = _principal_texts.get(id(principal))
    if hit is not None and hit[0] is principal:
        return hit[1], hit[2]
    head = (
        f'{{"auth_method":{_text(principal.method)}'
        f',"credential":{_text(clip(principal.credential_id, MAX_FIELD))}'
    )
    body = (
        f',"principal":{{"iss":{_text(principal.iss)}'
        f',"sub":{_text(clip(principal.sub, MAX_FIELD))}}}'
    )
    if len(_principal_texts) >= _TEXTS_LIMIT:
        _principal_texts.clear()
    _principal_texts[id(principal)] = (principal, head, body)
    return head, body


def _clipped_text(value: str) -> str:
    """``value`` clipped to MAX_FIELD, as JSON text (a peer, a store)."""
    known = _texts.get(value)
    if known is None:
        if len(_texts) >= _TEXTS_LIMIT:
            _texts.clear()
        known = _texts[value] = _text(clip(value, MAX_FIELD))
    return known


def _answer_text(response: Any) -> tuple[str, str]:
    """The ``decision`` and ``revision`` values of a Check line. Answers without caveat
    information are shared response objects (the servicer's Answers), so the last one's
    texts are kept with it: the entry holds the response, and identity decides."""
    last = _last_answer[0]
    if last[0] is response:
        return last[1], last[2]
    decision = PERMISSIONSHIP_DECISIONS.get(response.permissionship, "ERROR")
    revision = _json(_check_revision(response))
    _last_answer[0] = (response, decision, revision)
    return decision, revision


def check_line(
    listener: str,
    request_id: str,
    peer: str,
    started: float,
    principal: Principal,
    request: Any,
    response: Any,
) -> str:
    """The line :func:`encode` makes of an admitted Check's event, without the event.

    Checks are most of the calls a server answers, and building the event (a dict of every
    field, a nested dict, a sorted encoding) cost more than the check itself. This writes the
    same text directly, field by field in :func:`encode`'s (sorted) order, with the texts
    that repeat from call to call (principal, peer, store, revision) made once; the audit
    tests pin that both give the same line for the same call, odd text and long values
    included.
    """
    store = request.store_id
    head, principal_text = _principal_text(principal)
    decision, revision = _answer_text(response)
    return (
        f"{head}"
        f',"decision":"{decision}"'
        f',"detail":null,"event_id":"{new_id()}","items":null'
        f',"listener":{_text(listener)},"peer":{_clipped_text(peer)}'
        f',"permission":{_text(clip(request.permission, 128))}'
        f'{principal_text},"reason":null'
        f',"request_id":{_text(request_id)},"resource":{_text(_object(request.resource))}'
        f',"revision":{revision},"rpc":"{CHECK}","status":"OK"'
        f',"store":{_clipped_text(store) if store else "null"}'
        f',"subject":{_text(_subject(request.subject))},"time":"{utc_text(started)}"}}'
    )
