"""KPIs (SPEC §7) on hand-computed fixtures, on SQLite and PostgreSQL.

The fixture orders are recorded step by step through the `record_step` and
`record_ledger_event` activities (via `SimulatedOrder` + `ExactSink`), at times chosen so every
figure can be worked out by hand below. March 2026 and March 2025 have no public holidays;
working hours are 08:00-12:00 and 14:30-17:30 (7 h a day), all times Asia/Shanghai.
"""
from __future__ import annotations

import argparse
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from activities.store import StoreActivities
from hotline.domain.contracts import StepRecord
from hotline.domain.policy import load_policy
from hotline.domain.supervision import LedgerEvent
from hotline.reporting import kpi
from hotline.simulation.life import SimulatedOrder, new_order, replay_ledger
from hotline.simulation.sinks import ExactSink
from hotline.store.apikeys import create_key
from hotline.store.tables import CallbackRow, DispatchRow, OrderRow

TZ = ZoneInfo("Asia/Shanghai")
POLICY = load_policy("sanya")
MAR26, APR26 = "2026-03-01", "2026-04-01"


def L(*a) -> datetime:
    """A local (Sanya) time, as the UTC instant the workflow records."""
    return datetime(*a, tzinfo=TZ).astimezone(UTC)


def _life(db, no, owner, category, created, urgency="normal"):
    st = new_order(no, created, owner, category, urgency, "测试工单", "测试", None, "王先生", "13800001234",
                   policy=POLICY)
    return SimulatedOrder(ExactSink(db, POLICY), POLICY, st, L(2026, 4, 1))


