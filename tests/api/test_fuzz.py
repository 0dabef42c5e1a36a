"""Property-based run of the whole OpenAPI schema (schemathesis): every endpoint, no 5xx.

The real app is served by uvicorn on a free port in the test's event loop, beside a real
worker on the Temporal dev server and a SQLite store; hypothesis drives requests from a
thread. Each operation runs three ways: "aimed" (the key of the role the endpoint needs, and
the example pointed at live orders in three stages, real units and services, so bodies reach
the workflow's validators), "random" (that key, schemathesis' own values) and "made-up key".
HOTLINE_FUZZ_EXAMPLES sets the examples per operation; HOTLINE_FUZZ_STATS=1 prints the
status codes each operation got.
"""
from __future__ import annotations

import asyncio
import json
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from hotline.api.app import create_app
from hotline.domain.models import ContactAction, IntakeRequest, ReplyAction, SignAction
from hotline.domain.transitions import DEPARTMENT_ACTIONS
from hotline.services.intake import intake_order
from hotline.store import Database
from tests.api.test_api import ORDER, prepare
from tests.conftest import CODEC, free_port
from tests.harness import router, running_worker, seed_order_numbers

EXAMPLES = int(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "25"))
OPERATIONS = sorted((path, method.upper())
                    for path, item in create_app(None, None, None).openapi()["paths"].items()
                    for method in item)


@dataclass
class Stack:
    base_url: str
    schema: object
    keys: dict
    orders: list[str]  # live orders of ZJJ: dispatched, in handling, waiting for callback


@pytest_asyncio.fixture(scope="module")
async def stack(dev_env, tmp_path_factory):
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'hotline.db'}")
    db.migrate()
    seed_order_numbers(db)
    keys = prepare(db)
    async with running_worker(dev_env.client, db, search_attributes=True) as h:
        app = create_app(db, h.engine, router(), codec=CODEC)  # as production: the codec server too
        orders = []
        for steps in ([], [SignAction(by="ZJJ"), ContactAction(by="ZJJ", note="n")],
                      [SignAction(by="ZJJ"), ContactAction(by="ZJJ", note="n"),
                       ReplyAction(by="ZJJ", result="r", resolved=True)]):
            st_ = await intake_order(db, h.engine, app.state.unit_router, IntakeRequest.model_validate(ORDER))
            for a in steps:
                await h.engine.act(st_.order_no, a.__class__.__name__.removesuffix("Action").lower(), a)
            orders.append(st_.order_no)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical",
                                               lifespan="off"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        schema = schemathesis.openapi.from_dict(app.openapi())
        try:
            yield Stack(f"http://127.0.0.1:{port}", schema, keys, orders)
        finally:
            server.should_exit = True
            await task
    db.dispose()


def _key(stack: Stack, path: str) -> str:
    action = path.rsplit("/", 1)[-1]
    return stack.keys["ZJJ" if action in DEPARTMENT_ACTIONS else "admin"]


def _aim(stack: Stack, case, pick: int) -> None:
    """Point the example at things that exist: a live order, a real unit, a real service."""
    real = {"order_no": stack.orders[pick % len(stack.orders)], "service_request_id": stack.orders[pick % 3],
            "code": "ZJJ", "service_code": ("SWJ-01", "GENERAL")[pick % 2]}
    for name in list(case.path_parameters or {}):
        if name in real:
            case.path_parameters[name] = real[name]
    query = case.query if isinstance(case.query, dict) else {}
    for name, value in (("from", "2026-01-01"), ("to", ("2026-12-31", "2027-01-01T00:00:00+08:00")[pick % 2]),
                        ("unit", "ZJJ"), ("owner", "ZJJ")):
        if name in query:
            query[name] = value
    body = case.body if isinstance(case.body, dict) else {}
    unit = ("SWJ", "JTJ", "JTTZ")[pick % 3]
    if case.path.startswith("/open311/") and case.method.upper() == "POST":
        # the public POST as a citizen's app sends it: most fields right, so examples make real
        # orders and the rest of the body (fuzzed) meets the intake; the key in the body or not at all
        body.update({"service_code": real["service_code"], "description": body.get("description") or "路灯不亮",
                     "lat": 18.25, "long": 109.51, "attribute[district]": "JYQ"})
        if pick % 3:
            body["api_key"] = stack.keys["intake"]
        else:
            body.pop("api_key", None)
    if "service_code" in body:
        body["service_code"] = real["service_code"]
    if "phone" in body:
        body["phone"] = "13800001234"
    for field in ("owner", "claimed_unit", "new_owner"):
        if body.get(field) is not None:
            body[field] = unit
    for i, c in enumerate(body.get("co_handlers") or []):
        if isinstance(c, dict) and "unit" in c:
            c["unit"] = ("SWJ", "JTJ", "JTTZ", "GDJ")[(pick + i) % 4]


