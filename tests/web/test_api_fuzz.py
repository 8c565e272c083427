"""The JSON API fuzzed from its own OpenAPI document (hypothesis), signed in as a supervisor:
whatever the path, query and body, the answer is never a 5xx and is always JSON."""
from __future__ import annotations

import json
import os
import string
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sesshu.ledger.service import CORRECTABLE
from tests.fuzz_strategies import EXAMPLES, FUZZ, dates
from tests.web.conftest import add_record, login

ANY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
WEIRD = st.sampled_from(["", "0", "-1", "2147483648", "99999999999999999999", "1e3", "null", "％", "../..", "%00",
                         "\x00", "R5.4.1", "令和5年4月1日", "９９", "' OR 1=1 --", "<script>"])


def _resolve(schema: dict, doc: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][name]
    return schema


def value_for(schema: dict, doc: dict, depth: int = 0) -> st.SearchStrategy:
    """Values that fit the schema, mixed with values that do not (the API must answer both calmly)."""
    schema = _resolve(schema, doc)
    if "anyOf" in schema:
        return st.one_of([value_for(s, doc, depth + 1) for s in schema["anyOf"]])
    kind = schema.get("type")
    wrong = st.one_of(st.none(), st.booleans(), st.integers(), ANY_TEXT, st.lists(st.integers(), max_size=2))
    if kind == "integer":
        lo, hi = schema.get("minimum"), schema.get("maximum")
        fitting = st.integers(int(lo) if lo is not None else -(2**31), int(hi) if hi is not None else 2**31)
        small = st.integers(int(lo) if lo is not None else 0, 3)
        return st.one_of(small, small, fitting, st.integers(), wrong) if depth else st.one_of(small, fitting, st.integers())
    if kind == "string":
        fitting = st.from_regex(schema["pattern"], fullmatch=True) if "pattern" in schema else \
            st.text(max_size=schema.get("maxLength", 40))
        return st.one_of(fitting, WEIRD, dates(), st.text(max_size=schema.get("maxLength", 40) + 5))
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(value_for(schema.get("items", {}), doc, depth + 1), max_size=3)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        fields = {k: value_for(v, doc, depth + 1) for k, v in props.items()}
        extra = schema.get("additionalProperties")
        extras = st.dictionaries(st.sampled_from(sorted(CORRECTABLE) + ["status", "id", "atena_no", "x" * 50]),
                                 value_for(extra, doc, depth + 1) if isinstance(extra, dict) else ANY_TEXT,
                                 max_size=4) if extra else st.just({})

        @st.composite
        def build(draw):
            out = {}
            for k, strat in fields.items():
                if k in required and draw(st.integers(0, 19)) or k not in required and draw(st.booleans()):
                    out[k] = draw(strat)
            out.update(draw(extras))
            return out
        return st.one_of(build(), build(), build(), wrong) if depth == 0 else build()
    return wrong


@st.composite
def api_request(draw, doc: dict, record_ids: list[int]):
    path, ops = draw(st.sampled_from(sorted(doc["paths"].items())))
    method, op = draw(st.sampled_from(sorted(ops.items())))
    url, params = path, {}
    for p in op.get("parameters", []):
        if p["in"] == "path":
            if p["name"] == "record_id" and draw(st.integers(0, 3)):
                value = draw(st.sampled_from(record_ids))
            else:
                value = draw(st.one_of(value_for(p["schema"], doc), WEIRD))
            url = url.replace("{" + p["name"] + "}", quote(str(value), safe="") or "0")
        elif p["in"] == "query" and (p.get("required") or draw(st.booleans())):
            params[p["name"]] = str(draw(value_for(p["schema"], doc)))
    body = None
    if "requestBody" in op:
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        body = draw(value_for(schema, doc))
    return method.upper(), url, params, body


@pytest.fixture
def signed_in(client, db, make_staff, persons):
    records = [add_record(db, persons["plain"]), add_record(db, persons["hostile"], vaccine="BCG")]
    csrf = login(client, make_staff("supervisor"))
    doc = client.get("/api/v1/openapi.json")
    assert doc.status_code == 200
    return client, csrf, doc.json(), records


def test_api_answers_every_generated_request_without_a_server_error(signed_in):
    client, csrf, doc, records = signed_in
    assert any(p.startswith("/api/v1/") for p in doc["paths"])

    @settings(FUZZ, max_examples=EXAMPLES * 6)
    @given(req=api_request(doc, records))
    def probe(req):
        method, url, params, body = req
        headers = {"X-CSRF-Token": csrf}
        if body is not None:
            headers["Content-Type"] = "application/json"
        r = client.request(method, url, params=params, headers=headers,
                           content=None if body is None else json.dumps(body, ensure_ascii=False).encode())
        seen.append(r.status_code)
        if os.environ.get("SESSHU_FUZZ_VERBOSE"):
            print(method, url, r.status_code)
        assert r.status_code < 500, (method, url, params, body, r.status_code, r.text[:300])
        if url.startswith("/api/"):
            payload = r.json()
            if r.status_code >= 400:
                assert payload["error"]["message"], payload

    seen: list[int] = []
    probe()
    # The generator reaches the handlers, not only the validators.
    assert any(code < 300 for code in seen) and any(code in (400, 404, 409, 422) for code in seen), sorted(set(seen))


def test_the_schema_is_for_signed_in_staff_only(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 401 and set(string.ascii_letters) & set(r.json()["error"]["code"])
