"""The audit log: one JSON line per call with the issue's fields, deterministic decision
fields, no secrets, attacker text escaped, and admin actions always recorded."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from rebac.api.v1 import (
    core_pb2,
    permission_service_pb2,
    schema_service_pb2,
    store_service_pb2,
    store_service_pb2_grpc,
)
from server.auth.audit import DECISION_FIELDS, FIELDS
from tests.auth.conftest import SCHEMA, Deploy, Deployment, bearer
from tests.auth.helpers import SigningKey, admin_claims, claims, forge, invoke

Keys = dict[str, SigningKey]


def _ref(t: str, i: str) -> core_pb2.ObjectReference:
    return core_pb2.ObjectReference(object_type=t, object_id=i)


def _check(d: Deployment, token: str, user: str, consistency: core_pb2.Consistency | None = None):
    request = permission_service_pb2.CheckRequest(
        store_id="default",
        resource=_ref("document", "d1"),
        permission="view",
        subject=core_pb2.SubjectReference(object=_ref("user", user)),
        consistency=consistency,
    )
    return d.perm().Check(request, metadata=bearer(token), timeout=10)


def test_a_check_is_one_line_with_every_field(deployment: Deployment, keys: Keys) -> None:
    response = _check(deployment, keys["ec"].sign(claims()), "alice")
    [event] = deployment.audit()
    assert set(event) == set(FIELDS)
    assert event["listener"] == "data"
    assert event["rpc"] == "/rebac.api.v1.PermissionService/Check"
    assert event["store"] == "default"
    assert event["principal"] == {"sub": "svc:billing", "iss": "https://issuer.example"}
    assert (event["auth_method"], event["credential"]) == ("jwt", "ec-1")
    assert (event["resource"], event["permission"], event["subject"]) == (
        "document:d1",
        "view",
        "user:alice",
    )
    assert (event["decision"], event["status"]) == ("ALLOW", "OK")
    assert event["revision"] == response.checked_at.token
    assert event["request_id"] and event["peer"].startswith("ipv4:127.0.0.1:")
    assert event["time"].endswith("Z") and len(event["event_id"]) == 32
    _check(deployment, keys["ec"].sign(claims()), "mallory")
    assert deployment.audit()[-1]["decision"] == "DENY"


def test_same_input_at_the_same_revision_gives_identical_decision_fields(
    deployment: Deployment, keys: Keys
) -> None:
    token = keys["ec"].sign(claims())
    first = _check(deployment, token, "alice")
    deployment.datastore.engine("default").touch("document:d2#viewer@user:bob")  # head moves
    at = core_pb2.Consistency(at_exact_snapshot=first.checked_at)
    _check(deployment, keys["ec"].sign(claims()), "alice", at)
    a, b = deployment.audit()
    assert {f: a[f] for f in DECISION_FIELDS} == {f: b[f] for f in DECISION_FIELDS}
    assert a["event_id"] != b["event_id"] and a["request_id"] != b["request_id"]


def test_check_bulk_records_each_item(deployment: Deployment, keys: Keys) -> None:
    item = permission_service_pb2.CheckBulkRequestItem
    request = permission_service_pb2.CheckBulkRequest(
        store_id="default",
        items=[
            item(
                resource=_ref("document", "d1"),
                permission="view",
                subject=core_pb2.SubjectReference(object=_ref("user", u)),
            )
            for u in ("alice", "bob")
        ]
        + [
            item(
                resource=_ref("document", "d1"),
                permission="nope",
                subject=core_pb2.SubjectReference(object=_ref("user", "alice")),
            )
        ],
    )
    deployment.perm().CheckBulk(request, metadata=bearer(keys["ec"].sign(claims())), timeout=10)
    event = deployment.audit()[-1]
    assert [i["decision"] for i in event["items"]] == ["ALLOW", "DENY", "ERROR"]
    assert event["items"][1]["subject"] == "user:bob"


def test_no_token_key_or_secret_is_ever_written(deployment: Deployment, keys: Keys) -> None:
    good = keys["ec"].sign(claims())
    expired = keys["ec"].sign(claims(exp=1, iat=0))
    _check(deployment, good, "alice")
    for token in (expired, good + "x", "rbk_" + "s3cret" * 8):
        deployment.unary(bearer(token))
    text = deployment.audit_path.read_text()
    for token in (good, expired):
        for segment in token.split("."):
            assert segment not in text
    assert "s3cret" not in text
    assert len(text.splitlines()) == 4


def test_attacker_strings_cannot_forge_lines(
    deployment: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    evil = 'x"}\n{"decision":"ALLOW","forged":true}\x1b[2J' + "A" * 5000
    caplog.set_level(logging.WARNING, logger="rebac.auth")
    deployment.unary(bearer(forge({"alg": "RS256", "kid": evil}, claims())))
    lines = deployment.audit_path.read_text().splitlines()
    assert len(lines) == 1 and lines[0].isascii()
    event = deployment.audit()[0]
    assert event["decision"] == "DENY" and "forged" not in event
    assert len(event["detail"]) <= 256
    [record] = [r for r in caplog.records if "refused" in r.getMessage()]
    message = record.getMessage()
    assert "\n" not in message and "\x1b" not in message and len(message) < 600


def test_audit_calls_off_silences_only_admitted_data_plane_calls(
    deploy: Deploy, keys: Keys
) -> None:
    d = deploy(audit_calls=False)
    _check(d, keys["ec"].sign(claims()), "alice")
    assert d.audit() == []
    d.unary([])  # refusals are always recorded
    assert [e["reason"] for e in d.audit()] == ["no_credentials"]
    stub = store_service_pb2_grpc.StoreServiceStub(d.channel(admin=True))
    stub.ListStores(
        store_service_pb2.ListStoresRequest(), metadata=bearer(keys["ec"].sign(admin_claims()))
    )
    assert d.audit()[-1]["rpc"] == "/rebac.api.v1.StoreService/ListStores"
    assert d.audit()[-1]["listener"] == "admin"


def test_admin_actions_are_refused_while_the_audit_log_is_broken(
    deployment: Deployment, keys: Keys
) -> None:
    deployment.runtime.audit.healthy = False
    request = schema_service_pb2.WriteSchemaRequest(store_id="default", schema=SCHEMA)
    outcome = invoke(
        deployment.channel(admin=True),
        "/rebac.api.v1.SchemaService/WriteSchema",
        request.SerializeToString(),
        bearer(keys["ec"].sign(admin_claims())),
    )
    assert outcome.code is grpc.StatusCode.UNAVAILABLE
    assert deployment.spy.calls == []


def test_a_write_failure_marks_the_log_unhealthy(tmp_path: Path) -> None:
    from server.auth.audit import AuditLog

    log = AuditLog.open(str(tmp_path / "a.jsonl"))
    log.write({"a": 1})
    log.close()
    log.write({"a": 2})  # closed descriptor: EBADF
    assert not log.healthy
    assert (tmp_path / "a.jsonl").read_text() == '{"a":1}\n'
    assert oct((tmp_path / "a.jsonl").stat().st_mode & 0o777) == "0o600"


def _text_of(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _lines_within(path: Path, count: int, seconds: float = 5.0) -> list[str]:
    end = time.monotonic() + seconds
    while len(lines := _text_of(path).splitlines()) < count and time.monotonic() < end:
        time.sleep(0.01)
    return lines


def test_deferred_lines_are_written_by_the_writer_within_the_interval(tmp_path: Path) -> None:
    from server.auth.audit import AuditLog

    path = tmp_path / "a.jsonl"
    log = AuditLog.open(str(path), flush_interval=0.02)
    try:
        log.write_later(str.upper, "first")
        log.write_later(str.upper, "second")
        assert _lines_within(path, 2) == ["FIRST", "SECOND"]
        log.write_later(str.upper, "third")  # the writer goes on after a flush
        assert _lines_within(path, 3)[-1] == "THIRD"
    finally:
        log.close()


def test_a_line_written_now_follows_the_lines_still_waiting(tmp_path: Path) -> None:
    from server.auth.audit import AuditLog

    path = tmp_path / "a.jsonl"
    log = AuditLog.open(str(path), flush_interval=60)  # the writer would wait a minute
    try:
        log.write_later(str, "admitted check")
        log.write_line("refusal")
        assert _text_of(path).splitlines() == ["admitted check", "refusal"]
    finally:
        log.close()


def test_closing_writes_what_waits_and_no_interval_writes_at_once(tmp_path: Path) -> None:
    from server.auth.audit import AuditLog

    waiting = AuditLog.open(str(tmp_path / "w.jsonl"), flush_interval=60)
    waiting.write_later(str, "pending")
    assert _text_of(tmp_path / "w.jsonl") == ""
    waiting.close()
    assert _text_of(tmp_path / "w.jsonl") == "pending\n"
    at_once = AuditLog.open(str(tmp_path / "n.jsonl"), flush_interval=0)
    at_once.write_later(str, "now")
    assert _text_of(tmp_path / "n.jsonl") == "now\n"
    at_once.close()


def test_a_line_that_cannot_be_made_loses_no_other(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from server.auth.audit import AuditLog

    def broken() -> str:
        raise ValueError("no")

    log = AuditLog.open(str(tmp_path / "a.jsonl"), flush_interval=60)
    log.write_later(str, "before")
    log.write_later(broken)
    log.write_later(str, "after")
    with caplog.at_level(logging.ERROR, logger="rebac.audit"):
        log.flush()
    assert _text_of(tmp_path / "a.jsonl").splitlines() == ["before", "after"]
    assert "cannot make a deferred line" in caplog.text
    assert log.healthy
    log.close()


def test_lines_deferred_from_many_threads_are_each_written_once(tmp_path: Path) -> None:
    from server.auth.audit import AuditLog

    path = tmp_path / "a.jsonl"
    log = AuditLog.open(str(path), flush_interval=0.001)

    def calls(n: int) -> None:
        for i in range(500):
            log.write_later(str, f"{n}-{i}")
            if i % 100 == 0:
                log.write_line(f"{n}-{i}-now")

    threads = [threading.Thread(target=calls, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    lines = _text_of(path).splitlines()
    expected = {f"{n}-{i}" for n in range(8) for i in range(500)}
    expected |= {f"{n}-{i}-now" for n in range(8) for i in range(0, 500, 100)}
    assert len(lines) == len(expected) and set(lines) == expected


def test_a_check_line_that_cannot_be_written_as_text_is_the_event_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dataclasses

    from server.auth import audit as au
    from server.auth.gate import AuthConfig, Gate, Route
    from server.auth.principal import Principal
    from server.auth.scopes import Listener, policy_for

    def broken(*args: object) -> str:
        raise RuntimeError("a bug")

    principal = Principal("svc", "iss", "jwt", frozenset(), frozenset(), "kid")
    request, response = _check_call()
    monkeypatch.setattr(au, "new_id", lambda: "e" * 32)
    lines = _Lines()
    config = AuthConfig(Listener.DATA, None, None, lines)  # type: ignore[arg-type]
    route = Route.of(config, au.CHECK, policy_for(au.CHECK))
    for each, make in (
        (dataclasses.replace(route, check=False, deferred=False), au.check_line),
        (route, broken),
    ):
        monkeypatch.setattr(au, "check_line", make)
        gate = Gate(config, each, _Context("ipv4:127.0.0.1:1"))  # type: ignore[arg-type]
        gate.principal, gate.request, gate.started = principal, request, 1767225600.0
        gate.succeeded(response)
    assert [kind for kind, _ in lines.lines] == ["event", "later"]
    assert lines.lines[0][1] == lines.lines[1][1]


def test_errors_are_recorded_as_error(deployment: Deployment, keys: Keys) -> None:
    request = permission_service_pb2.CheckRequest(store_id="default")  # no resource
    with pytest.raises(grpc.RpcError):
        deployment.perm().Check(request, metadata=bearer(keys["ec"].sign(claims())), timeout=10)
    event = deployment.audit()[-1]
    assert (event["decision"], event["status"]) == ("ERROR", "INVALID_ARGUMENT")


def test_a_line_is_exactly_what_json_dumps_makes_of_the_event() -> None:
    import json

    from server.auth.audit import encode, new_event

    event = new_event("data", "/rebac.api.v1.PermissionService/Check", "r1", "ipv4:1.2.3.4:5")
    assert list(event) != sorted(event) and set(event) == set(FIELDS)
    event.update(
        principal={"sub": 'a"b\\c\n\x1b', "iss": "é☃"},
        items=[{"resource": "d:1", "decision": "ALLOW"}],
        detail="\u2028</script>",
        revision=None,
    )
    expected = json.dumps(event, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    assert encode(event) == expected
    assert json.loads(encode(event)) == event


def test_the_time_of_an_event_is_utc_to_the_millisecond() -> None:
    import random
    from datetime import UTC, datetime

    from server.auth.audit import utc_text

    rng = random.Random(7)
    for when in [0.0, 0.9995, 1.0, 1767225600.0, 1767225600.9999996] + [
        rng.uniform(0, 4e9) for _ in range(2000)
    ]:
        expected = datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds")
        assert utc_text(when) == expected.replace("+00:00", "Z"), when


class _Lines:
    """An audit log that keeps its lines (the Gate writes through ``write_line``)."""

    healthy = True

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def write(self, event: dict[str, object]) -> None:
        from server.auth.audit import encode

        self.lines.append(("event", encode(event)))

    def write_line(self, line: str) -> None:
        self.lines.append(("text", line))

    def write_later(self, make: Callable[..., str], *args: object) -> None:
        self.lines.append(("later", make(*args)))


class _Context:
    def __init__(self, peer: str):
        self._peer = peer

    def peer(self) -> str:
        return self._peer


_ODD = 'a"b\\c\n\x1b\u2028é☃</script>'


def _check_call(
    *,
    store: str = "default",
    resource: tuple[str, str] = ("document", "d1"),
    permission: str = "view",
    subject: tuple[str, str, str] = ("user", "alice", ""),
    permissionship: int = core_pb2.PERMISSIONSHIP_HAS_PERMISSION,
    token: str | None = "tok-1",
) -> tuple[permission_service_pb2.CheckRequest, permission_service_pb2.CheckResponse]:
    request = permission_service_pb2.CheckRequest(
        store_id=store,
        resource=_ref(*resource),
        permission=permission,
        subject=core_pb2.SubjectReference(
            object=_ref(subject[0], subject[1]), optional_relation=subject[2]
        ),
    )
    response = permission_service_pb2.CheckResponse(permissionship=permissionship)
    if token is not None:
        response.checked_at.token = token
    return request, response


@pytest.mark.parametrize(
    "call",
    [
        {},
        {"permissionship": core_pb2.PERMISSIONSHIP_NO_PERMISSION, "subject": ("g", "e", "member")},
        {"permissionship": core_pb2.PERMISSIONSHIP_CONDITIONAL_PERMISSION, "token": None},
        {"permissionship": core_pb2.PERMISSIONSHIP_UNSPECIFIED, "store": ""},
        {"store": _ODD, "resource": (_ODD, _ODD), "permission": _ODD, "subject": (_ODD,) * 3},
        {"store": "s" * 300, "resource": ("t" * 200, "i" * 300), "permission": "p" * 200},
        {"subject": ("u" * 200, "x" * 300, "r" * 200), "token": _ODD},
    ],
    ids=[
        "allow",
        "deny-userset",
        "conditional-no-token",
        "unspecified-no-store",
        "odd",
        "long",
        "long-subject",
    ],
)
@pytest.mark.parametrize(
    "who",
    [
        ("svc:billing", "https://issuer.example", "jwt", "ec-1", "ipv4:127.0.0.1:5000", "r-1"),
        (_ODD * 40, _ODD, "api_key", _ODD * 40, _ODD * 40, _ODD),
    ],
    ids=["plain", "odd"],
)
def test_a_checks_line_written_as_text_is_the_line_of_its_event(
    call: dict[str, object], who: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses
    import json

    from server.auth import audit as au
    from server.auth.gate import AuthConfig, Gate, Route
    from server.auth.principal import Principal
    from server.auth.scopes import Listener, policy_for

    sub, iss, method, credential, peer, request_id = who
    principal = Principal(sub, iss, method, frozenset(), frozenset(), credential)
    request, response = _check_call(**call)  # type: ignore[arg-type]
    monkeypatch.setattr(au, "new_id", lambda: "e" * 32)
    lines = _Lines()
    config = AuthConfig(Listener.DATA, None, None, lines)  # type: ignore[arg-type]
    route = Route.of(config, au.CHECK, policy_for(au.CHECK))
    assert route.check
    general = dataclasses.replace(route, check=False, deferred=False)
    for each in (route, general):
        gate = Gate(config, each, _Context(peer))  # type: ignore[arg-type]
        gate.request_id, gate.started = request_id, 1767225600.25
        gate.principal, gate.request = principal, request
        gate.succeeded(response)
    assert [kind for kind, _ in lines.lines] == ["later", "event"]
    (_, as_text), (_, of_event) = lines.lines
    assert as_text == of_event
    assert json.loads(as_text)["store"] == (au.clip(request.store_id, au.MAX_FIELD) or None)


def test_texts_a_check_line_keeps_between_calls_never_cross_into_another_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """check_line keeps the texts of the last principals, peers, stores and answer; calls
    that alternate between them must each still get exactly their event's line."""
    import dataclasses
    import itertools

    from server.auth import audit as au
    from server.auth.gate import AuthConfig, Gate, Route
    from server.auth.principal import Principal
    from server.auth.scopes import Listener, policy_for

    monkeypatch.setattr(au, "new_id", lambda: "e" * 32)
    principals = [
        Principal("svc:a", "iss-a", "jwt", frozenset(), frozenset(), "kid-a"),
        Principal("svc:b", "iss-b", "api_key", frozenset(), frozenset(), "key-b"),
    ]
    calls = [
        _check_call(),
        _check_call(
            store="other", token="tok-2", permissionship=core_pb2.PERMISSIONSHIP_NO_PERMISSION
        ),
        _check_call(token=None),
    ]
    peers = ["ipv4:127.0.0.1:1", "ipv6:[::1]:2"]
    config = AuthConfig(Listener.DATA, None, None, _Lines())  # type: ignore[arg-type]
    route = Route.of(config, au.CHECK, policy_for(au.CHECK))
    general = dataclasses.replace(route, check=False, deferred=False)
    for principal, (request, response), peer in itertools.product(principals, calls, peers):
        lines = _Lines()
        config = AuthConfig(Listener.DATA, None, None, lines)  # type: ignore[arg-type]
        for each in (route, general):
            gate = Gate(config, each, _Context(peer))  # type: ignore[arg-type]
            gate.request_id, gate.started = "r-1", 1767225600.5
            gate.principal, gate.request = principal, request
            gate.succeeded(response)
        (_, as_text), (_, of_event) = lines.lines
        assert as_text == of_event
