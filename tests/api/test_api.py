"""The HTTP API (SPEC §8): keys and roles, ownership, masking, idempotent intake, errors.

Role, body and key checks run without Temporal; everything about orders runs the real app
against the real time-skipping server with a real worker and the SQLite store.
"""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import func, select

from hotline.api.app import create_app
from hotline.domain.catalogue import default_catalogue_path, load_catalogue
from hotline.store.apikeys import create_key, revoke_key
from hotline.store.tables import OrderRow, UnitRow
from hotline.store.units import import_catalogue
from tests.harness import router, running_worker, trace

NAME, PHONE = "王小明", "13800001234"
ORDER = {"channel": "web", "category": "complaint", "urgency": "normal", "title": "工地夜间施工噪音",
         "description": "小区旁边工地每天晚上十一点还在打桩，吵得睡不着",
         "petitioner": {"name": NAME, "phone": PHONE},
         "location": {"district": "JYQ", "address": "吉阳区迎宾路"}, "owner": "ZJJ"}


def prepare(db) -> dict[str, str]:
    """The Sanya catalogue in the database and one key per role used by the tests."""
    import_catalogue(db, load_catalogue(default_catalogue_path()))
    roles = ["intake", "admin", "department:ZJJ", "department:SWJ", "department:JTJ"]
    return {r.split(":")[-1]: create_key(db, r, label="test") for r in roles}


def H(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


@asynccontextmanager
async def api_client(app):
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hotline", timeout=60) as c:
        yield c


@asynccontextmanager
async def live_api(client, db, search_attributes: bool = False, queue: str | None = None):
    """Real worker + the app wired to a TemporalWorkOrders on the same task queue, as the gateway
    wires it: intake answered from the start, on the worker's calendar."""
    async with running_worker(client, db, search_attributes=search_attributes, queue=queue, from_start=True) as h:
        app = create_app(db, h.engine, router())
        async with api_client(app) as c:
            yield c, h


def assert_error(r: httpx.Response, status: int, *words: str) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) >= {"code", "message"} and isinstance(err["message"], str)
    assert "Traceback" not in r.text
    for w in words:
        assert w in err["message"], (w, err["message"])
    return err


# ---------------------------------------------------------------- without Temporal


@pytest.fixture
def offline(sqlite_db):
    keys = prepare(sqlite_db)
    return create_app(sqlite_db, None, router()), keys, sqlite_db


async def test_missing_unknown_and_revoked_keys_are_401(offline):
    app, keys, db = offline
    async with api_client(app) as c:
        assert_error(await c.get("/api/v1/orders"), 401, "X-API-Key")
        assert_error(await c.get("/api/v1/orders", headers=H("hk_not-a-key")), 401)
        assert (await c.get("/api/v1/orders", headers=H(keys["SWJ"]))).status_code == 200
        assert revoke_key(db, keys["SWJ"]) == 1
        assert_error(await c.get("/api/v1/orders", headers=H(keys["SWJ"])), 401, "revoked")
        assert_error(await c.post("/api/v1/orders/SY20260101000001/sign", headers=H(keys["SWJ"])), 401)
        # a key revoked by its printed prefix
        assert revoke_key(db, keys["JTJ"][:10]) == 1
        assert_error(await c.get("/api/v1/units", headers=H(keys["JTJ"])), 401)


@pytest.mark.parametrize("who,method,path,body", [
    ("ZJJ", "post", "/api/v1/orders", ORDER),
    ("intake", "post", "/api/v1/orders/SY20260101000001/sign", {}),
    ("ZJJ", "post", "/api/v1/orders/SY20260101000001/return-review", {"decision": "reject", "reason": "x"}),
    ("ZJJ", "post", "/api/v1/orders/SY20260101000001/callback", {"answered": False}),
    ("admin", "post", "/api/v1/orders/SY20260101000001/reply", {"result": "x", "resolved": True}),
    ("intake", "get", "/api/v1/units/ZJJ/supervision", None),
    ("ZJJ", "post", "/api/v1/units/import", None),
    ("intake", "post", "/api/v1/units/ZJJ/webhook-secret", None),
])
async def test_roles_that_may_not_act_get_403(offline, who, method, path, body):
    app, keys, _ = offline
    async with api_client(app) as c:
        kw = {"json": body} if body is not None else {}
        assert_error(await c.request(method.upper(), path, headers=H(keys[who]), **kw), 403)