def _run(stack: Stack, path: str, method: str, mode: str, examples: int) -> None:
    op = stack.schema[path][method]

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(), pick=st.integers(0, 5))
    def check(case, pick):
        headers = {}
        public_post = path.startswith("/open311/") and method == "POST"  # its key travels in the body
        if mode != "made-up key" and not public_post:  # otherwise the key schemathesis generated, if any
            headers["X-API-Key"] = _key(stack, path)
        if mode == "aimed":
            _aim(stack, case, pick)
        resp = case.call(base_url=stack.base_url, headers=headers, timeout=60)
        assert resp.status_code < 500, (f"{method} {case.formatted_path} ({mode}) → {resp.status_code}: "
                                        f"{resp.text[:400]}")
        if path.startswith("/api/") and resp.status_code >= 400:
            err = resp.json()["error"]
            assert {"code", "message"} <= set(err), resp.text
        assert "Traceback" not in resp.text
        if resp.content.startswith(b"<?xml"):
            ET.fromstring(resp.content)  # Open311's XML is always well-formed
        seen[resp.status_code] = seen.get(resp.status_code, 0) + 1

    seen: dict[int, int] = {}
    check()
    if os.environ.get("HOTLINE_FUZZ_STATS"):  # how deep the examples got: status → count
        print(f"\n{method} {path} [{mode}] {dict(sorted(seen.items()))}")


@pytest.mark.parametrize("mode", ["aimed", "random", "made-up key"])
@pytest.mark.parametrize("path,method", OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
async def test_no_5xx_on_any_endpoint(stack, path, method, mode):
    examples = {"aimed": EXAMPLES, "random": EXAMPLES // 2, "made-up key": max(3, EXAMPLES // 5)}[mode]
    await asyncio.to_thread(_run, stack, path, method, mode, examples)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30)
DEEP = st.builds(lambda n, opener, closed: (opener * n + (b"1" + (b"]" if opener == b"[" else b"}") * n
                                                         if closed else b"")),
                 st.integers(1, 5000), st.sampled_from([b"[", b'{"a":']), st.booleans())


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_the_public_open311_post_takes_any_json_without_a_5xx(stack, fmt):
    """Issue 13: 2,000 nested [ posted here once gave 503. Any JSON document, any nesting depth,
    with an intake key or none: a 4xx (or a real order) in GeoReport's shape, never a 5xx."""
    def run():
        with httpx.Client(base_url=stack.base_url, timeout=60) as c:
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(doc=JSON_VALUES.map(lambda v: json.dumps(v).encode()) | DEEP, keyed=st.booleans())
            def check(doc, keyed):
                headers = {"Content-Type": "application/json"}
                if keyed:
                    headers["X-API-Key"] = stack.keys["intake"]
                r = c.post(f"/open311/v2/requests.{fmt}", content=doc, headers=headers)
                assert r.status_code < 500, (doc[:80], r.status_code, r.text[:300])
                if fmt == "json" and r.status_code >= 400:
                    assert {"code", "description"} <= set(r.json()[0]), r.text
                else:
                    ET.fromstring(r.content) if fmt == "xml" else r.json()
            check()
    await asyncio.to_thread(run)


def test_every_endpoint_of_the_spec_is_in_the_schema():
    paths = {p for p, _ in OPERATIONS}
    for must in ("/api/v1/orders", "/api/v1/orders/{order_no}", "/api/v1/routing", "/api/v1/units",
                 "/api/v1/units/{code}/supervision", "/api/v1/units/import", "/api/v1/kpi",
                 "/open311/v2/discovery.{fmt}",
                 "/open311/v2/services.{fmt}", "/open311/v2/services/{service_code}.{fmt}",
                 "/open311/v2/requests.{fmt}", "/open311/v2/requests/{service_request_id}.{fmt}",
                 "/codec/decode", "/codec/encode"):
        assert must in paths, must
    actions = {p.rsplit("/", 1)[-1] for p in paths if p.startswith("/api/v1/orders/{order_no}/")}
    assert actions == {"sign", "contact", "coordination-plan", "co-handler-done", "extension-request",
                       "return-request", "reply", "return-review", "extension-review", "callback", "flag-staff",
                       "merged-requests", "unmerge"}  # 并单: /merged-requests and .../{request_no}/unmerge
