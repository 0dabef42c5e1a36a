"""No product path queries a running order (README, "Known SDK race").

A query that reaches a worker while a workflow task waits can record a history the order can
never replay. The gateway, the CLI and intake read the read model and their updates' answers:
here every client call the gateway makes is counted through a client interceptor while an order
goes from intake through every kind of read and action to closed — and not one is a query. The
dev server itself refuses queries (as `./run.sh` and the compose deployment configure it), and
the CLI's reads work with Temporal unreachable.
"""
from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client, Interceptor, OutboundInterceptor

from tests.api.test_api import ORDER, H, live_api, prepare
from tests.cli.test_cli import cli
from tests.harness import seed_order_numbers


class CountingInterceptor(Interceptor):
    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        counter = self

        class Counting(OutboundInterceptor):
            def __getattribute__(self, name):
                attr = super().__getattribute__(name)
                if callable(attr) and not name.startswith("_") and name != "next":
                    counter.calls[name] = counter.calls.get(name, 0) + 1
                return attr
        return Counting(next)


async def test_the_gateway_never_queries_a_running_order(dev_env, sqlite_db):
    seed_order_numbers(sqlite_db)
    keys = prepare(sqlite_db)
    counting = CountingInterceptor()
    client = Client(**{**dev_env.client.config(), "interceptors": [counting]})
    admin, zjj = H(keys["admin"]), H(keys["ZJJ"])
    async with live_api(client, sqlite_db, search_attributes=True) as (c, _):
        r = await c.post("/api/v1/orders", headers=H(keys["intake"]), json={**ORDER, "owner": "ZJJ"})
        assert r.status_code == 201, r.text
        no = r.json()["order_no"]
        for action, key, body in (("sign", zjj, {}), ("contact", zjj, {"note": "已联系"}),
                                  ("reply", zjj, {"result": "已处理", "resolved": True})):
            assert (await c.get(f"/api/v1/orders/{no}", headers=key)).status_code == 200
            assert (await c.post(f"/api/v1/orders/{no}/{action}", headers=key, json=body)).status_code == 200
        assert (await c.get("/api/v1/orders", headers=admin)).status_code == 200
        assert (await c.get("/api/v1/units/ZJJ/supervision", headers=admin)).status_code == 200
        assert (await c.get(f"/open311/v2/requests/{no}.json")).status_code == 200
        r = await c.post(f"/api/v1/orders/{no}/callback", headers=admin,
                         json={"answered": True, "resolved": True, "satisfaction": "satisfied"})
        assert r.status_code == 200 and r.json()["stage"] == "closed"
    # intake as one start (answered from the start), then one update per action; nothing else, and
    # no query (the worker's commit watcher reads history tails straight from the service, workflows/commits.py)
    calls = dict(counting.calls)
    assert calls == {"start_workflow": 1, "start_workflow_update": 4}, counting.calls
    # and the server would not have answered one anyway
    with pytest.raises(Exception, match="not allowed to query"):
        await dev_env.client.get_workflow_handle(f"order-{no}").query("state")


async def test_cli_reads_need_no_temporal(dev_env, sqlite_db):
    from hotline.domain.models import IntakeRequest
    from hotline.services.intake import intake_order
    from tests.harness import router, running_worker

    seed_order_numbers(sqlite_db)
    prepare(sqlite_db)
    async with running_worker(dev_env.client, sqlite_db) as h:
        st = await intake_order(sqlite_db, h.engine, router(), IntakeRequest.model_validate({**ORDER, "owner": "ZJJ"}))
    dead = {"TEMPORAL_ADDRESS": "127.0.0.1:9"}  # nothing listens there
    for args in (("show", st.order_no), ("list", "--owner", "ZJJ"), ("supervision", "ZJJ")):
        r = await asyncio.to_thread(cli, *args, db=sqlite_db, **dead)
        assert r.returncode == 0, (args, r.stderr)
        if args[0] == "show":
            assert st.order_no in r.stdout and "stage=dispatched" in r.stdout


async def test_the_worker_checks_that_the_namespace_refuses_queries(dev_env, caplog):
    from temporalio.testing import WorkflowEnvironment

    from tests.conftest import _binary
    from worker import _check_queries_refused
    assert await _check_queries_refused(dev_env.client)  # as shipped: refused
    env = await WorkflowEnvironment.start_time_skipping(  # a server that answers queries
        test_server_existing_path=_binary("temporal-test-server"))
    try:
        with caplog.at_level("WARNING", logger="hotline.worker"):
            assert not await _check_queries_refused(env.client)
        assert any("system.disallowQuery=true" in r.getMessage() for r in caplog.records)
    finally:
        await env.shutdown()
