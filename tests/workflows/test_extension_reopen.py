"""Extension (延期) review and reopen (重办) after an unsatisfied callback (policy `fast`)."""
from __future__ import annotations

import pytest

from hotline.domain.models import (
    CallbackAction,
    ContactAction,
    ExtensionRequestAction,
    ExtensionReviewAction,
    ReplyAction,
    SignAction,
    Stage,
)
from hotline.services.port import ActionRefused
from tests.harness import notices, running_worker, until


async def _handling(h, owner="ZJJ"):
    no, handle = await h.start(owner=owner)
    await h.act(no, "sign", SignAction(by=owner))
    await h.act(no, "contact", ContactAction(by=owner, note="已联系"))
    return no, handle


async def test_approved_extension_moves_the_deadline_and_rearms_the_timers(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await _handling(h)
        before = (await h.state(no)).deadlines.reply_by
        st = await h.act(no, "extension-request", ExtensionRequestAction(by="ZJJ", days=4, reason="需第三方检测"))
        assert st.pending.kind == "extension"
        with pytest.raises(ActionRefused, match="already waiting"):
            await h.act(no, "extension-request", ExtensionRequestAction(by="ZJJ", days=1, reason="再延"))
        st = await h.act(no, "extension-review", ExtensionReviewAction(by="admin:li", decision="approve",
                                                                       reason="检测周期合理"))
        # `fast`: one requested working day moves the deadline by 5 s
        assert (st.deadlines.reply_by - before).total_seconds() == pytest.approx(20, abs=0.01)
        assert st.extension_days == 4 and st.pending is None
        await ts_env.sleep(42)  # past the old deadline, before the new one
        st = await h.state(no)
        assert not st.overdue and notices(st, "supervision") == []
        await ts_env.sleep(20)
        st = await until(h, no, lambda s: s.overdue)
        assert len(notices(st, "supervision", "ZJJ")) == 1


async def test_rejected_extension_keeps_the_deadline(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await _handling(h)
        before = (await h.state(no)).deadlines.reply_by
        await h.act(no, "extension-request", ExtensionRequestAction(by="ZJJ", days=2, reason="人手不足"))
        st = await h.act(no, "extension-review", ExtensionReviewAction(by="admin:li", decision="reject",
                                                                       reason="理由不充分"))
        assert st.deadlines.reply_by == before and st.extension_days == 0
        await ts_env.sleep(41)
        assert (await until(h, no, lambda s: s.overdue)).overdue


async def test_extension_beyond_ten_working_days_is_refused(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, handle = await _handling(h)
        await h.act(no, "extension-request", ExtensionRequestAction(by="ZJJ", days=8, reason="工程量大"))
        await h.act(no, "extension-review", ExtensionReviewAction(by="admin:li", decision="approve", reason="同意"))
        with pytest.raises(ActionRefused, match="exceed the 10wd allowed per order"):
            await h.act(no, "extension-request", ExtensionRequestAction(by="ZJJ", days=3, reason="还要延"))
        assert (await h.state(no)).pending is None


async def test_extension_review_by_a_department_is_forbidden(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await _handling(h)
        await h.act(no, "extension-request", ExtensionRequestAction(by="ZJJ", days=1, reason="需协调"))
        with pytest.raises(ActionRefused, match="only the hotline office") as err:
            await h.act(no, "extension-review", ExtensionReviewAction(by="ZJJ", decision="approve", reason="自批"))
        assert err.value.kind == "Forbidden"


async def _reply_and_rate(h, no, satisfaction="dissatisfied", resolved=False):
    await h.act(no, "reply", ReplyAction(by="ZJJ", result="已处理", resolved=True))
    return await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=resolved,
                                                      satisfaction=satisfaction))


async def test_unsatisfied_callback_reopens_twice_then_closes_escalated(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, handle = await _handling(h)
        st = await _reply_and_rate(h, no)
        assert st.stage == Stage.reopened and st.reopens == 1 and st.owner == "ZJJ"
        first_deadline = st.deadlines.reply_by
        assert first_deadline > st.replied_at if st.replied_at else True
        await ts_env.sleep(5)
        st = await _reply_and_rate(h, no)
        assert st.stage == Stage.reopened and st.reopens == 2 and st.deadlines.reply_by > first_deadline
        st = await _reply_and_rate(h, no)
        final = await handle.result()
        assert final.stage == Stage.closed and final.close_reason == "escalated" and final.reopens == 2
        assert len([n for n in notices(final, "supervision", "ZJJ") if n.key.endswith(":reopens")]) == 1


async def test_reopened_order_gets_a_fresh_deadline_with_its_own_timers(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, _ = await _handling(h)
        st = await _reply_and_rate(h, no)
        assert st.stage == Stage.reopened
        await ts_env.sleep(41)
        st = await until(h, no, lambda s: s.overdue)
        assert st.overdue and len(notices(st, "supervision", "ZJJ")) == 1


async def test_resolved_but_dissatisfied_closes_without_reopen(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, handle = await _handling(h)
        await _reply_and_rate(h, no, satisfaction="dissatisfied", resolved=True)
        final = await handle.result()
        assert final.close_reason == "resolved" and final.reopens == 0