def build_world(db) -> dict:
    lives = {}

    def run(name, *a, **k):
        lives[name] = life = _life(db, *a, **k)
        return life

    # ---- March 2026
    a = run("A", "SY20260302000001", "ZJJ", "complaint", L(2026, 3, 2, 9))  # on time everything; 15 wh
    a.intake(L(2026, 3, 2, 9)), a.sign(L(2026, 3, 2, 9, 30)), a.contact(L(2026, 3, 2, 10), "已联系")
    a.reply(L(2026, 3, 4, 10), True, "已处理"), a.callback(L(2026, 3, 4, 15), True, "satisfied")
    b = run("B", "SY20260303000001", "ZJJ", "consultation", L(2026, 3, 3, 16))  # signed late, replied late, unrated
    b.intake(L(2026, 3, 3, 16)), b.sign(L(2026, 3, 3, 19)), b.contact(L(2026, 3, 4, 9), "已联系")
    b.reply(L(2026, 3, 5, 9), True, "已答复")  # due Wed 16:00 (1wd); 9.5 wh
    c = run("C", "SY20260302000002", "ZFJ", "complaint", L(2026, 3, 2, 10))  # invalid return; extension; 44.5 wh
    c.intake(L(2026, 3, 2, 10)), c.sign(L(2026, 3, 2, 10, 30))
    c.return_request(L(2026, 3, 2, 11), "ZJJ", "不属于本单位", "权责清单", "reject")
    c.return_review(L(2026, 3, 2, 14, 40), False, "属本单位职责")
    c.contact(L(2026, 3, 2, 15), "已联系")
    lives["C_due_before_extension"] = c.st.deadlines.reply_by
    c.extension(L(2026, 3, 5, 10), 2, "需协调", L(2026, 3, 5, 11), True)
    c.reply(L(2026, 3, 10, 15), False, "部分处理"), c.callback(L(2026, 3, 11, 9), False, "basically_satisfied")
    d = run("D", "SY20260302000003", "ZFJ", "help", L(2026, 3, 2, 11))  # approved return → SWJ; reopened once
    d.intake(L(2026, 3, 2, 11)), d.sign(L(2026, 3, 2, 11, 10))
    d.return_request(L(2026, 3, 2, 11, 30), "SWJ", "不属于本单位", "权责清单", "approve")
    d.return_review(L(2026, 3, 2, 15), True, "属水务局职责")
    d.sign(L(2026, 3, 2, 15, 30)), d.contact(L(2026, 3, 2, 16), "已联系")
    d.reply(L(2026, 3, 4, 11), False, "已处理"), d.callback(L(2026, 3, 4, 16), False, "dissatisfied")  # → reopen
    d.reply(L(2026, 3, 6, 10), True, "已重办"), d.callback(L(2026, 3, 6, 15), True, "satisfied")  # 25.5 wh
    e = run("E", "SY20260327000001", "SWJ", "complaint", L(2026, 3, 27, 10))  # still being handled
    e.intake(L(2026, 3, 27, 10)), e.sign(L(2026, 3, 27, 10, 20)), e.contact(L(2026, 3, 27, 11), "已联系")
    f = run("F", "SY20260314000001", "JTJ", "help", L(2026, 3, 14, 20), urgency="urgent")  # weekend: 0 wh
    f.intake(L(2026, 3, 14, 20)), f.sign(L(2026, 3, 14, 20, 50)), f.contact(L(2026, 3, 14, 21), "已联系")
    f.reply(L(2026, 3, 15, 19), True, "已处理"), f.callback(L(2026, 3, 16, 10), True, "basically_satisfied")
    g = run("G", "SY20260310000001", "ZFJ", "suggestion", L(2026, 3, 10, 9))  # 2nd invalid return → criticism
    g.intake(L(2026, 3, 10, 9)), g.sign(L(2026, 3, 10, 9, 5))
    g.return_request(L(2026, 3, 10, 9, 30), "HBJ", "不属于本单位", "权责清单", "reject")
    g.return_review(L(2026, 3, 10, 10), False, "属本单位职责"), g.contact(L(2026, 3, 10, 10, 30), "已联系")
    g.reply(L(2026, 3, 13, 10), True, "已采纳"), g.callback(L(2026, 3, 13, 15), True, "satisfied")  # 22 wh
    # ---- March 2025
    h = run("H", "SY20250303000001", "ZFJ", "complaint", L(2025, 3, 3, 9))  # invalid return; late, reopened, on time
    h.intake(L(2025, 3, 3, 9)), h.sign(L(2025, 3, 3, 9, 30))
    h.return_request(L(2025, 3, 3, 10), "ZJJ", "不属于本单位", "权责清单", "reject")
    h.return_review(L(2025, 3, 3, 11), False, "属本单位职责"), h.contact(L(2025, 3, 3, 11, 30), "已联系")
    h.reply(L(2025, 3, 11, 10), False, "处理中"), h.callback(L(2025, 3, 11, 15), False, "dissatisfied")
    h.reply(L(2025, 3, 14, 10), True, "已处理"), h.callback(L(2025, 3, 14, 15), True, "satisfied")  # 64 wh
    i = run("I", "SY20250304000001", "ZJJ", "consultation", L(2025, 3, 4, 9))  # 2 wh
    i.intake(L(2025, 3, 4, 9)), i.sign(L(2025, 3, 4, 9, 10)), i.contact(L(2025, 3, 4, 9, 20), "已联系")
    i.reply(L(2025, 3, 4, 11), True, "已答复"), i.callback(L(2025, 3, 4, 15), True, "satisfied")
    strikes = []
    for life in lives.values():
        if isinstance(life, SimulatedOrder):
            life.finish()
            strikes += life.strikes
    replay_ledger(strikes, POLICY, ExactSink(db, POLICY))
    return lives


@pytest.fixture
def world(any_db):
    return any_db, build_world(any_db)


