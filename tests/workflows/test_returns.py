"""Return requests (退单) and their review: the heart of first-contact responsibility (SPEC §6)."""
from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from hotline.domain.models import ReturnRequestAction, ReturnReviewAction, SignAction, Stage
from hotline.services.port import ActionRefused
from hotline.store.tables import ReturnRequestRow, SupervisionEventRow
from tests.harness import intake, running_worker
from tests.workflows.test_timers import until_ledger

WATER = intake(category="help", title="自来水停水三天",
               description="我们小区停水三天了，自来水公司电话打不通，家里老人没水用")


async def test_return_outside_the_window_is_refused(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await h.start(owner="SWJ", req=WATER)
        await ts_env.sleep(16)  # the return window is 15s in `fast` (2wd in `sanya`)
        with pytest.raises(ActionRefused, match="return window closed"):
            await h.act(no, "return-request", ReturnRequestAction(by="SWJ", reason="非我单位职责",
                                                                  claimed_unit="ZJJ", basis="三定方案"))
        assert (await h.state(no)).return_count == 0


async def test_return_by_a_non_owner_is_forbidden(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await h.start(owner="SWJ", req=WATER)
        with pytest.raises(ActionRefused, match="only the owner SWJ") as err:
            await h.act(no, "return-request", ReturnRequestAction(by="ZJJ", reason="x", claimed_unit="JTJ", basis="y"))
        assert err.value.kind == "Forbidden"


@pytest.mark.parametrize("missing", ["reason", "claimed_unit", "basis"])
def test_return_without_reason_claimed_unit_or_basis_is_invalid(missing):
    body = {"by": "SWJ", "reason": "非我单位职责", "claimed_unit": "ZJJ", "basis": "三定方案"}
    body[missing] = ""
    with pytest.raises(ValidationError, match=missing):
        ReturnRequestAction.model_validate(body)


async def test_approved_return_redispatches_with_fresh_deadlines(ts_env, sqlite_db):
    hotel = intake(category="complaint", title="酒店乱收费",
                   description="大东海一家酒店退房时多收了我三百块清洁费，前台态度恶劣")
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await h.start(owner="SWJ", req=hotel)
        first = await h.state(no)
        st = await h.act(no, "return-request", ReturnRequestAction(
            by="SWJ", reason="酒店收费不属于水务职责", claimed_unit="LWJ", basis="水务局权责清单无此事项"))
        assert st.stage == Stage.return_review and st.return_count == 1
        assert st.pending.payload["recommendation"]["decision"] == "approve"
        await ts_env.sleep(5)
        st = await h.act(no, "return-review",
                         ReturnReviewAction(by="admin:li", decision="approve", reason="确非水务职责"))
        assert st.owner == "LWJ" and st.previous_owners == ["SWJ"] and st.stage == Stage.dispatched
        assert st.dispatched_at > first.dispatched_at
        assert st.deadlines.reply_by > first.deadlines.reply_by  # re-armed from the redispatch
        assert (st.deadlines.reply_by - st.dispatched_at).total_seconds() == pytest.approx(40, abs=0.01)
        with pytest.raises(ActionRefused, match="only the owner LWJ"):
            await h.act(no, "sign", SignAction(by="SWJ"))  # the old owner is released
        st = await h.act(no, "sign", SignAction(by="LWJ"))
        assert st.stage == Stage.signed
    with sqlite_db.session() as s:
        req = s.scalars(select(ReturnRequestRow).where(ReturnRequestRow.order_no == no)).one()
        assert (req.unit_code, req.claimed_unit, req.decision, req.reviewer) == ("SWJ", "LWJ", "approve", "admin:li")


async def test_rejected_return_keeps_the_owner_and_strikes_it(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await h.start(owner="SWJ", req=WATER)
        await h.act(no, "sign", SignAction(by="SWJ"))
        st = await h.act(no, "return-request", ReturnRequestAction(
            by="SWJ", reason="应由物业处理", claimed_unit="ZJJ", basis="小区内部管网"))
        rec = st.pending.payload["recommendation"]
        assert rec["decision"] == "reject" and rec["reason"]
        st = await h.act(no, "return-review", ReturnReviewAction(by="admin:li", decision="reject",
                                                                 reason="供水属水务局职责，无效退单"))
        assert st.owner == "SWJ" and st.stage == Stage.signed  # back where it was
        ledger = await until_ledger(ts_env.client, "SWJ", lambda ldg: len(ldg.strikes) >= 1)
        assert [(s.kind, s.order_no) for s in ledger.strikes] == [("invalid_return", no)]
        assert ledger.criticisms == []  # one strike is not yet a criticism
    with sqlite_db.session() as s:
        kinds = [e.kind for e in s.scalars(select(SupervisionEventRow).where(SupervisionEventRow.unit_code == "SWJ"))]
        assert kinds == ["strike"]


async def test_a_second_return_request_while_one_waits_is_refused(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await h.start(owner="SWJ", req=WATER)
        await h.act(no, "return-request", ReturnRequestAction(by="SWJ", reason="x", claimed_unit="ZJJ", basis="y"))
        with pytest.raises(ActionRefused, match="cannot return-request an order in stage 'return_review'"):
            await h.act(no, "return-request", ReturnRequestAction(by="SWJ", reason="x", claimed_unit="ZJJ", basis="y"))


async def test_flag_staff_refers_the_staff_member_with_the_order_evidence(ts_env, sqlite_db):
    from hotline.domain.models import FlagStaffAction
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await h.start(owner="SWJ", req=WATER)
        with pytest.raises(ActionRefused, match="only the hotline office"):
            await h.act(no, "flag-staff", FlagStaffAction(by="SWJ", staff="张某", reason="x"))
        await h.act(no, "flag-staff", FlagStaffAction(by="admin:li", staff="张某（接单员）", reason="多次推诿拒接电话"))
        ledger = await until_ledger(ts_env.client, "SWJ", lambda ldg: len(ldg.staff_referrals) == 1)
        assert ledger.staff_referrals[0].staff == "张某（接单员）" and ledger.staff_referrals[0].order_no == no
        for _ in range(50):
            with sqlite_db.session() as s:
                ev = s.scalars(select(SupervisionEventRow).where(SupervisionEventRow.kind == "staff_referral")).all()
            if ev:
                break
            await asyncio.sleep(0.1)
        assert len(ev) == 1 and ev[0].detail["evidence"]["actions"]


async def test_a_review_with_nothing_to_review_is_refused_and_fails_no_task(ts_env, sqlite_db):
    """Before the validator checked for a pending request, this crashed the workflow task
    (AttributeError on `req.by`) and the client waited ~20 s for a 503."""
    from temporalio.api.enums.v1 import EventType

    async with running_worker(ts_env.client, sqlite_db, "sanya") as h:
        no, handle = await h.start(owner="SWJ", req=WATER)
        await h.act(no, "return-request", ReturnRequestAction(by="SWJ", reason="非我单位职责",
                                                              claimed_unit="ZJJ", basis="三定方案"))
        await h.act(no, "return-review", ReturnReviewAction(by="admin:审核", decision="reject", reason="属本单位"))
        for decision in ("approve", "reject"):
            with pytest.raises(ActionRefused, match="cannot return-review|no return request"):
                await asyncio.wait_for(h.act(no, "return-review", ReturnReviewAction(
                    by="admin:审核", decision=decision, reason="再审")), timeout=10)
        hist = await handle.fetch_history()
        assert not [e for e in hist.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
