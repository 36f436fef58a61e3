"""Every caveat in the conformance corpus compiles, and the results its assertions imply hold."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from rebac.caveats import CompiledCaveat, compile_caveat
from rebac.errors import SchemaError
from rebac.schema.ast import Caveat, CaveatParameter

from .helpers import mk, parse_type

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
SPICEDB = CORPUS / "spicedb"

_CAVEAT_HEAD = re.compile(r"caveat\s+([a-z][\w/]*)\s*\(([^)]*)\)\s*\{")


def extract_caveats(schema: str) -> list[Caveat]:
    """A minimal extractor for ``caveat name(params) { expr }`` blocks (brace matching that
    skips string literals), independent of the schema parser."""
    out = []
    for m in _CAVEAT_HEAD.finditer(schema):
        i = m.end()
        depth = 1
        quote = ""
        j = i
        while depth:
            ch = schema[j]
            if quote:
                if ch == "\\":
                    j += 1
                elif ch == quote:
                    quote = ""
            elif ch in "'\"":
                quote = ch
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            j += 1
        expr = schema[i : j - 1].strip()
        params = []
        for part in m.group(2).split(","):
            if part.strip():
                pname, ptype = part.split(None, 1)
                params.append(CaveatParameter(pname, parse_type(ptype)))
        out.append(Caveat(m.group(1), tuple(params), expr))
    return out


def _corpus_files() -> list[Path]:
    if not SPICEDB.is_dir():
        return []
    files = sorted(p for p in SPICEDB.glob("*.yaml") if "caveat " in p.read_text())
    parser_dir = CORPUS / "spicedb-schema" / "parser"
    for stem in ("superlarge", "basiccaveat", "caveat_unicode", "multipleslashes"):
        if (parser_dir / f"{stem}.zed").exists():
            files.append(parser_dir / f"{stem}.zed")
    return files


def _schema_of(path: Path) -> str:
    if path.suffix == ".zed":
        return path.read_text()
    return str(yaml.safe_load(path.read_text())["schema"])


CORPUS_CAVEATS = [
    pytest.param(c, id=f"{p.stem}:{c.name}")
    for p in _corpus_files()
    for c in extract_caveats(_schema_of(p))
]


def test_corpus_is_present() -> None:
    if not SPICEDB.is_dir():
        pytest.skip("conformance corpus not present")
    assert len(CORPUS_CAVEATS) >= 25


@pytest.mark.parametrize("caveat", CORPUS_CAVEATS)
def test_every_corpus_caveat_compiles(caveat: Caveat) -> None:
    compiled = compile_caveat(caveat)
    assert compiled.name == caveat.name
    assert dict(compiled.parameters) == {p.name: p.type for p in caveat.parameters}
    missing = compiled.evaluate({})
    assert isinstance(missing, frozenset)
    assert missing and missing <= {p.name for p in caveat.parameters}


# ---------------------------------------------------------------------------------------------
# Files whose permission is ``view = viewer`` over direct relationships: the expected result of
# each assertion follows from the one relationship of the subject, so it can be derived.

DIRECT_FILES = ["basiccaveat", "caveatmap", "caveatlist", "caveatip", "caveatexpiration"]

_REL = re.compile(r"^(?P<res>[^#]+)#(?P<rel>\w+)@(?P<subj>[^\[]+)(?:\[(?P<caveat>.*)\])?$")


def _direct_cases() -> list[Any]:
    cases: list[Any] = []
    for stem in DIRECT_FILES:
        path = SPICEDB / f"{stem}.yaml"
        if not path.exists():
            continue
        doc = yaml.safe_load(path.read_text())
        caveats = {c.name: compile_caveat(c) for c in extract_caveats(doc["schema"])}
        rels: dict[tuple[str, str], tuple[str | None, dict[str, Any]]] = {}
        for line in doc["relationships"].split("\n"):
            line = line.strip()
            if not line or line.startswith("//"):
                continue
            m = _REL.match(line)
            assert m, line
            cav = m.group("caveat")
            if cav is None:
                rels[(m.group("res"), m.group("subj"))] = (None, {})
            else:
                cname, _, ctx = cav.partition(":")
                rels[(m.group("res"), m.group("subj"))] = (cname, json.loads(ctx) if ctx else {})
        expect_of = {"assertTrue": True, "assertFalse": False, "assertCaveated": "caveated"}
        for key, expected in expect_of.items():
            for text in doc["assertions"].get(key) or []:
                rel_text, _, ctx_text = text.strip().partition(" with ")
                m = _REL.match(rel_text)
                assert m, rel_text
                request_ctx = json.loads(ctx_text) if ctx_text else {}
                cname, stored = rels[(m.group("res"), m.group("subj"))]
                compiled = caveats[cname] if cname else None
                cases.append(
                    pytest.param(compiled, request_ctx, stored, expected, id=f"{stem}:{text}")
                )
    return cases


@pytest.mark.parametrize(("caveat", "request_ctx", "stored", "expected"), _direct_cases())
def test_direct_assertions(
    caveat: CompiledCaveat | None,
    request_ctx: dict[str, Any],
    stored: dict[str, Any],
    expected: Any,
) -> None:
    if caveat is None:  # uncaveated relationship: always a member
        assert expected is True
        return
    context = caveat.convert_context(request_ctx)
    context.update(caveat.convert_context(stored))  # stored context wins
    result = caveat.evaluate(context)
    if expected == "caveated":
        assert isinstance(result, frozenset) and result
    else:
        assert result is expected


# ---------------------------------------------------------------------------------------------
# Caveat-level truth tables behind the other files' assertions.


def _eval(c: CompiledCaveat, stored: dict[str, Any], request: dict[str, Any]) -> Any:
    ctx = c.convert_context(request)
    ctx.update(c.convert_context(stored))
    return c.evaluate(ctx)


def test_caveatlr_timestamps_with_offsets() -> None:
    c = mk("now < expires_at", expires_at="timestamp", now="timestamp")
    tom_resource = {"expires_at": "2024-10-03T14:16:30.776734Z"}
    tom_container = {"expires_at": "2024-10-03T07:16:28.068632-07:00"}  # 14:16:28.068632Z
    assert _eval(c, tom_resource, {"now": "2023-01-01T00:00:00Z"}) is True
    assert _eval(c, tom_container, {"now": "2023-01-01T00:00:00Z"}) is True
    assert _eval(c, tom_resource, {"now": "2025-01-01T00:00:00Z"}) is False
    # the offset is honoured: one second after 14:16:28Z is past the container expiry
    assert _eval(c, tom_container, {"now": "2024-10-03T14:16:29Z"}) is False
    assert _eval(c, tom_container, {"now": "2024-10-03T14:16:28Z"}) is True
    assert _eval(c, tom_container, {}) == frozenset({"now"})


def test_caveatindirectarrow_membership_in_list() -> None:
    c = mk("me in admin_teams", admin_teams="list<string>", me="string")
    assert _eval(c, {"me": "A"}, {"admin_teams": ["A"]}) is True
    assert _eval(c, {"me": "A"}, {"admin_teams": ["B"]}) is False
    assert _eval(c, {"me": "B"}, {"admin_teams": ["B"]}) is True
    assert _eval(c, {"me": "A"}, {}) == frozenset({"admin_teams"})


def test_caveatmultiplebranchessamerel_uint_limits() -> None:
    c = mk("count < limit", limit="uint", count="uint")
    assert _eval(c, {"limit": 2}, {"count": 3}) is False
    assert _eval(c, {"limit": 4}, {"count": 3}) is True  # the other branch grants: OR
    assert _eval(c, {"limit": 4}, {}) == frozenset({"count"})


def test_quay_geo_ban() -> None:
    c = mk("!user_ip.in_cidr(cidr)", user_ip="ipaddress", cidr="string")
    stored = {"cidr": "1.0.0.0/8"}
    assert _eval(c, stored, {"user_ip": "2.3.4.5"}) is True
    assert _eval(c, stored, {"user_ip": "10.11.12.13"}) is True
    assert _eval(c, stored, {"user_ip": "1.2.3.4"}) is False
    assert _eval(c, stored, {"user_ip": "1.10.20.30"}) is False
    assert _eval(c, stored, {}) == frozenset({"user_ip"})


def test_allopscaveat_caveats() -> None:
    some = mk("somecondition == 42", somecondition="int")
    another = mk("anothercondition == 'hello world'", anothercondition="string")
    third = mk("thirdcondition", thirdcondition="bool")
    assert _eval(some, {}, {"somecondition": 42}) is True
    assert _eval(some, {}, {"somecondition": 41.0}) is False  # Struct numbers are doubles
    assert _eval(another, {}, {"anothercondition": "hello world"}) is True
    assert _eval(another, {}, {"anothercondition": "hello"}) is False
    assert _eval(third, {"thirdcondition": True}, {}) is True
    assert _eval(third, {}, {}) == frozenset({"thirdcondition"})


def test_caveatedintersectionarrow_caveats() -> None:
    member = mk("memberparam >= 42", memberparam="int")
    team = mk("teamparam < 42", teamparam="int")
    assert _eval(member, {}, {"memberparam": 42}) is True
    assert _eval(member, {}, {"memberparam": 41}) is False
    assert _eval(team, {}, {"teamparam": 41}) is True
    assert _eval(team, {}, {"teamparam": 42}) is False
    assert _eval(team, {}, {"memberparam": 42}) == frozenset({"teamparam"})


def test_multipleslashes_caveat_name() -> None:
    c = mk("day_of_week == 'tuesday'", day_of_week="string")
    assert _eval(c, {}, {"day_of_week": "tuesday"}) is True
    assert _eval(c, {}, {"day_of_week": "monday"}) is False


@pytest.mark.parametrize(
    ("stem", "fragment"),
    [
        ("complexcaveat", "unknown identifier 'something'"),  # parses upstream, does not check
        ("caveatwithkeywordparam", "unknown method 'isSubtreeOf'"),
    ],
)
def test_parser_only_corpus_caveats_do_not_compile(stem: str, fragment: str) -> None:
    path = CORPUS / "spicedb-schema" / "parser" / f"{stem}.zed"
    if not path.exists():
        pytest.skip("conformance corpus not present")
    errors = []
    for caveat in extract_caveats(path.read_text()):
        with pytest.raises(SchemaError) as info:
            compile_caveat(caveat)
        errors.append(info.value.message)
    assert any(fragment in e for e in errors), errors