def test_every_kpi_by_hand(world):
    db, lives = world
    k = kpi.kpis(db, MAR26, APR26)
    expected = {  # (this March, last March)
        "invalid_returns": (2, 1),  # C, G vs H
        "return_rate": (3 / 8, 1 / 2),  # C, D, G of 8 dispatches (D twice: ZFJ, then SWJ)
        "response_rate": (6 / 8, 1.0),  # B and F signed late
        "on_time_rate": (5 / 6, 1.0),  # B late; C on time thanks to its extension; H once, by its re-reply
        "resolution_rate": (4 / 6, 2 / 3),  # rated: A C D1 D2 F G (B unrated) | H1 H2 I
        "satisfaction_rate": (5 / 6, 2 / 3),
        "avg_handling_hours": ((15 + 9.5 + 44.5 + 25.5 + 0 + 22) / 6, (64 + 2) / 2),
        "criticisms": (1, 0),  # ZFJ: 2 invalid returns within 30 days
        "referrals": (0, 0),
    }
    for name, (this, last) in expected.items():
        assert k[name]["value"] == pytest.approx(this), name
        assert k[name]["last_year"] == pytest.approx(last), name
    assert k["invalid_returns"]["yoy"] == pytest.approx(1.0)
    assert k["on_time_rate"]["numerator"] == 5 and k["on_time_rate"]["denominator"] == 6
    assert k["response_rate"]["change"] == pytest.approx(-0.25)
    assert k["criticisms"]["yoy"] is None and k["criticisms"]["change"] == 1  # last year zero: no YoY
    assert k["referrals"]["yoy"] is None and k["referrals"]["change"] == 0


def test_extended_deadline_counts_as_met(world):
    db, lives = world
    c = lives["C"].st
    assert lives["C_due_before_extension"] < c.replied_at <= c.deadlines.reply_by
    zfj = kpi.kpis(db, MAR26, APR26, unit="ZFJ")
    assert (zfj["on_time_rate"]["numerator"], zfj["on_time_rate"]["denominator"]) == (2, 2)  # C, G
    assert zfj["avg_handling_hours"]["value"] == pytest.approx((44.5 + 22) / 2)


def test_reopened_order_counted_once(world):
    db, lives = world
    with db.session() as s:
        d = s.get(OrderRow, "SY20260302000003")
        assert d.reopens == 1 and d.owner == "SWJ" and d.replied_on_time is True
        assert len(s.scalars(select(CallbackRow).where(CallbackRow.order_no == d.order_no)).all()) == 2
    swj = kpi.kpis(db, MAR26, APR26, unit="SWJ")
    assert swj["on_time_rate"]["denominator"] == 1  # D, once, by its re-reply
    assert swj["avg_handling_hours"]["value"] == pytest.approx(25.5)  # from the redispatch to SWJ
    assert swj["resolution_rate"]["denominator"] == 2  # both ratings stay: each rated a real reply
    # last year: H replied late, was reopened and re-replied on time: one order, on time
    zfj = kpi.kpis(db, MAR26, APR26, unit="ZFJ")
    assert (zfj["on_time_rate"]["last_year_numerator"], zfj["on_time_rate"]["last_year_denominator"]) == (1, 1)


def test_no_rated_callbacks_is_undefined_not_zero(world):
    db, _ = world
    # 10 March 09:00-09:30: B's answer window lapsed (unrated) at 09:00; nothing was rated
    k = kpi.kpis(db, "2026-03-10T09:00:00+08:00", "2026-03-10T09:30:00+08:00")
    with db.session() as s:
        unrated = s.scalars(select(CallbackRow).where(CallbackRow.order_no == "SY20260303000001")).one()
    assert unrated.unrated is True
    assert k["resolution_rate"]["value"] is None and k["satisfaction_rate"]["value"] is None
    assert k["resolution_rate"]["denominator"] == 0
    empty = kpi.kpis(db, MAR26, APR26, unit="JTTZ")  # a unit with nothing at all
    assert all(empty[n]["value"] is None for n in kpi.RATES + ("avg_handling_hours",))
    assert empty["invalid_returns"]["value"] == 0 and empty["invalid_returns"]["yoy"] is None


def test_units_ranking_and_monthly_series(world):
    db, _ = world
    r = kpi.build_report(db, MAR26, APR26)
    top = r["ranking"][:4]
    assert [x["unit"] for x in top] == ["ZFJ", "SWJ", "ZJJ", "JTJ"]
    zfj, swj, zjj, jtj = top
    assert zfj["kpis"]["invalid_returns"] == 2 and zfj["last_year"]["invalid_returns"] == 1
    assert zfj["kpis"]["return_rate"] == 1.0 and zfj["kpis"]["criticisms"] == 1
    assert zfj["kpis"]["resolution_rate"] == pytest.approx(1 / 2)  # C unresolved, G resolved
    assert swj["dispatched"] == 2 and swj["kpis"]["response_rate"] == 1.0
    assert zjj["kpis"]["response_rate"] == 0.5 and zjj["kpis"]["on_time_rate"] == 0.5
    assert jtj["kpis"]["response_rate"] == 0.0 and jtj["kpis"]["avg_handling_hours"] == 0.0
    assert "HOTLINE" not in {x["unit"] for x in r["ranking"]}
    # the city total is the sum of the units
    assert sum(x["kpis"]["invalid_returns"] for x in r["ranking"]) == r["kpis"]["invalid_returns"]["value"]
    m = r["monthly_invalid_returns"]
    assert m["year"] == 2026
    assert m["this_year"] == [0, 0, 2] + [None] * 9  # April onwards has not happened in this period
    assert m["last_year"] == [0, 0, 1] + [0] * 9


