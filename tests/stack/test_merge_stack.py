"""并单 on the real stack (dev server, worker, the HTTP API): twenty residents report the same
flooded ditch; the operator finds the first order among each request's duplicate candidates and
merges the nineteen others into it. One order, one set of deadlines; twenty petitioners told at
the reply and surveyed; KPIs count one order and twenty requests; a wrong merge is undone into
an order of its own."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from temporalio.api.enums.v1 import EventType

from hotline.store.apikeys import create_key
from hotline.store.tables import OutboxRow
from tests.api.test_api import ORDER, H, live_api, prepare

PLACES = ["塘边路", "崖州区塘边路", "塘边路南段", "塘边路口"]
WORDS = ["排水沟堵了，下雨积水漫到路上", "水沟全是淤泥垃圾，一下雨路面就淹了", "排水沟不通，路上积水好深",
         "排水沟堵塞，积水进了店铺", "水沟排不出水，路面积水车过不去"]


def report(i: int) -> dict:
    place, words = PLACES[i % len(PLACES)], WORDS[i % len(WORDS)]
    return {**ORDER, "category": "help", "owner": None, "channel": "phone",
            "title": f"{place}排水沟堵了", "description": f"{place}{words}（第{i}位来电）",
            "petitioner": {"name": f"居民{i:02d}", "phone": f"1390000{i:04d}"},
            "location": {"district": "YZQ", "address": f"崖州区{place}"}}


async def _timers_started(client, order_no: str) -> int:
    hist = await client.get_workflow_handle(f"order-{order_no}").fetch_history()
    return sum(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in hist.events)


async def test_twenty_calls_about_one_ditch_become_one_order(dev_env, sqlite_db):
    keys = prepare(sqlite_db)
    since = datetime.now(timezone.utc) - timedelta(days=1)
    async with live_api(dev_env.client, sqlite_db, search_attributes=True) as (c, h):
        intake, admin = H(keys["intake"]), H(keys["admin"])
        r = await c.post("/api/v1/orders", headers=intake, json=report(0))
        assert r.status_code == 201, r.text
        first = r.json()
        no, owner = first["order_no"], first["owner"]
        await h.written(no)  # intake answers from the start: its timers come with the first task
        timers = await _timers_started(dev_env.client, no)
        assert timers == 3  # sign-for, reminder, handling deadline
        numbers = []
        for i in range(1, 20):
            req = report(i)
            # the operator looks before creating anything: the first order is the top candidate
            r = await c.get("/api/v1/routing", headers=intake,
                            params={"text": f"{req['title']} {req['description']}", "district": "YZQ"})
            assert r.status_code == 200, r.text
            assert r.json()["duplicates"][0]["order_no"] == no, (i, r.json()["duplicates"])
            r = await c.post(f"/api/v1/orders/{no}/merged-requests", headers={**intake, "Idempotency-Key": f"m{i}"},
                             json={**req, "note": "同一条排水沟"})
            assert r.status_code == 201, r.text
            body = r.json()
            assert body["merged_into"] == no and body["request_no"] not in numbers + [no]
            numbers.append(body["request_no"])
        # a retried merge (same key, same body) is the same request, merged once
        r = await c.post(f"/api/v1/orders/{no}/merged-requests", headers={**intake, "Idempotency-Key": "m1"},
                         json={**report(1), "note": "同一条排水沟"})
        assert r.status_code == 201 and r.json()["request_no"] == numbers[0], r.text
        st = (await c.get(f"/api/v1/orders/{no}", headers=admin)).json()
        assert [p["request_no"] for p in st["co_petitioners"]] == numbers
        assert st["deadlines"] == first["deadlines"]  # no new deadline
        assert await _timers_started(dev_env.client, no) == timers  # and no new timer
        # a unit that is not the owner sees the co-petitioners masked
        other = (await c.get(f"/api/v1/orders/{no}", headers=H(keys["SWJ"]))).json()
        assert all("*" in p["phone"] and p["phone"] != f"1390000{i:04d}"
                   for i, p in enumerate(other["co_petitioners"], 1))

        # the owner works the order once
        dept = H(create_key(sqlite_db, f"department:{owner}", label="test"))
        for action, body in (("sign", {}), ("contact", {"note": "已到现场查看"}),
                             ("reply", {"result": "已组织清淤疏通排水沟，路面积水已排除", "resolved": True})):
            r = await c.post(f"/api/v1/orders/{no}/{action}", headers=dept, json=body)
            assert r.status_code == 200, r.text
        assert r.json()["stage"] == "callback"

        # KPIs: one matter, twenty requests
        day = datetime.now(timezone.utc).date()
        r = await c.get("/api/v1/kpi", headers=admin, params={"from": str(day - timedelta(days=1)),
                                                              "to": str(day + timedelta(days=2))})
        assert r.status_code == 200, r.text
        k = r.json()["kpis"]
        assert (k["orders"]["value"], k["requests"]["value"], k["merged_requests"]["value"]) == (1, 20, 19)

        # each petitioner answers the callback for themselves; the last answer closes the order
        r = await c.post(f"/api/v1/orders/{no}/callback", headers=admin,
                         json={"answered": True, "resolved": True, "satisfaction": "satisfied"})
        assert r.status_code == 200 and r.json()["stage"] == "callback", r.text
        for n, request_no in enumerate(numbers):
            r = await c.post(f"/api/v1/orders/{no}/callback", headers=admin,
                             json={"answered": True, "resolved": True, "request_no": request_no,
                                   "satisfaction": "dissatisfied" if n < 5 else "satisfied"})
            assert r.status_code == 200, r.text
        final = r.json()
        assert final["stage"] == "closed" and final["close_reason"] == "resolved"
        assert final["callback"]["satisfaction"] == "satisfied"

        # a wrong merge, undone: the request becomes an order of its own, with fresh deadlines
        r = await c.post("/api/v1/orders", headers=intake, json=report(40))
        second = r.json()["order_no"]
        noise = {**report(21), "title": "塘边路工地夜间施工噪音", "description": "半夜还在打桩，吵得睡不着"}
        r = await c.post(f"/api/v1/orders/{second}/merged-requests", headers=intake, json=noise)
        assert r.status_code == 201, r.text
        wrong = r.json()["request_no"]
        r = await c.post(f"/api/v1/orders/{second}/merged-requests/{wrong}/unmerge", headers=intake,
                         json={"reason": "不是同一事项"})
        assert r.status_code == 403, r.text  # the hotline office undoes merges, not intake
        r = await c.post(f"/api/v1/orders/{second}/merged-requests/{wrong}/unmerge", headers=admin,
                         json={"reason": "不是同一事项：噪音，不是排水沟", "owner": "ZJJ"})
        assert r.status_code == 201, r.text
        own = r.json()
        assert own["order_no"] == wrong and own["owner"] == "ZJJ" and own["stage"] == "dispatched"
        assert own["deadlines"]["sign_by"] > r.json()["created_at"] and own["co_petitioners"] == []
        parent = (await c.get(f"/api/v1/orders/{second}", headers=admin)).json()
        assert parent["co_petitioners"] == [] and [a["action"] for a in parent["actions"]][-2:] == ["merge", "unmerge"]
        r = await c.post(f"/api/v1/orders/{second}/merged-requests/{wrong}/unmerge", headers=admin,
                         json={"reason": "重试"})
        assert r.status_code == 201 and r.json()["order_no"] == wrong  # a retry: the same order, not a second
        r = await c.get(f"/api/v1/orders/{second}/merged-requests", headers=admin, params={"include_unmerged": True})
        assert [m["request_no"] for m in r.json()] == [wrong] and r.json()[0]["unmerged_at"]
        # bad input changes nothing
        r = await c.post(f"/api/v1/orders/{no}/merged-requests", headers=intake, json={**report(22), "note": "x"})
        assert r.status_code == 409, r.text  # closed
        r = await c.post("/api/v1/orders/SY20990101000001/merged-requests", headers=intake, json=report(23))
        assert r.status_code == 404, r.text

    with sqlite_db.session() as s:
        rows = s.scalars(select(OutboxRow).where(OutboxRow.order_no == no, OutboxRow.channel == "sms")).all()
    phones = {f"1390000{i:04d}" for i in range(20)}
    for kind in ("reply", "survey", "contact"):
        assert {r.recipient for r in rows if r.kind == kind} == phones, kind  # each petitioner, once
        assert sum(r.kind == kind for r in rows) == 20, kind
    assert since  # the period above is the day of the run
