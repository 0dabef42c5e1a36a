"""The citizens' progress lookup (issue 18, 自助查询) on the real app with a real worker: the
stage and dates for the right digits, the department's reply with every phone, ID number,
e-mail address and name in it masked (and gone again when the order is reopened), one and the
same answer for wrong digits and unknown orders, nothing personal or internal, and the limits
per address and per order number."""
from __future__ import annotations

from datetime import datetime

from hotline.api.app import create_app
from hotline.runtime.settings import Limits, Rate
from tests.api.test_api import ORDER, H, api_client, live_api, prepare
from tests.harness import router

NOTE = "已电话联系王小明，约定明早去现场看"
SECRET = "内部意见：施工方与住建局有纠纷"
# What a department writes back: personal data of the petitioner and of others in it.
REPLY = ("经核查，王小明反映的夜间施工噪音属实，已责令施工单位晚十点后停工。如再有噪音，可拨打施工方值班电话"
         "139 1234 5678或0898-88661234，或发邮件至 zhang.wei@example.com；施工方法人身份证号460200198001011234。"
         "回访电话将打到13800001234。")
REPLY_SHOWN = ("经核查，王**反映的夜间施工噪音属实，已责令施工单位晚十点后停工。如再有噪音，可拨打施工方值班电话"
               "139****5678或089****1234，或发邮件至 z***@example.com；施工方法人身份证号46**************34。"
               "回访电话将打到138****1234。")
REPLY_PRIVATE = ("王小明", "13800001234", "139 1234 5678", "88661234", "zhang.wei", "460200198001011234", "1980")