def test_handling_time_in_sql_equals_the_calendar_order_by_order(world, monkeypatch):
    db, _ = world
    clock = kpi.WorkClock(kpi.calendar_for(POLICY))
    p = kpi.make_period("2025-03-12", "2026-04-01")  # from H's re-reply (14 March 2025) on
    with db.session() as s:
        in_sql = dict(clock.replies(s, p))  # PostgreSQL: the day table as arrays
        joined = dict(clock.replies(s, p, lookup="join"))  # SQLite's way, on both
        one_by_one = dict(clock.replies(s, p, order_by_order=True))
        monkeypatch.setattr(kpi.WorkClock, "HISTORY_DAYS", 5)  # H's dispatch (3 March) precedes the day table
        partly = dict(clock.replies(s, p))
    assert in_sql.keys() == joined.keys() == one_by_one.keys() == partly.keys() == {"ZJJ", "ZFJ", "SWJ", "JTJ"}
    for u in in_sql:
        for other in (joined, one_by_one, partly):
            assert in_sql[u]["handled"] == other[u]["handled"] and in_sql[u]["replied"] == other[u]["replied"]
            assert in_sql[u]["handling_seconds"] == pytest.approx(other[u]["handling_seconds"], abs=1e-6)
    assert in_sql["ZFJ"]["handling_seconds"] == (64 + 44.5 + 22) * 3600  # H, C, G


def test_ledger_kinds_counted(any_db):
    acts = ExactSink(any_db, POLICY)
    for key, kind, at in [("c1", "criticism", L(2026, 3, 5)), ("c2", "criticism", L(2026, 3, 31, 23, 59)),
                          ("r1", "referral", L(2026, 3, 20)), ("a1", "referral_appendix", L(2026, 3, 21)),
                          ("s1", "staff_referral", L(2026, 3, 22)), ("c0", "criticism", L(2026, 4, 1)),
                          ("c9", "criticism", L(2025, 3, 9))]:
        acts.ledger(LedgerEvent(key=key, unit="ZJJ", year=2026, kind=kind, at=at))
    k = kpi.kpis(any_db, MAR26, APR26, unit="ZJJ")
    assert (k["criticisms"]["value"], k["criticisms"]["last_year"], k["referrals"]["value"]) == (2, 1, 1)
    assert k["criticisms"]["yoy"] == pytest.approx(1.0)


@pytest.mark.parametrize("frm,to,unit,message", [
    ("2026-04-01", "2026-03-01", None, "must be before"),
    ("2026-03-01", "2026-03-01", None, "must be before"),
    ("2026-13-01", "2026-04-01", None, "is not a date"),
    ("yesterday", "2026-04-01", None, "is not a date"),
    ("", "2026-04-01", None, "from is missing"),
    ("1999-01-01", "2026-04-01", None, "out of range"),
    ("2026-03-01", "2026-04-01", "NOPE", "unknown unit 'NOPE'"),
])
def test_bad_input_is_refused_with_a_clear_message(sqlite_db, frm, to, unit, message):
    with pytest.raises(kpi.KpiError, match=message):
        kpi.build_report(sqlite_db, frm, to, unit)


def test_periods_are_local_and_last_year_handles_29_february():
    p = kpi.make_period("2024-02-29", "2024-03-01")
    assert p.start_utc == datetime(2024, 2, 28, 16, tzinfo=UTC)
    assert p.last_year().as_dict() == {"from": "2023-02-28", "to": "2023-03-01"}


