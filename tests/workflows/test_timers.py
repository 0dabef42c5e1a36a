"""Every timer of SPEC §4, both ways, on the real time-skipping server (policy `fast`).

Each test either acts in time (the timer is cancelled, no notice) or lets the deadline pass
(the notice, exactly once). `env.sleep` skips server time; `until` polls for the worker to
have processed what fired.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from hotline.domain.models import (
    CallbackAction,
    CoHandlerDoneAction,
    ContactAction,
    CoordinationPlanAction,
    ReplyAction,
    SignAction,
    Stage,
)
from hotline.services.port import ActionRefused
from tests.harness import fired_and_cancelled_timers, notices, running_worker, until


async def _signed(h, owner="ZJJ"):
    no, handle = await h.start(owner=owner)
    await h.act(no, "sign", SignAction(by=owner))
    return no, handle


# ---------------------------------------------------------------- sign-for (签收)

async def test_sign_for_missed_sends_reminder_and_supervision_once(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, handle = await h.start()
        await ts_env.sleep(12)  # sign-for is 10s in `fast`
        st = await until(h, no, lambda s: len(notices(s, "supervision")) >= 1)
        assert len(notices(st, "reminder", "ZJJ")) == 1 and len(notices(st, "supervision", "ZJJ")) == 1
        assert st.owner == "ZJJ" and st.stage == Stage.dispatched  # stays with the owner
        fired, _ = await fired_and_cancelled_timers(handle)
        assert sum("sign-for" in f for f in fired) == 1


async def test_sign_in_time_cancels_the_sign_for_timer(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, handle = await _signed(h)
        await ts_env.sleep(12)
        st = await h.state(no)
        assert notices(st, "reminder") == [] and [n for n in notices(st, "supervision") if ":sign" in n.key] == []
        fired, cancelled = await fired_and_cancelled_timers(handle)
        assert any("sign-for" in c for c in cancelled) and not any("sign-for" in f for f in fired)


# ---------------------------------------------------------------- first contact (先行联系)

async def test_contact_missed_is_supervised(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await _signed(h)
        await ts_env.sleep(11)  # contact 10s after signing
        st = await until(h, no, lambda s: bool(notices(s, "supervision")))
        sup = notices(st, "supervision", "ZJJ")
        assert len(sup) == 1 and "not contacted" in sup[0].reason


async def test_contact_in_time_no_notice(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, handle = await _signed(h)
        await h.act(no, "contact", ContactAction(by="ZJJ", note="已联系"))
        await ts_env.sleep(11)
        st = await h.state(no)
        assert notices(st, "supervision") == [] and st.stage == Stage.handling
        _, cancelled = await fired_and_cancelled_timers(handle)
        assert any("first contact" in c for c in cancelled)


# ---------------------------------------------------------------- coordination (联办)

async def test_coordination_plan_after_the_window_is_refused(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await _signed(h)
        await ts_env.sleep(16)  # the plan window is 15s in `fast` (12h in `sanya`)
        await until(h, no, lambda s: any(a.action == "coordination-window-closed" for a in s.actions))
        due = (await h.state(no)).deadlines.reply_by
        with pytest.raises(ActionRefused, match="coordination plan was due"):
            await h.act(no, "coordination-plan", CoordinationPlanAction(
                by="ZJJ", plan="请水务局配合", co_handlers=[{"unit": "SWJ", "task": "查管网", "due": due}]))


async def test_coordination_in_time_notifies_and_supervises_a_missed_promise(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await _signed(h)
        now = (await h.state(no)).signed_at
        st = await h.act(no, "coordination-plan", CoordinationPlanAction(by="ZJJ", plan="联合处置", co_handlers=[
            {"unit": "SWJ", "task": "核查管网", "due": now + timedelta(seconds=20)},
            {"unit": "ZFJ", "task": "现场执法", "due": now + timedelta(seconds=20)}]))
        assert {n.to for n in notices(st, "co-handling")} == {"SWJ", "ZFJ"}
        await h.act(no, "co-handler-done", CoHandlerDoneAction(by="SWJ", note="管网正常"))
        await ts_env.sleep(22)
        st = await until(h, no, lambda s: bool(notices(s, "supervision", "ZFJ")))
        assert len(notices(st, "supervision", "ZFJ")) == 1  # missed its promise
        assert notices(st, "supervision", "SWJ") == []  # kept its promise
        assert len(notices(st, "co-handler-overdue", "ZJJ")) == 1  # the owner is told


async def test_a_co_handler_cannot_reply(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await _signed(h)
        now = (await h.state(no)).signed_at
        await h.act(no, "coordination-plan", CoordinationPlanAction(by="ZJJ", plan="联合处置", co_handlers=[
            {"unit": "SWJ", "task": "核查管网", "due": now + timedelta(seconds=30)}]))
        with pytest.raises(ActionRefused, match="only the owner ZJJ may reply") as err:
            await h.act(no, "reply", ReplyAction(by="SWJ", result="已处理", resolved=True))
        assert err.value.kind == "Forbidden"


# ---------------------------------------------------------------- reminder (催办), supervision (督办)

async def test_reminder_at_75_percent_then_supervision_at_the_deadline(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await _signed(h)
        await h.act(no, "contact", ContactAction(by="ZJJ", note="已联系"))
        st = await h.state(no)
        # complaint: 40s handling, reminder at 30s from dispatch
        assert (st.deadlines.remind_at - st.dispatched_at).total_seconds() == pytest.approx(30, abs=0.01)
        await ts_env.sleep(31)
        st = await until(h, no, lambda s: bool(notices(s, "reminder")))
        assert len(notices(st, "reminder", "ZJJ")) == 1 and notices(st, "supervision") == []
        assert st.overdue is False
        await ts_env.sleep(10)
        st = await until(h, no, lambda s: s.overdue)
        assert st.overdue is True and len(notices(st, "supervision", "ZJJ")) == 1
        assert len(notices(st, "reminder", "ZJJ")) == 1  # still exactly once


async def test_reply_in_time_no_reminder_no_supervision(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, handle = await _signed(h)
        await h.act(no, "contact", ContactAction(by="ZJJ", note="已联系"))
        await h.act(no, "reply", ReplyAction(by="ZJJ", result="已处理", resolved=True))
        await ts_env.sleep(45)
        st = await h.state(no)
        assert notices(st, "reminder", "ZJJ") == [] and notices(st, "supervision") == [] and not st.overdue
        _, cancelled = await fired_and_cancelled_timers(handle)
        assert any("reminder" in c for c in cancelled) and any("handling deadline" in c for c in cancelled)


# ---------------------------------------------------------------- escalation (still overdue → ladder)

async def test_still_unreplied_after_supervision_escalates_to_a_criticism(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await _signed(h, owner="HBJ")
        await ts_env.sleep(41 + 31)  # deadline 40s, then 30s after supervision
        st = await until(h, no, lambda s: any(a.action == "strike" for a in s.actions))
        assert len(notices(st, "escalation", "HBJ")) == 1
        ledger = await until_ledger(ts_env.client, "HBJ", lambda ldg: len(ldg.criticisms) >= 1)
        assert len(ledger.criticisms) == 1 and ledger.criticisms[0].orders == [no]


async def test_reply_after_supervision_but_before_escalation_no_strike(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await _signed(h)
        await ts_env.sleep(42)
        await until(h, no, lambda s: s.overdue)
        st = await h.act(no, "reply", ReplyAction(by="ZJJ", result="逾期办结", resolved=True))
        assert st.replied_on_time is False
        await ts_env.sleep(35)
        st = await h.state(no)
        assert notices(st, "escalation") == [] and not any(a.action == "strike" for a in st.actions)


async def until_ledger(client, unit: str, check, timeout: float = 15.0):
    import asyncio
    import time

    from workflows.supervision import DepartmentSupervisionWorkflow
    handle = client.get_workflow_handle_for(DepartmentSupervisionWorkflow.run, f"supervision-{unit}")
    end = time.monotonic() + timeout
    while True:
        try:
            ledger = await handle.query(DepartmentSupervisionWorkflow.ledger_state)
            if check(ledger) or time.monotonic() > end:
                return ledger
        except Exception:
            if time.monotonic() > end:
                raise
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------- callback (回访)

async def _replied(h):
    no, handle = await _signed(h)
    await h.act(no, "contact", ContactAction(by="ZJJ", note="已联系"))
    await h.act(no, "reply", ReplyAction(by="ZJJ", result="已处理", resolved=True))
    return no, handle


async def test_callback_not_made_reminds_the_hotline_then_unrated_closes(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, handle = await _replied(h)
        await ts_env.sleep(16)  # the hotline should call within 15s in `fast`
        st = await until(h, no, lambda s: bool(notices(s, "reminder", "HOTLINE")))
        assert len(notices(st, "reminder", "HOTLINE")) == 1 and st.stage == Stage.callback
        await ts_env.sleep(5)  # the petitioner's answer window is 20s
        final = await handle.result()
        assert final.stage == Stage.closed and final.close_reason == "unrated"
        assert final.callback.unrated is True and final.callback.satisfaction is None


async def test_callback_in_time_closes_without_notices(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, handle = await _replied(h)
        await h.act(no, "callback", CallbackAction(by="admin:li", answered=False))  # no answer yet
        await ts_env.sleep(5)
        await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=True,
                                                   satisfaction="basically_satisfied"))
        final = await handle.result()
        assert final.close_reason == "resolved" and notices(final, "reminder", "HOTLINE") == []
        assert final.callback.unrated is False


async def test_never_signed_by_the_handling_deadline_is_a_refusal_strike(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await h.start(owner="GDJ")
        await ts_env.sleep(41)
        st = await until(h, no, lambda s: any(a.action == "strike" for a in s.actions))
        strike = [a for a in st.actions if a.action == "strike"]
        assert len(strike) == 1 and strike[0].detail["kind"] == "never_signed"
        ledger = await until_ledger(ts_env.client, "GDJ", lambda ldg: len(ldg.strikes) == 1)
        assert [s.kind for s in ledger.strikes] == ["never_signed"]


async def test_signed_late_but_before_the_deadline_is_no_strike(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await h.start(owner="GDJ")
        await ts_env.sleep(20)
        st = await h.act(no, "sign", SignAction(by="GDJ"))
        assert st.signed_late is True
        await ts_env.sleep(25)
        st = await until(h, no, lambda s: s.overdue)
        assert not any(a.action == "strike" for a in st.actions)