async def test_progress_for_the_right_digits_and_one_answer_for_every_wrong_try(ts_env, sqlite_db):
    keys = prepare(sqlite_db)
    async with live_api(ts_env.client, sqlite_db) as (c, h):
        r = await c.post("/api/v1/orders", headers=H(keys["intake"]), json=ORDER)
        assert r.status_code == 201, r.text
        no = r.json()["order_no"]
        r = await c.post("/api/v1/track", json={"order_no": no, "phone_last4": "1234"})
        assert r.status_code == 200, r.text
        p = r.json()
        assert p["stage"] == "已转交承办单位，等待签收" and p["owner"] == "三亚市住房和城乡建设局"
        assert [s["step"] for s in p["steps"]] == ["受理", "转办", "签收", "联系", "答复", "办结"]
        assert p["steps"][0]["at"] and p["steps"][1]["at"] and p["steps"][2]["at"] is None
        assert p["next_deadline"]["what"] == "签收期限" and p["next_deadline"]["by"]

        for action, body in [("sign", {}), ("contact", {"note": NOTE})]:
            assert (await c.post(f"/api/v1/orders/{no}/{action}", headers=H(keys["ZJJ"]), json=body)).status_code == 200
        r = await c.post("/api/v1/track", json={"order_no": no, "phone_last4": "1234"})
        p = r.json()
        assert p["stage"] == "承办单位正在办理" and p["steps"][3]["at"] and p["next_deadline"]["what"] == "答复期限"
        assert set(p) == {"order_no", "stage", "owner", "steps", "next_deadline", "reply", "request_no",
                          "merged_into"} and p["reply"] is None
        assert p["request_no"] is None and p["merged_into"] is None  # an order's own number, not a merged request
        for private in ("王小明", "13800001234", "138", NOTE, "工地", "打桩", "迎宾路", "ZJJ", "workflow", "actions"):
            assert private not in r.text, private

        # the reply, masked as for anyone not entitled to the petitioner's identity, and its time
        r = await c.post(f"/api/v1/orders/{no}/reply", headers=H(keys["ZJJ"]), json={"result": REPLY, "resolved": True})
        assert r.status_code == 200, r.text
        replied_at = datetime.fromisoformat(r.json()["replied_at"])
        r = await c.post("/api/v1/track", json={"order_no": no, "phone_last4": "1234"})
        p = r.json()
        assert p["stage"] == "正在回访" and p["next_deadline"]["what"] == "回访期限"
        assert p["reply"]["text"] == REPLY_SHOWN
        assert datetime.fromisoformat(p["reply"]["at"]) == datetime.fromisoformat(p["steps"][4]["at"]) == replied_at
        for private in (*REPLY_PRIVATE, NOTE, "打桩", "迎宾路", "ZJJ", "actions"):
            assert private not in r.text, private

        # reopened after a dissatisfied callback: the reply found wanting is not shown as the answer
        r = await c.post(f"/api/v1/orders/{no}/callback", headers=H(keys["admin"]),
                         json={"answered": True, "resolved": False, "satisfaction": "dissatisfied"})
        assert r.status_code == 200 and r.json()["stage"] == "reopened", r.text
        p = (await c.post("/api/v1/track", json={"order_no": no, "phone_last4": "1234"})).json()
        assert p["stage"] == "重新办理中" and p["reply"] is None and p["steps"][4]["at"] is None
        assert p["next_deadline"]["what"] == "答复期限"

        wrong = await c.post("/api/v1/track", json={"order_no": no, "phone_last4": "4321"})
        unknown = await c.post("/api/v1/track", json={"order_no": "SY20990101999999", "phone_last4": "1234"})
        assert wrong.status_code == unknown.status_code == 404
        assert wrong.json() == unknown.json() and "工单号" in wrong.json()["error"]["message"]
        assert wrong.headers.get("content-length") == unknown.headers.get("content-length")
        # no key needed, and a key changes nothing
        assert (await c.post("/api/v1/track", headers=H(keys["admin"]),
                             json={"order_no": no, "phone_last4": "4321"})).json() == wrong.json()
        bad = await c.post("/api/v1/track", json={"order_no": no, "phone_last4": "12"})
        assert bad.status_code == 422

        # the limits: per order number (from any address) and per address, known or not alike
        tight = create_app(sqlite_db, h.engine, router(),
                           limits=Limits(track_per_order=Rate(0.001, 3), track_per_ip=Rate(0.001, 9)))
        async with api_client(tight) as t:
            for order in (no, "SY20990101999999"):
                codes = [(await t.post("/api/v1/track", json={"order_no": order, "phone_last4": "0000"})).status_code
                         for _ in range(4)]
                assert codes == [404, 404, 404, 429], (order, codes)
            r = await t.post("/api/v1/track", json={"order_no": no, "phone_last4": "1234"})
            assert r.status_code == 429 and r.headers["Retry-After"]  # the right digits wait too
            assert "该工单号" in r.json()["error"]["message"]
            r = await t.post("/api/v1/track", json={"order_no": "SY20990101000001", "phone_last4": "0000"})
            assert r.status_code == 429 and "地址" in r.json()["error"]["message"]  # the tenth from this address


async def test_the_public_tracking_page(ts_env, sqlite_db):
    keys = prepare(sqlite_db)
    async with live_api(ts_env.client, sqlite_db) as (c, h):
        no = (await c.post("/api/v1/orders", headers=H(keys["intake"]), json=ORDER)).json()["order_no"]
        assert (await c.get("/console/track")).status_code == 200
        r = await c.post("/console/track", data={"order_no": no, "phone_last4": "1234"})
        assert r.status_code == 200 and "已转交承办单位，等待签收" in r.text and "三亚市住房和城乡建设局" in r.text
        assert "王小明" not in r.text and "13800001234" not in r.text and "打桩" not in r.text
        other = "SY20990101999999"
        wrong = await c.post("/console/track", data={"order_no": no, "phone_last4": "4321"})
        unknown = await c.post("/console/track", data={"order_no": other, "phone_last4": "4321"})
        assert wrong.status_code == unknown.status_code == 404
        assert wrong.text.replace(no, "X") == unknown.text.replace(other, "X")  # the same page
        assert (await c.post("/console/track", data={"order_no": no, "phone_last4": "12"})).status_code == 422