@pytest.mark.parametrize("who,path,body,field", [
    ("intake", "/api/v1/orders", {k: v for k, v in ORDER.items() if k != "category"}, "category"),
    ("intake", "/api/v1/orders", {**ORDER, "petitioner": {"name": NAME, "phone": "call me"}}, "petitioner.phone"),
    ("intake", "/api/v1/orders", {**ORDER, "location": {"district": "XXQ"}}, "location.district"),
    ("intake", "/api/v1/orders", {**ORDER, "urgency": "soon"}, "urgency"),
    ("ZJJ", "/api/v1/orders/SY20260101000001/reply", {"result": "done"}, "resolved"),
    ("ZJJ", "/api/v1/orders/SY20260101000001/reply", {"result": "done", "resolved": True, "by": "SWJ"}, "by"),
    ("ZJJ", "/api/v1/orders/SY20260101000001/extension-request", {"days": 0, "reason": "x"}, "days"),
    ("ZJJ", "/api/v1/orders/SY20260101000001/coordination-plan",
     {"plan": "p", "co_handlers": [{"unit": "SWJ", "task": "t", "due": "2030-01-01T00:00:00"}]}, "co_handlers.0.due"),
    ("admin", "/api/v1/orders/SY20260101000001/callback", {"answered": True, "satisfaction": "meh"}, "satisfaction"),
    ("admin", "/api/v1/orders/SY20260101000001/return-review", {"decision": "maybe", "reason": "r"}, "decision"),
    ("ZJJ", "/api/v1/orders/SY20260101000001/return-request",
     {"reason": "r", "claimed_unit": "NOPE", "basis": "b"}, "claimed_unit"),
    ("ZJJ", "/api/v1/orders/SY20260101000001/return-request",
     {"reason": "r", "claimed_unit": "HOTLINE", "basis": "b"}, "claimed_unit"),
    ("admin", "/api/v1/orders/SY20260101000001/return-review",
     {"decision": "approve", "reason": "r", "new_owner": "XYZ"}, "new_owner"),
    ("ZJJ", "/api/v1/orders/SY20260101000001/coordination-plan",
     {"plan": "p", "co_handlers": [{"unit": "SWJ", "task": "t", "due": "2030-01-01T00:00:00+08:00"},
                                   {"unit": "Q1", "task": "t", "due": "2030-01-01T00:00:00+08:00"}]},
     "co_handlers.1.unit"),
])
async def test_bad_bodies_are_422_naming_the_field(offline, who, path, body, field):
    app, keys, _ = offline
    async with api_client(app) as c:
        assert_error(await c.post(path, headers=H(keys[who]), json=body), 422, field)


async def test_malformed_json_is_400_and_bad_paths_404_or_422(offline):
    app, keys, _ = offline
    async with api_client(app) as c:
        r = await c.post("/api/v1/orders", headers={**H(keys["intake"]), "Content-Type": "application/json"},
                         content=b"{not json")
        assert_error(r, 400, "JSON")
        assert_error(await c.get("/api/v1/orders/12345", headers=H(keys["admin"])), 422, "order_no")
        assert_error(await c.get("/api/v1/orders/SY20260101000009", headers=H(keys["admin"])), 404)
        assert_error(await c.post("/api/v1/orders/SY20260101000009/approve", headers=H(keys["admin"]), json={}),
                     404, "unknown action")
        assert_error(await c.get("/api/v1/units/NOPE/supervision", headers=H(keys["admin"])), 404)
        assert_error(await c.get("/api/v1/nowhere", headers=H(keys["admin"])), 404)
        assert_error(await c.get("/api/v1/orders?stage=lost", headers=H(keys["admin"])), 422, "stage")


