"""Free text masked for everyone but the owner, its co-handlers and admins (issue 13, finding
2), through the real app, a real worker and the time-skipping server: the petitioner's name and
phone written into the title, description, contact note and reply reach a non-owner key, a list
and Open311 only masked, in every format they were written in."""
from __future__ import annotations

from tests.api.test_api import ORDER, H, live_api, prepare

NAME, PHONE = "诸葛测隐", "13855501234"
FORMS = [NAME, PHONE, "138-5550-1234", "138.5550.1234", "138 5550 1234", "+86 138 5550 1234"]


def leaked(text: str) -> list[str]:
    return [f for f in FORMS if f in text]


async def test_non_owners_lists_and_open311_get_free_text_masked(ts_env, sqlite_db):
    keys = prepare(sqlite_db)
    body = {**ORDER, "title": f"{NAME}反映工地噪音，电话138.5550.1234",
            "description": f"我是{NAME}，手机 +86 138 5550 1234，晚上十一点还在打桩",
            "petitioner": {"name": NAME, "phone": PHONE}}
    async with live_api(ts_env.client, sqlite_db) as (c, h):
        r = await c.post("/api/v1/orders", headers=H(keys["intake"]), json=body)
        assert r.status_code == 201, r.text
        assert leaked(r.text) == [], "the intake key sees what it wrote only masked"
        no = r.json()["order_no"]
        zjj = H(keys["ZJJ"])
        assert (await c.post(f"/api/v1/orders/{no}/sign", headers=zjj)).status_code == 200
        r = await c.post(f"/api/v1/orders/{no}/contact", headers=zjj, json={"note": f"已联系{NAME}（138 5550 1234）"})
        assert r.status_code == 200
        r = await c.post(f"/api/v1/orders/{no}/reply", headers=zjj,
                         json={"result": f"已告知{NAME}：已停工，回电138-5550-1234", "resolved": True})
        assert r.status_code == 200
        owner_view = (await c.get(f"/api/v1/orders/{no}", headers=zjj)).text
        assert set(leaked(owner_view)) >= {NAME, "138-5550-1234"}, "the owner reads everything"
        assert NAME in (await c.get(f"/api/v1/orders/{no}", headers=H(keys["admin"]))).text
        for who in ("intake", "SWJ", "JTJ"):
            r = await c.get(f"/api/v1/orders/{no}", headers=H(keys[who]))
            assert r.status_code == 200 and leaked(r.text) == [], (who, leaked(r.text))
            assert "诸***" in r.text and "138****1234" in r.text
        lists = (await c.get("/api/v1/orders", headers=H(keys["admin"]))).text
        assert leaked(lists) == []
        public = await c.get(f"/open311/v2/requests/{no}.json")
        assert public.status_code == 200 and leaked(public.text) == []
