"""The work order's happy path on the real time-skipping server, step by step, with the database."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from hotline.domain.models import (
    CallbackAction,
    ContactAction,
    ReplyAction,
    SignAction,
    Stage,
)
from hotline.services.port import ActionRefused
from hotline.store.tables import ActionRow, CallbackRow, DispatchRow, OrderRow, OutboxRow
from tests.harness import running_worker, trace


@pytest.mark.parametrize("sandboxed", [False, True], ids=["shipped-runner", "sdk-sandbox"])
async def test_intake_dispatch_sign_reply_callback_close(ts_env, sqlite_db, sandboxed):
    """Also inside the SDK's sandbox: the shipped worker runs without it (workflows/runner.py),
    and this keeps the workflow code runnable, and checked, where the sandbox restricts it."""
    async with running_worker(ts_env.client, sqlite_db, sandboxed=sandboxed) as h:
        order_no, handle = await h.start(owner="ZJJ")
        st = await h.state(order_no)
        assert st.stage == Stage.dispatched and st.owner == "ZJJ"
        assert st.deadlines.sign_by and st.deadlines.reply_by and st.deadlines.remind_at
        assert st.deadlines.sign_by < st.deadlines.remind_at < st.deadlines.reply_by

        st = await h.act(order_no, "sign", SignAction(by="ZJJ"))
        assert st.stage == Stage.signed and st.signed_late is False
        assert st.deadlines.contact_by is not None and st.deadlines.coordinate_by is not None

        st = await h.act(order_no, "contact", ContactAction(by="ZJJ", note="已电话联系，明早到现场"))
        assert st.stage == Stage.handling

        st = await h.act(order_no, "reply", ReplyAction(by="ZJJ", result="已责令工地夜间停工", resolved=True))
        assert st.stage == Stage.callback and st.replied_on_time is True
        assert st.deadlines.callback_by and st.deadlines.answer_by

        st = await h.act(order_no, "callback", CallbackAction(by="admin:li", answered=True, resolved=True,
                                                              satisfaction="satisfied"))
        assert st.stage == Stage.closed and st.close_reason == "resolved"
        final = await handle.result()
        assert final.stage == Stage.closed
        # nothing but the expected notices: no reminder or supervision fired on the happy path
        assert {n.kind for n in final.notices} == {"dispatch", "contact", "reply", "survey"}

    with sqlite_db.session() as s:
        row = s.get(OrderRow, order_no)
        assert row.stage == "closed" and row.owner == "ZJJ" and row.replied_on_time is True
        actions = [a.action for a in s.scalars(select(ActionRow).where(ActionRow.order_no == order_no)
                                               .order_by(ActionRow.seq))]
        assert actions == ["intake", "dispatch", "sign", "contact", "reply", "callback-start", "callback", "close"]
        disp = s.scalars(select(DispatchRow).where(DispatchRow.order_no == order_no)).one()
        assert disp.unit_code == "ZJJ" and disp.signed_on_time is True
        cb = s.scalars(select(CallbackRow).where(CallbackRow.order_no == order_no)).one()
        assert cb.resolved is True and cb.satisfaction == "satisfied" and cb.unrated is False
        outbox = s.scalars(select(OutboxRow).where(OutboxRow.order_no == order_no))
        kinds = sorted((o.kind, o.recipient) for o in outbox)
        assert kinds == sorted([("dispatch", "ZJJ"), ("contact", "13800001234"), ("reply", "HOTLINE"),
                                ("reply", "13800001234"), ("survey", "13800001234")])


@pytest.mark.parametrize("action,payload,message", [
    ("reply", ReplyAction(by="ZJJ", result="x", resolved=True), "cannot reply an order in stage 'dispatched'"),
    ("callback", CallbackAction(by="admin:li", answered=False), "cannot callback"),
    ("sign", SignAction(by="SWJ"), "only the owner ZJJ"),
])
async def test_invalid_actions_are_refused_and_leave_no_trace(ts_env, sqlite_db, action, payload, message):
    async with running_worker(ts_env.client, sqlite_db) as h:
        order_no, handle = await h.start(owner="ZJJ")
        before = await handle.fetch_history()
        with pytest.raises(ActionRefused) as err:
            await h.act(order_no, action, payload)
        assert message in str(err.value)
        after = await handle.fetch_history()
        assert trace(after) == trace(before), "a refused update must not enter history"
        assert (await h.state(order_no)).stage == Stage.dispatched


async def test_sign_twice_refused(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db) as h:
        order_no, handle = await h.start(owner="ZJJ")
        await h.act(order_no, "sign", SignAction(by="ZJJ"))
        before = trace(await handle.fetch_history())
        with pytest.raises(ActionRefused, match="cannot sign an order in stage 'signed'"):
            await h.act(order_no, "sign", SignAction(by="ZJJ"))
        assert trace(await handle.fetch_history()) == before
