"""Running orders follow the calendar the hotline office enters (time-skipping server).

An order dispatched on Monday 1 February 2027, before the 2027 schedule is published, gets a
provisional handling deadline that already skips the statutory Spring Festival days (5–8 Feb).
It is extended by 2 working days. Then the office enters the 2027 schedule through the admin
API (the draft test fixture: 5–12 February off): the order recomputes its deadline chain
(dispatch + 5wd, then + 2wd) on the new calendar, re-arms its timers, records one audit step
old → new and tells its owner; the old instant passes without supervision, the new one fires.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hotline.api.app import create_app
from hotline.domain.models import ContactAction, ExtensionRequestAction, ExtensionReviewAction, SignAction
from hotline.services.calendar_rollout import orders_to_follow
from tests.api.test_api import H, api_client, prepare
from tests.harness import fired_and_cancelled_timers, intake, notices, router, running_worker, until

CST = ZoneInfo("Asia/Shanghai")
DRAFT = Path(__file__).parent.parent / "data" / "calendar_2027_draft.yaml"


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2027, 2, day, hour, 0, tzinfo=CST)


async def test_entering_the_2027_schedule_moves_open_orders_deadlines(ts_env, sqlite_db):
    keys = prepare(sqlite_db)
    async with running_worker(ts_env.client, sqlite_db, "sanya") as h:  # the calendar from the database
        await ts_env.sleep(at(1) - await ts_env.get_current_time())
        no, handle = await h.start(owner="ZJJ", req=intake(category="complaint"))  # 5wd
        await h.act(no, "sign", SignAction(by="ZJJ"))
        await h.act(no, "contact", ContactAction(by="ZJJ", note="已联系"))
        await h.act(no, "extension-request", ExtensionRequestAction(by="ZJJ", days=2, reason="春节前后需协调"))
        st = await h.act(no, "extension-review", ExtensionReviewAction(by="admin:审核", decision="approve",
                                                                        reason="同意"))
        # guessed: Mon–Fri without 5–8 Feb → 5wd ends Wed 10 Feb, + 2wd → Fri 12 Feb
        assert st.deadlines.reply_by.astimezone(CST).replace(second=0, microsecond=0) == at(12)
        assert "reply_by" in st.deadlines.provisional
        assert no in orders_to_follow(sqlite_db, 2027)

        app = create_app(sqlite_db, h.engine, router())
        async with api_client(app) as c:
            r = await c.post("/api/v1/calendar/2027", headers={**H(keys["admin"]), "Content-Type": "application/yaml"},
                             content=DRAFT.read_bytes())
            assert r.status_code in (200, 201), r.text
            assert r.json()["warnings"] == []
        st = await until(h, no, lambda s: any(a.action == "deadlines-recomputed" for a in s.actions))
        step = next(a for a in st.actions if a.action == "deadlines-recomputed")
        # on the schedule: 5–12 Feb off → 5wd ends Tue 16 Feb, + 2wd → Thu 18 Feb
        assert st.deadlines.reply_by.astimezone(CST).replace(second=0, microsecond=0) == at(18)
        assert "reply_by" not in st.deadlines.provisional and "remind_at" not in st.deadlines.provisional
        assert set(step.detail["changes"]) >= {"reply_by", "remind_at"}
        assert step.detail["changes"]["reply_by"]["old"].startswith("2027-02-12")
        assert step.by.startswith("admin") and step.detail["years"] == [2027]
        assert len(notices(st, "deadline-change", "ZJJ")) == 1

        # the old instant passes quietly; the new one is supervised, once
        await ts_env.sleep(at(12, 11) - await ts_env.get_current_time())
        st = await h.state(no)
        assert not st.overdue and notices(st, "supervision") == []
        await ts_env.sleep(at(18, 11) - await ts_env.get_current_time())
        st = await until(h, no, lambda s: s.overdue)
        assert len(notices(st, "supervision", "ZJJ")) == 1 and len(notices(st, "reminder", "ZJJ")) == 1
        fired, cancelled = await fired_and_cancelled_timers(handle)
        assert '"handling deadline (办理时限) of ZJJ (calendar updated)"' in fired
        assert '"handling deadline (办理时限) of ZJJ"' in cancelled

        # telling it again changes nothing and records nothing
        from hotline.domain.contracts import CalendarChange
        await h.engine.calendar_changed(no, CalendarChange(years=[2027], notice="again", by="admin:审核"))
        await ts_env.sleep(timedelta(minutes=1))
        st = await h.state(no)
        assert sum(a.action == "deadlines-recomputed" for a in st.actions) == 1


async def test_readyz_says_when_the_coming_year_is_not_entered(sqlite_db):
    from hotline.domain.calendar_schedule import parse_schedule
    from hotline.services.calendar_admin import import_schedule

    prepare(sqlite_db)
    async with api_client(create_app(sqlite_db, None, router())) as c:  # no engine: not ready
        r = await c.get("/readyz")
        assert r.status_code == 503 and "workflow engine: not connected" in r.json()["problems"]
    async with api_client(create_app(sqlite_db, object(), router())) as c:
        r = await c.get("/readyz")
        body = r.json()
        assert r.status_code == 200 and body["status"] == "ready"
        today = datetime.now(CST)
        if (today.year, today.month) in ((2026, 11), (2026, 12), (2027, 1)) or today.year == 2027:
            assert [w["code"] for w in body["warnings"]] in (["calendar_next_year_unconfirmed"],
                                                             ["calendar_year_unconfirmed"])
            assert "2027年的节假日安排尚未录入" in body["warnings"][0]["message"]
            import_schedule(sqlite_db, parse_schedule(DRAFT.read_text(encoding="utf-8")), "admin:test")
            assert (await c.get("/readyz")).json()["warnings"] == []