async def test_openapi_docs_and_blank_query_parameters(offline):
    app, keys, _ = offline
    async with api_client(app) as c:
        assert (await c.get("/docs")).status_code == 200
        schema = (await c.get("/openapi.json")).json()
        body = schema["paths"]["/api/v1/orders/{order_no}/reply"]["post"]["requestBody"]
        ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        assert set(schema["components"]["schemas"][ref]["required"]) == {"result", "resolved"}
        assert "by" not in schema["components"]["schemas"][ref]["properties"]
        # the spec's URL templates with blanks mean "no filter"
        r = await c.get("/api/v1/orders?owner=&stage=&overdue=", headers=H(keys["admin"]))
        assert r.status_code == 200 and r.json()["total"] == 0
        r = await c.get("/api/v1/routing?text=%E5%B7%A5%E5%9C%B0%E5%A4%9C%E9%97%B4%E6%96%BD%E5%B7%A5"
                        "&category=&district=", headers=H(keys["intake"]))
        assert r.status_code == 200 and r.json()["candidates"][0]["unit"] == "ZFJ"


async def test_unexpected_failure_is_one_line_503_without_a_trace(sqlite_db):
    keys = prepare(sqlite_db)

    class Broken:
        async def start_order(self, *args, **kw):
            raise RuntimeError("internal detail 13800001234")

    app = create_app(sqlite_db, Broken(), router())
    async with api_client(app) as c:
        err = assert_error(await c.post("/api/v1/orders", headers=H(keys["admin"]), json=ORDER), 503)
        assert "13800001234" not in err["message"] and "internal" not in err["message"]


async def test_catalogue_import_validates_the_whole_file(offline):
    app, keys, db = offline
    text = default_catalogue_path().read_text(encoding="utf-8")
    broken = text.replace("type: bureau", "type: ministry", 1).replace("code: SWJ", "code: swj", 1)
    async with api_client(app) as c:
        r = await c.post("/api/v1/units/import", headers={**H(keys["admin"]), "Content-Type": "application/yaml"},
                         content=broken.encode())
        err = assert_error(r, 422, "nothing changed")
        assert len(err["details"]) >= 2 and all(d.startswith("line ") for d in err["details"])
        assert any("ministry" in d for d in err["details"])
        with db.session() as s:
            assert s.get(UnitRow, "SWJ") is not None and s.get(UnitRow, "swj") is None
        assert_error(await c.post("/api/v1/units/import", headers=H(keys["admin"]), content=b"  "), 422)
        # a file name is never read: the body is always the YAML text
        assert_error(await c.post("/api/v1/units/import", headers=H(keys["admin"]),
                                  content=str(default_catalogue_path()).encode()), 422)

        extra = text.rstrip() + """
  - code: HYJ
    name: 三亚市海洋渔业局（测试）
    type: bureau
    districts: [YZQ, TYQ, JYQ, HTQ, YCQ]
    webhook_url: null
    responsibilities:
      - matter: 珊瑚礁保护与海洋牧场
        keywords: [珊瑚礁, 海洋牧场]
        categories: [complaint, report]
"""
        r = await c.post("/api/v1/units/import", headers=H(keys["admin"]), content=extra.encode())
        assert r.status_code == 200, r.text
        assert "HYJ" in r.json()["units"]
        units = (await c.get("/api/v1/units", headers=H(keys["SWJ"]))).json()
        assert {"code": "HYJ", "responsibilities": 1}.items() <= next(u for u in units if u["code"] == "HYJ").items()
        routed = (await c.get("/api/v1/routing", params={"text": "有人在破坏珊瑚礁"}, headers=H(keys["intake"]))).json()
        assert routed["candidates"][0]["unit"] == "HYJ"  # the app's router was rebuilt


# ---------------------------------------------------------------- on the real time-skipping server


async def _intake(c, keys, **over) -> dict:
    r = await c.post("/api/v1/orders", headers=H(keys["intake"]), json={**ORDER, **over})
    assert r.status_code == 201, r.text
    return r.json()


