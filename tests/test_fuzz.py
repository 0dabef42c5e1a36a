"""Property-based run of the whole OpenAPI schema (schemathesis): every endpoint, no 5xx.

The real app is served by uvicorn on a free port in the test's event loop, beside a real
worker on the Temporal dev server and a SQLite store; hypothesis drives requests from a
thread. Each example goes out with the admin key, the owning department's key, or whatever
key schemathesis made up, and half of the examples aimed at an order hit a real, live one,
so action bodies reach the workflow's validators instead of stopping at a 404.
"""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

import pytest
import pytest_asyncio
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from hotline.api.app import create_app
from hotline.models import IntakeRequest
from hotline.orders import intake_order
from hotline.store import Database
from tests.conftest import free_port
from tests.harness import router, running_worker
from tests.test_api import ORDER, prepare

EXAMPLES = int(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "25"))
OPERATIONS = sorted((path, method.upper())
                    for path, item in create_app(None, None, None).openapi()["paths"].items()
                    for method in item)


@dataclass
class Stack:
    base_url: str
    schema: object
    keys: dict
    order_no: str


@pytest_asyncio.fixture(scope="module")
async def stack(dev_env, tmp_path_factory):
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'hotline.db'}")
    db.migrate()
    keys = prepare(db)
    async with running_worker(dev_env.client, db, search_attributes=True) as h:
        app = create_app(db, h.engine, router())
        order = await intake_order(db, h.engine, app.state.router, IntakeRequest.model_validate(ORDER))
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical",
                                               lifespan="off"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        schema = schemathesis.openapi.from_dict(app.openapi())
        try:
            yield Stack(f"http://127.0.0.1:{port}", schema, keys, order.order_no)
        finally:
            server.should_exit = True
            await task
    db.dispose()


def _run(stack: Stack, path: str, method: str) -> None:
    op = stack.schema[path][method]
    is_order = "{order_no}" in path

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(), who=st.sampled_from(["admin", "ZJJ", "generated"]), live=st.booleans())
    def check(case, who, live):
        headers = {} if who == "generated" else {"X-API-Key": stack.keys[who]}
        if is_order and live:
            case.path_parameters["order_no"] = stack.order_no
        resp = case.call(base_url=stack.base_url, headers=headers, timeout=60)
        assert resp.status_code < 500, (f"{method} {case.formatted_path} as {who} → {resp.status_code}: "
                                        f"{resp.text[:400]}")
        if path.startswith("/api/") and resp.status_code >= 400:
            err = resp.json()["error"]
            assert {"code", "message"} <= set(err), resp.text
        assert "Traceback" not in resp.text

    check()


@pytest.mark.parametrize("path,method", OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
async def test_no_5xx_on_any_endpoint(stack, path, method):
    await asyncio.to_thread(_run, stack, path, method)


def test_every_endpoint_of_the_spec_is_in_the_schema():
    paths = {p for p, _ in OPERATIONS}
    for must in ("/api/v1/orders", "/api/v1/orders/{order_no}", "/api/v1/routing", "/api/v1/units",
                 "/api/v1/units/{code}/supervision", "/api/v1/units/import", "/open311/v2/discovery.{fmt}",
                 "/open311/v2/services.{fmt}", "/open311/v2/services/{service_code}.{fmt}",
                 "/open311/v2/requests.{fmt}", "/open311/v2/requests/{service_request_id}.{fmt}"):
        assert must in paths, must
    actions = {p.rsplit("/", 1)[-1] for p in paths if p.startswith("/api/v1/orders/{order_no}/")}
    assert actions == {"sign", "contact", "coordination-plan", "co-handler-done", "extension-request",
                       "return-request", "reply", "return-review", "extension-review", "callback", "flag-staff"}
