"""No strike on a guess: a deadline computed on a calendar the State Council has not published
yet (provisional) never counts against a unit by itself.

On the time-skipping server: two orders of ZJJ dispatched in March 2027 (no 2027 schedule
entered) are never signed; their provisional handling deadlines fire. Without the hold, two
refusals within 30 days make a notified criticism; here both strikes are held, the ledger says
why, and nothing is criticised until the hotline office decides: confirming both issues the
criticism, voiding one does not. The review API refuses non-admins and unknown strikes.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from hotline.domain.contracts import StrikeReview
from hotline.store.ledger import ledger_view
from hotline.store.tables import SupervisionEventRow
from tests.harness import intake, running_worker, until

CST = ZoneInfo("Asia/Shanghai")


async def _events(db, unit: str, kind: str, n: int, timeout: float = 20) -> list[SupervisionEventRow]:
    for _ in range(int(timeout * 10)):
        with db.session() as s:
            rows = s.scalars(select(SupervisionEventRow).where(SupervisionEventRow.unit_code == unit,
                                                                 SupervisionEventRow.kind == kind)).all()
        if len(rows) >= n:
            return rows
        await asyncio.sleep(0.1)
    return rows


async def _two_held_strikes(env, db, h) -> list[str]:
    now = await env.get_current_time()
    await env.sleep(datetime(2027, 3, 10, 10, 0, tzinfo=CST) - now)  # a Wednesday, 2027 unpublished
    orders = [(await h.start(owner="ZJJ", req=intake(category="help")))[0] for _ in range(2)]
    st = await h.state(orders[0])
    assert "reply_by" in st.deadlines.provisional
    await env.sleep(st.deadlines.reply_by - await env.get_current_time() + timedelta(minutes=5))
    for no in orders:
        st = await until(h, no, lambda s: any(a.action == "strike" for a in s.actions))
        assert st.overdue and any(a.action == "strike" for a in st.actions)
    strikes = await _events(db, "ZJJ", "strike", 2)
    assert len(strikes) == 2 and all(r.detail["held"] and r.detail["kind"] == "never_signed" for r in strikes)
    return [r.detail["key"] for r in strikes]


async def test_strikes_on_a_provisional_deadline_are_held_then_confirmed(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "sanya", calendar_overrides={}) as h:
        keys = await _two_held_strikes(ts_env, sqlite_db, h)
        await asyncio.sleep(1)
        assert await _events(sqlite_db, "ZJJ", "criticism", 1, timeout=1) == []  # held: no criticism
        view = ledger_view(sqlite_db, "ZJJ", 2027)
        assert sorted(e["detail"]["key"] for e in view["held"]) == sorted(keys)
        assert all("guessed calendar" in e["detail"]["why"] for e in view["held"])

        for k in keys:
            await h.engine.review_strike("ZJJ", StrikeReview(key=k, decision="confirm", by="admin:王主任",
                                                             reason="已核实：工作日计算无误",
                                                             at=datetime.now(timezone.utc)))
        crit = await _events(sqlite_db, "ZJJ", "criticism", 1)
        assert len(crit) == 1 and {f["order_no"] for f in crit[0].detail["facts"]} == {
            k.split(":")[0] for k in keys}
        view = ledger_view(sqlite_db, "ZJJ", 2027)
        assert view["held"] == [] and len(view["reviews"]) == 2
        # a repeated decision changes nothing
        await h.engine.review_strike("ZJJ", StrikeReview(key=keys[0], decision="void", by="admin:王主任",
                                                         reason="重复提交", at=datetime.now(timezone.utc)))
        await asyncio.sleep(1)
        assert len(ledger_view(sqlite_db, "ZJJ", 2027)["reviews"]) == 2
        assert len(await _events(sqlite_db, "ZJJ", "criticism", 2, timeout=1)) == 1


async def test_a_voided_held_strike_never_counts(ts_env, sqlite_db):
    from hotline.api.app import create_app
    from tests.api.test_api import H, api_client, prepare
    from tests.harness import router

    keys = prepare(sqlite_db)
    async with running_worker(ts_env.client, sqlite_db, "sanya", calendar_overrides={}) as h:
        held = await _two_held_strikes(ts_env, sqlite_db, h)
        app = create_app(sqlite_db, h.engine, router())
        async with api_client(app) as c:
            url = "/api/v1/units/ZJJ/strikes/review"
            body = {"key": held[0], "decision": "void", "reason": "春节假期未计入，期限有误"}
            r = await c.post(url, headers=H(keys["ZJJ"]), json=body)
            assert r.status_code == 403  # a department cannot judge its own strikes
            r = await c.post(url, headers=H(keys["admin"]), json={**body, "key": "SY1:never_signed:ZJJ:x"})
            assert r.status_code == 409 and "held" in r.json()["error"]["message"]
            r = await c.post(url, headers=H(keys["admin"]), json={**body, "decision": "maybe"})
            assert r.status_code == 422
            r = await c.post(url, headers=H(keys["admin"]), json=body)
            assert r.status_code == 202, r.text
            r = await c.post(url, headers=H(keys["admin"]), json={**body, "key": held[1], "decision": "confirm",
                                                                  "reason": "核实无误"})
            assert r.status_code == 202, r.text
            reviews = await _events(sqlite_db, "ZJJ", "strike_review", 2)
            assert sorted(r.detail["decision"] for r in reviews) == ["confirm", "void"]
            await asyncio.sleep(1)
            # one confirmed refusal is not two: no criticism
            assert await _events(sqlite_db, "ZJJ", "criticism", 1, timeout=1) == []
            got = (await c.get("/api/v1/units/ZJJ/supervision?year=2027", headers=H(keys["admin"]))).json()
            assert got["held"] == [] and len(got["reviews"]) == 2
            assert got["live"]["pending"] == [held[1]]