async def test_department_b_acting_on_a_order_is_403_and_changes_nothing(ts_env, sqlite_db):
    keys = prepare(sqlite_db)
    async with live_api(ts_env.client, sqlite_db) as (c, h):
        no = (await _intake(c, keys))["order_no"]
        await h.written(no)  # the order's history as its first task left it
        handle = ts_env.client.get_workflow_handle(f"order-{no}")
        before_state = (await c.get(f"/api/v1/orders/{no}", headers=H(keys["admin"]))).json()
        before = trace(await handle.fetch_history())
        for action, body in [("sign", {}), ("contact", {"note": "n"}), ("reply", {"result": "r", "resolved": True}),
                             ("return-request", {"reason": "r", "claimed_unit": "JTJ", "basis": "b"})]:
            err = assert_error(await c.post(f"/api/v1/orders/{no}/{action}", headers=H(keys["SWJ"]), json=body),
                               403, "SWJ", "owner")
            assert err["code"] == "forbidden"
        assert_error(await c.post(f"/api/v1/orders/{no}/co-handler-done", headers=H(keys["SWJ"]),
                                  json={"note": "n"}), 403, "co-handler")
        assert trace(await handle.fetch_history()) == before
        assert (await c.get(f"/api/v1/orders/{no}", headers=H(keys["admin"]))).json() == before_state
        # the owner's own key works, and the validator's refusal comes back as 409 with its message
        assert_error(await c.post(f"/api/v1/orders/{no}/reply", headers=H(keys["ZJJ"]),
                                  json={"result": "r", "resolved": True}),
                     409, "cannot reply an order in stage 'dispatched'")
        r = await c.post(f"/api/v1/orders/{no}/sign", headers=H(keys["ZJJ"]))
        assert r.status_code == 200 and r.json()["stage"] == "signed"
        assert_error(await c.post(f"/api/v1/orders/{no}/sign", headers=H(keys["ZJJ"]), json={}), 409, "cannot sign")


async def test_petitioner_visible_to_owner_co_handlers_and_admins_only(ts_env, sqlite_db):
    keys = prepare(sqlite_db)
    async with live_api(ts_env.client, sqlite_db) as (c, h):
        created = await _intake(c, keys)
        no = created["order_no"]
        assert created["petitioner"] == {"name": "王**", "phone": "138****1234"}  # the intake key sees it masked

        async def seen(who):
            r = await c.get(f"/api/v1/orders/{no}", headers=H(keys[who]))
            assert r.status_code == 200, r.text
            return r.json()["petitioner"]

        assert await seen("admin") == {"name": NAME, "phone": PHONE}
        assert await seen("ZJJ") == {"name": NAME, "phone": PHONE}
        assert await seen("JTJ") == {"name": "王**", "phone": "138****1234"}
        assert (await c.post(f"/api/v1/orders/{no}/sign", headers=H(keys["ZJJ"]))).status_code == 200
        due = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
        r = await c.post(f"/api/v1/orders/{no}/coordination-plan", headers=H(keys["ZJJ"]),
                         json={"plan": "联合整治", "co_handlers": [{"unit": "JTJ", "task": "查道路", "due": due}]})
        assert r.status_code == 200, r.text
        assert await seen("JTJ") == {"name": NAME, "phone": PHONE}  # now a co-handler
        assert await seen("SWJ") == {"name": "王**", "phone": "138****1234"}
        # a co-handler reports done, and only that
        assert_error(await c.post(f"/api/v1/orders/{no}/reply", headers=H(keys["JTJ"]),
                                  json={"result": "r", "resolved": True}), 403)
        r = await c.post(f"/api/v1/orders/{no}/co-handler-done", headers=H(keys["JTJ"]), json={"note": "已查"})
        assert r.status_code == 200 and r.json()["co_handlers"][0]["done"] is True
        # lists are masked for everyone, admins included
        items = (await c.get("/api/v1/orders", headers=H(keys["admin"]))).json()["items"]
        assert items[0]["petitioner"] == {"name": "王**", "phone": "138****1234"}
        assert NAME not in str(items) and PHONE not in str(items)


