"""End to end on the real stack: the Temporal dev server (with our search attributes), a real
worker, the SQLite store and the HTTP app — intake → sign → contact → reply → callback → closed,
all over HTTP with three different keys (intake, the owner's department key, admin).
"""
from __future__ import annotations

import asyncio

from hotline.domain.models import OrderState, Stage
from tests.api.test_api import NAME, ORDER, PHONE, H, live_api, prepare
from tests.harness import seed_order_numbers


async def _visible(client, query: str, expect: int, tries: int = 50) -> list:
    """Visibility is eventually consistent: poll until the list settles."""
    found: list = []
    for _ in range(tries):
        found = [w async for w in client.list_workflows(query)]
        if len(found) == expect:
            return found
        await asyncio.sleep(0.2)
    return found


async def test_intake_to_closed_over_http_with_three_keys(dev_env, sqlite_db):
    seed_order_numbers(sqlite_db)
    keys = prepare(sqlite_db)
    intake, owner, admin = H(keys["intake"]), H(keys["ZJJ"]), H(keys["admin"])
    async with live_api(dev_env.client, sqlite_db, search_attributes=True) as (c, h):
        r = await c.post("/api/v1/orders", headers={**intake, "Idempotency-Key": "e2e-1"}, json=ORDER)
        assert r.status_code == 201, r.text
        order = r.json()
        no = order["order_no"]
        assert order["workflow_id"] == f"order-{no}" and order["stage"] == "dispatched" and order["owner"] == "ZJJ"
        assert order["deadlines"]["sign_by"] and order["deadlines"]["reply_by"]
        assert order["deadlines"]["sign_by"].endswith(("Z", "+00:00")) or "+" in order["deadlines"]["sign_by"]
        assert order["routing"], "the routing evidence comes with the order"
        assert order["petitioner"]["phone"] != PHONE  # the intake key sees it masked

        # the same Idempotency-Key again: the same order, and Temporal holds exactly one workflow for it
        again = await c.post("/api/v1/orders", headers={**intake, "Idempotency-Key": "e2e-1"}, json=ORDER)
        assert again.status_code == 201 and again.json()["order_no"] == no
        assert len(await _visible(dev_env.client, f'WorkflowId = "order-{no}"', 1)) == 1

        steps = [("sign", owner, {}, "signed"), ("contact", owner, {"note": "已电话联系，明早到现场"}, "handling"),
                 ("reply", owner, {"result": "已责令工地夜间停工", "resolved": True}, "callback"),
                 ("callback", admin, {"answered": True, "resolved": True, "satisfaction": "satisfied"}, "closed")]
        for action, key, body, stage in steps:
            r = await c.post(f"/api/v1/orders/{no}/{action}", headers=key, json=body)
            assert r.status_code == 200, (action, r.text)
            assert r.json()["stage"] == stage, (action, r.json()["stage"])
        final = r.json()
        assert final["close_reason"] == "resolved"
        assert final["petitioner"] == {"name": NAME, "phone": PHONE}  # admins see the petitioner

        # the workflow finished, the read model and the history of actions say the same
        handle = dev_env.client.get_workflow_handle(f"order-{no}", result_type=OrderState)
        assert (await handle.result()).stage == Stage.closed
        got = (await c.get(f"/api/v1/orders/{no}", headers=owner)).json()
        assert [a["action"] for a in got["actions"]] == [
            "intake", "dispatch", "sign", "contact", "reply", "callback-start", "callback", "close"]
        by = {a["action"]: a["by"] for a in got["actions"]}
        assert by["sign"] == by["contact"] == by["reply"] == "ZJJ" and by["callback"].startswith("admin:")
        listed = (await c.get("/api/v1/orders", params={"stage": "closed"}, headers=admin)).json()
        assert [i["order_no"] for i in listed["items"]] == [no]

        # the Temporal UI's filters find it by the custom search attributes
        hits = await _visible(dev_env.client, f'OrderNo = "{no}" AND Owner = "ZJJ" AND Stage = "closed"', 1)
        assert [w.id for w in hits] == [f"order-{no}"]

        # and a closed order takes no more actions
        r = await c.post(f"/api/v1/orders/{no}/reply", headers=owner, json={"result": "x", "resolved": True})
        assert r.status_code == 409 and "closed" in r.json()["error"]["message"]
