"""Intake answered from the start (GIVEN_DEADLINES): the gateway computes the dispatched order
with the calendar and answers once the start is persisted; the workflow, given the same
deadlines in its input, reaches the very state the caller was told, writes it after the answer,
and keeps its deadlines with the same timers. On the real time-skipping server, real activities
on SQLite."""
from __future__ import annotations

import asyncio
import time

from temporalio.api.enums.v1 import EventType

from hotline.domain.models import SignAction, Stage
from hotline.store.readmodel import load_order
from tests.harness import fired_and_cancelled_timers, intake, notices, running_worker, until
from workflows.order_core import GIVEN_DEADLINES


async def _written(db, order_no: str, timeout: float = 15.0):
    """The read model once the workflow's first write landed (its audit rows are there)."""
    end = time.monotonic() + timeout
    while True:
        st = await asyncio.to_thread(load_order, db, order_no)
        if st is not None and _has_rows(db, order_no):
            return st
        if time.monotonic() > end:
            raise AssertionError(f"order {order_no} was never written")
        await asyncio.sleep(0.05)


def _has_rows(db, order_no: str) -> bool:
    from sqlalchemy import func, select

    from hotline.store.tables import ActionRow
    with db.session() as s:
        return bool(s.scalar(select(func.count()).select_from(ActionRow).where(ActionRow.order_no == order_no)))


def _local_activities(history) -> int:
    return sum(e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and e.marker_recorded_event_attributes.marker_name
               == "core_local_activity" for e in history.events)


def _patches(history) -> list[str]:
    out = []
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED \
                and e.marker_recorded_event_attributes.marker_name == "core_patch":
            out.append(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data.decode())
    return out