async def test_same_idempotency_key_gives_one_order_and_one_workflow(ts_env, any_db):
    keys = prepare(any_db)
    async with live_api(ts_env.client, any_db) as (c, h):
        hdr = {**H(keys["intake"]), "Idempotency-Key": "call-20261126-0001"}
        first = await c.post("/api/v1/orders", headers=hdr, json=ORDER)
        again = await c.post("/api/v1/orders", headers=hdr, json=ORDER)
        assert first.status_code == again.status_code == 201
        no = first.json()["order_no"]
        assert again.json()["order_no"] == no and again.json()["title"] == ORDER["title"]
        # the same key with another body is refused, naming the order (Stripe's semantics)
        assert_error(await c.post("/api/v1/orders", headers=hdr, json={**ORDER, "title": "重复提交"}), 409,
                     "Idempotency-Key", no)
        # another API key's key of the same name is its own: a new order
        admin_hdr = {**H(keys["admin"]), "Idempotency-Key": "call-20261126-0001"}
        mine = await c.post("/api/v1/orders", headers=admin_hdr, json=ORDER)
        assert mine.status_code == 201 and mine.json()["order_no"] != no
        # concurrent retries of a new key, while its workflow is still starting
        hdr2 = {**H(keys["intake"]), "Idempotency-Key": "call-20261126-0002"}
        both = await asyncio.gather(*[c.post("/api/v1/orders", headers=hdr2, json=ORDER) for _ in range(3)])
        assert {r.status_code for r in both} == {201} and len({r.json()["order_no"] for r in both}) == 1
        for order_no in (no, both[0].json()["order_no"]):
            handle = ts_env.client.get_workflow_handle(f"order-{order_no}")
            history = await handle.fetch_history()
            starts = [e for e in history.events
                      if e.WhichOneof("attributes") == "workflow_execution_started_event_attributes"]
            assert len(starts) == 1
            first_run = history.events[0].workflow_execution_started_event_attributes.original_execution_run_id
            assert (await handle.describe()).run_id == first_run
        with any_db.session() as s:
            assert s.scalar(select(func.count()).select_from(OrderRow)) == 3
        other = await _intake(c, keys)  # each key consumed exactly one order number
        assert int(other["order_no"][-6:]) == int(no[-6:]) + 3


async def test_lists_filter_and_paginate_from_the_read_model(ts_env, any_db):
    keys = prepare(any_db)
    async with live_api(ts_env.client, any_db) as (c, h):
        a = (await _intake(c, keys))["order_no"]
        b = (await _intake(c, keys, title="楼下积水"))["order_no"]
        s_ = (await _intake(c, keys, owner="SWJ", title="停水三天"))["order_no"]
        assert (await c.post(f"/api/v1/orders/{a}/sign", headers=H(keys["ZJJ"]))).status_code == 200

        async def ls(**params):
            r = await c.get("/api/v1/orders", params=params, headers=H(keys["SWJ"]))
            assert r.status_code == 200, r.text
            return r.json()

        got = await ls(owner="ZJJ")
        assert got["total"] == 2 and {i["order_no"] for i in got["items"]} == {a, b}
        assert [i["order_no"] for i in (await ls(stage="signed"))["items"]] == [a]
        assert (await ls(overdue="false"))["total"] == 3 and (await ls(overdue="true"))["total"] == 0
        page = await ls(limit=1, offset=1)
        assert page["total"] == 3 and len(page["items"]) == 1 and page["items"][0]["order_no"] == b
        assert [i["order_no"] for i in (await ls(limit=2))["items"]] == [s_, b]  # newest first
        assert (await ls(district="YZQ"))["total"] == 0
        assert_error(await c.get("/api/v1/orders?owner=zjj;drop", headers=H(keys["SWJ"])), 422, "owner")
        assert_error(await c.get("/api/v1/orders?limit=0", headers=H(keys["SWJ"])), 422, "limit")