@pytest.mark.parametrize("any_db", ["sqlite", "postgresql"], indirect=True)
def test_sign_deadline_with_an_offset_is_judged_on_the_instant(any_db, request):
    """compute_deadlines returns +08:00 instants; a sign 2 h late must not count as on time."""
    st = new_order("SY20260302000099", L(2026, 3, 2, 9), "ZJJ", "complaint", "normal", "t", "d", None,
                   "王先生", "13800001234")
    st.deadlines.sign_by = datetime(2026, 3, 2, 11, tzinfo=TZ)
    store = StoreActivities(any_db)
    store.record_step(StepRecord(seq=1, action="dispatch", by="hotline", at=L(2026, 3, 2, 9), state=st))
    store.record_step(StepRecord(seq=2, action="sign", by="ZJJ", at=L(2026, 3, 2, 13), state=st))
    with any_db.session() as s:
        assert s.scalars(select(DispatchRow)).one().signed_on_time is False


# ---------------------------------------------------------------- HTTP and CLI


def _client(db):
    from hotline.api.app import create_app
    return TestClient(create_app(db, None, None))  # the KPI routes are the app's own


def test_http_kpi(world):
    db, _ = world
    client = _client(db)
    admin = {"X-API-Key": create_key(db, "admin", "t")}
    res = client.get("/api/v1/kpi", params={"from": MAR26, "to": APR26, "unit": "ZFJ"}, headers=admin)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["kpis"]["invalid_returns"]["value"] == 2 and body["unit"]["code"] == "ZFJ"
    assert body["kpis"]["on_time_rate"]["value"] == 1.0
    dept = {"X-API-Key": create_key(db, "department:ZJJ", "t")}
    assert client.get("/api/v1/kpi", params={"from": MAR26, "to": APR26}, headers=dept).status_code == 200
    intake = {"X-API-Key": create_key(db, "intake", "t")}
    assert client.get("/api/v1/kpi", params={"from": MAR26, "to": APR26}, headers=intake).status_code == 403
    assert client.get("/api/v1/kpi", params={"from": MAR26, "to": APR26}).status_code == 401
    for params, word in [({"from": APR26, "to": MAR26}, "must be before"), ({"from": "x", "to": APR26}, "not a date"),
                         ({"from": MAR26, "to": APR26, "unit": "XX"}, "unknown unit"), ({"to": APR26}, "from")]:
        res = client.get("/api/v1/kpi", params=params, headers=admin)
        assert res.status_code == 422 and res.json()["error"]["code"] == "invalid_input", params
        assert word in res.json()["error"]["message"]


def test_cli_report_and_errors(sqlite_db, tmp_path, monkeypatch, capsys):
    from cli import report as cli_report
    build_world(sqlite_db)
    monkeypatch.setenv("DATABASE_URL", sqlite_db.url)
    parser = argparse.ArgumentParser()
    cli_report.add_commands(parser.add_subparsers(dest="cmd"))
    out = tmp_path / "r.html"
    args = parser.parse_args(["report", "--from", MAR26, "--to", APR26, "--out", str(out)])
    cli_report.HANDLERS[args.cmd](args)
    text = capsys.readouterr().out
    assert "Invalid returns 无效退单量" in text and "+100.0%" in text and out.read_text().startswith("<!DOCTYPE html>")
    for argv, message in [(["report", "--from", APR26, "--to", MAR26], "must be before"),
                          (["report", "--from", MAR26, "--to", APR26, "--unit", "XX"], "unknown unit"),
                          (["report", "--from", MAR26, "--to", APR26, "--out", str(tmp_path / "no" / "r.html")],
                           "existing folder"),
                          (["simulate", "--months", "abc"], "--months must be a whole number"),
                          (["simulate", "--orders-per-day", "0"], "from 1 to 2000"),
                          (["simulate", "--until", "2026-02-30"], "not a date"),
                          (["simulate", "--months", "1"], "real work orders")]:
        args = parser.parse_args(argv)
        with pytest.raises(cli_report.ReportError, match=message) as err:
            args.handler(args)
        assert "\n" not in str(err.value)