async def test_the_answer_is_the_order_the_workflow_reaches_and_writes(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast", from_start=True) as h:
        no = "SY20261127000001"
        answer = await h.engine.start_order(no, intake(), "ZJJ", "operator", [])
        assert answer.stage == Stage.dispatched and answer.owner == "ZJJ"
        assert answer.deadlines.sign_by and answer.deadlines.reply_by and answer.deadlines.remind_at
        assert [a.action for a in answer.actions] == ["intake", "dispatch"]
        assert [(n.kind, n.to) for n in answer.notices] == [("dispatch", "ZJJ")]

        written = await _written(sqlite_db, no)
        assert written == answer  # the read model, after the workflow's own first write
        assert await h.state(no) == answer  # the workflow's own state

        handle = h.client.get_workflow_handle(f"order-{no}")
        hist = await handle.fetch_history()
        assert GIVEN_DEADLINES in " ".join(_patches(hist))
        # intake's deadlines came with the start: its one local activity is the write
        assert _local_activities(hist) == 1


async def test_a_retried_intake_gets_the_orders_own_answer_and_no_second_order(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast", from_start=True) as h:
        no = "SY20261127000002"
        first = await h.engine.start_order(no, intake(), "ZJJ", "operator", [])
        again = await h.engine.start_order(no, intake(), "ZJJ", "operator", [])  # the workflow answers
        assert again == first
        hist = await h.client.get_workflow_handle(f"order-{no}").fetch_history()
        assert sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED for e in hist.events) == 1


async def test_the_sign_for_deadline_read_back_is_the_one_that_fires(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast", from_start=True) as h:
        no = "SY20261127000003"
        answer = await h.engine.start_order(no, intake(), "ZJJ", "operator", [])
        await _written(sqlite_db, no)
        await ts_env.sleep(12)  # sign-for is 10 s in `fast`
        st = await until(h, no, lambda s: len(notices(s, "supervision")) >= 1)
        assert len(notices(st, "reminder", "ZJJ")) == 1 and len(notices(st, "supervision", "ZJJ")) == 1
        overdue = [a for a in st.actions if a.action == "sign-overdue"]
        assert len(overdue) == 1 and overdue[0].at == answer.deadlines.sign_by  # dated at the deadline told
        fired, _ = await fired_and_cancelled_timers(h.client.get_workflow_handle(f"order-{no}"))
        assert sum("sign-for" in f for f in fired) == 1


async def test_signed_in_time_the_sign_for_timer_is_cancelled(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast", from_start=True) as h:
        no = "SY20261127000004"
        await h.engine.start_order(no, intake(), "ZJJ", "operator", [])
        await h.act(no, "sign", SignAction(by="ZJJ"))  # may reach the order before its first task ran
        await ts_env.sleep(12)
        st = await h.state(no)
        assert st.signed_at is not None and notices(st, "reminder") == []
        fired, cancelled = await fired_and_cancelled_timers(h.client.get_workflow_handle(f"order-{no}"))
        assert any("sign-for" in c for c in cancelled) and not any("sign-for" in f for f in fired)


async def test_an_action_in_the_orders_first_task_meets_the_order_it_was_told(ts_env, sqlite_db):
    """The owner signs before any worker has run the order: the sign and the start reach the
    workflow in one first task, before its run carried intake out. The caller was told the
    order is dispatched, so the sign is checked against that order and applies after intake
    (it was refused as 'cannot sign an order in stage intake')."""
    from hotline.domain.policy import load_policy
    from hotline.services.deadlines import DeadlineCalculator
    from workflows.client import TemporalWorkOrders

    queue = "q-first-task"
    engine = TemporalWorkOrders(ts_env.client, queue, load_policy("fast"), search_attributes=False,
                                deadlines=DeadlineCalculator().compute)
    no = "SY20261127000005"
    answer = await engine.start_order(no, intake(), "ZJJ", "operator", [])  # no worker yet
    sign = asyncio.create_task(engine.act(no, "sign", SignAction(by="ZJJ")))
    await asyncio.sleep(1)  # the update waits at the server with the order's first task
    assert not sign.done()
    async with running_worker(ts_env.client, sqlite_db, "fast", queue=queue) as h:
        signed = await asyncio.wait_for(sign, 15)
        assert signed.stage == Stage.signed and signed.deadlines.sign_by == answer.deadlines.sign_by
        assert [a.action for a in signed.actions] == ["intake", "dispatch", "sign"]
        hist = await h.client.get_workflow_handle(f"order-{no}").fetch_history()
        first_completed = next(i for i, e in enumerate(hist.events)
                               if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
        accepted = next(i for i, e in enumerate(hist.events)
                        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
        assert accepted > first_completed  # accepted by the first task, not a later one
        assert sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
                   for e in hist.events[:accepted]) == 1


async def test_an_action_the_answered_order_refuses_is_refused_in_the_first_task_too(ts_env, sqlite_db):
    from hotline.domain.models import ReplyAction
    from hotline.domain.policy import load_policy
    from hotline.services.deadlines import DeadlineCalculator
    from hotline.services.port import ActionRefused
    from workflows.client import TemporalWorkOrders

    queue = "q-first-task-refused"
    engine = TemporalWorkOrders(ts_env.client, queue, load_policy("fast"), search_attributes=False,
                                deadlines=DeadlineCalculator().compute)
    no = "SY20261127000006"
    await engine.start_order(no, intake(), "ZJJ", "operator", [])
    reply = asyncio.create_task(engine.act(no, "reply", ReplyAction(by="ZJJ", result="r", resolved=True)))
    await asyncio.sleep(1)
    async with running_worker(ts_env.client, sqlite_db, "fast", queue=queue) as h:
        try:
            await asyncio.wait_for(reply, 15)
            raise AssertionError("a reply to an unsigned order was accepted")
        except ActionRefused as exc:
            assert "cannot reply an order in stage 'dispatched'" in str(exc)
        st = await until(h, no, lambda s: s.stage == Stage.dispatched)
        assert [a.action for a in st.actions] == ["intake", "dispatch"]