async def test_intake_errors_and_closed_orders_read_from_the_database(ts_env, sqlite_db):
    keys = prepare(sqlite_db)
    async with live_api(ts_env.client, sqlite_db) as (c, h):
        assert_error(await c.post("/api/v1/orders", headers=H(keys["intake"]), json={**ORDER, "owner": "HOTLINE"}),
                     422, "owner")
        assert_error(await c.post("/api/v1/orders", headers=H(keys["intake"]), json={**ORDER, "owner": "NOPE"}),
                     422, "owner")
        assert_error(await c.post("/api/v1/orders", headers=H(keys["intake"]),
                                  json={**ORDER, "description": "bad\x00byte"}), 422, "NUL")
        no = (await _intake(c, keys))["order_no"]
        for action, who, body in [("sign", "ZJJ", {}), ("contact", "ZJJ", {"note": "已联系"}),
                                  ("reply", "ZJJ", {"result": "已停工", "resolved": True}),
                                  ("callback", "admin", {"answered": True, "resolved": True,
                                                         "satisfaction": "satisfied"})]:
            r = await c.post(f"/api/v1/orders/{no}/{action}", headers=H(keys[who]), json=body)
            assert r.status_code == 200, r.text
        assert r.json()["stage"] == "closed"
        assert_error(await c.post(f"/api/v1/orders/{no}/flag-staff", headers=H(keys["admin"]),
                                  json={"staff": "张三", "reason": "x"}), 409)
    # worker and engine gone: a closed order still reads from the database
    async with api_client(create_app(sqlite_db, None, router())) as c:
        st = (await c.get(f"/api/v1/orders/{no}", headers=H(keys["ZJJ"]))).json()
        assert st["stage"] == "closed" and [a["action"] for a in st["actions"]][-1] == "close"


async def test_a_department_reads_only_its_own_ledger_and_no_staff_referral(offline):
    """Issue 13: any department key used to read another unit's ledger, staff referrals included."""
    from datetime import datetime, timezone

    from hotline.store.tables import SupervisionEventRow
    app, keys, db = offline
    year = datetime.now(timezone.utc).year
    with db.session() as s:
        for kind, key, detail in (("strike", "strike:SY1:never_signed:ZJJ:x", {"reason": "未签收"}),
                                  ("staff_referral", "staff:SY1:ZJJ:李某", {"staff": "李某", "reason": "推诿"})):
            s.add(SupervisionEventRow(key=key, unit_code="ZJJ", year=year, kind=kind, at=datetime.now(timezone.utc),
                                      order_no="SY1", detail=detail))
    async with api_client(app) as c:
        assert_error(await c.get("/api/v1/units/ZJJ/supervision", headers=H(keys["SWJ"])), 403, "own ledger")
        own = (await c.get("/api/v1/units/ZJJ/supervision", headers=H(keys["ZJJ"]))).json()
        assert len(own["strikes"]) == 1 and own["referrals"] == [] and "李某" not in str(own)
        admin = (await c.get("/api/v1/units/ZJJ/supervision", headers=H(keys["admin"]))).json()
        assert [r["kind"] for r in admin["referrals"]] == ["staff_referral"]


async def test_twenty_intakes_at_once_each_get_their_own_number(dev_env, any_db):
    """Twenty operators pressing 受理 at the same moment (and, with them, merges into one order,
    which take numbers from the same series): every one answered, twenty-five distinct numbers
    in sequence, nothing refused for a number taken by a neighbour."""
    from tests.harness import seed_order_numbers
    seed_order_numbers(any_db)  # the dev server is shared: numbers (workflow ids) of this run only
    keys = prepare(any_db)
    async with live_api(dev_env.client, any_db) as (c, h):
        first = await _intake(c, keys)
        merge = {**ORDER, "note": "同一工地"}
        calls = [c.post("/api/v1/orders", headers=H(keys["intake"]), json=ORDER) for _ in range(20)]
        calls += [c.post(f"/api/v1/orders/{first['order_no']}/merged-requests", headers=H(keys["intake"]), json=merge)
                  for _ in range(5)]
        answers = await asyncio.gather(*calls)
    assert [r.status_code for r in answers] == [201] * 25, [r.text for r in answers if r.status_code != 201]
    numbers = [r.json()["order_no"] for r in answers[:20]] + [r.json()["request_no"] for r in answers[20:]]
    assert len(set(numbers)) == 25
    serials = sorted(int(n[-6:]) for n in numbers)
    assert serials == list(range(int(first["order_no"][-6:]) + 1, int(first["order_no"][-6:]) + 26))
