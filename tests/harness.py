"""Running a real worker against a test environment, with real activities on a real database."""
from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone

from sqlalchemy import Integer
from temporalio.client import Client, WorkflowHandle

from hotline.domain.models import IntakeRequest, OrderState
from hotline.domain.policy import Policy, load_policy
from hotline.domain.routing.router import Router
from hotline.runtime.settings import load_settings
from hotline.store import Database
from hotline.store.routing_models import make_router
from worker import make_worker
from workflows.client import TemporalWorkOrders
from workflows.work_order import WorkOrderWorkflow

_ROUTER: Router | None = None


def router() -> Router:
    global _ROUTER
    if _ROUTER is None:
        _ROUTER = make_router(learned=False)
    return _ROUTER


def intake(**over) -> IntakeRequest:
    body = {"channel": "phone", "category": "complaint", "urgency": "normal",
            "title": "工地夜间施工噪音", "description": "小区旁边工地每天晚上十一点还在打桩，吵得睡不着",
            "petitioner": {"name": "王小明", "phone": "13800001234"},
            "location": {"district": "JYQ", "address": "吉阳区迎宾路"}}
    body.update(over)
    return IntakeRequest.model_validate(body)


class Harness:
    def __init__(self, client: Client, db: Database, queue: str, policy: Policy, search_attributes: bool,
                 from_start: bool = False, calendar_overrides: dict | None = None) -> None:
        """`from_start`: intake answered from the start, as the gateway runs it, on the worker's
        calendar; otherwise the update-with-start path (retried intakes, orders before it)."""
        self.client, self.db, self.queue, self.policy = client, db, queue, policy
        from functools import partial

        from hotline.services.calendar_admin import CalendarSource
        from hotline.services.deadlines import DeadlineCalculator
        from hotline.store.commits import confirm
        from hotline.store.readmodel import remember_dispatch
        given = {}
        if from_start:
            calc = DeadlineCalculator(CalendarSource(db) if calendar_overrides is None else calendar_overrides)
            given = dict(deadlines=calc.compute, remember=partial(remember_dispatch, db))
        self.engine = TemporalWorkOrders(client, queue, policy, search_attributes, confirm=partial(confirm, db),
                                         **given)
        self._n = 0

    async def start(self, owner: str = "ZJJ", req: IntakeRequest | None = None,
                    created_at: datetime | None = None) -> tuple[str, WorkflowHandle]:
        self._n += 1
        order_no = f"SY{uuid.uuid4().int % 10**14:014d}"
        await self.engine.start_order(order_no, req or intake(), owner, "operator", [], created_at)
        return order_no, self.client.get_workflow_handle_for(WorkOrderWorkflow.run, f"order-{order_no}")

    async def written(self, order_no: str, timeout: float = 15.0) -> None:
        """Until the order's first workflow task has committed: its audit rows are written and
        confirmed (intake answered from the start answers before the workflow has run)."""
        import asyncio
        import time

        from sqlalchemy import func, select

        from hotline.store.tables import ActionRow

        def done() -> bool:
            with self.db.session() as s:
                rows = s.execute(select(func.count(), func.sum(ActionRow.confirmed.cast(Integer)))
                                 .where(ActionRow.order_no == order_no)).one()
            return bool(rows[0]) and rows[0] == rows[1]
        end = time.monotonic() + timeout
        while not await asyncio.to_thread(done):
            if time.monotonic() > end:
                raise AssertionError(f"order {order_no}: its first task did not commit in {timeout} s")
            await asyncio.sleep(0.05)

    async def act(self, order_no: str, action: str, payload) -> OrderState:
        return await self.engine.act(order_no, action, payload)

    async def state(self, order_no: str) -> OrderState:
        return await self.engine.query_state(order_no)  # inspection in tests, never a product path


@asynccontextmanager
async def running_worker(client: Client, db: Database, policy: str | Policy = "sanya", queue: str | None = None,
                         search_attributes: bool = False, calendar_overrides: dict | None = None,
                         sandboxed: bool = False, from_start: bool = False):
    """search_attributes=True only on the dev server: the time-skipping server has no custom ones."""
    queue = queue or f"q-{uuid.uuid4().hex[:8]}"
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    settings = load_settings({"HOTLINE_TASK_QUEUE": queue, "HOTLINE_WORKFLOW_SANDBOX": "on" if sandboxed else "off"})
    import asyncio

    from workflows.commits import watch
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch(db, client, stop, every=0.2, quiet=0.2))  # as worker.py runs it
    try:
        async with make_worker(client, db, settings, policy=pol, router=router(),
                               calendar_overrides=calendar_overrides):
            yield Harness(client, db, queue, pol, search_attributes, from_start, calendar_overrides)
    finally:
        stop.set()
        await watcher


def utc(*a) -> datetime:
    return datetime(*a, tzinfo=timezone.utc)


def trace(history) -> list[str]:
    """The events that carry meaning: everything but workflow-task bookkeeping.

    The time-skipping server (unlike a real cluster) writes a workflow task even for an update
    its validator rejected; what must never appear is an accepted update or a new command.
    """
    return [e.WhichOneof("attributes") for e in history.events
            if not e.WhichOneof("attributes").startswith("workflow_task_")]


async def until(h: "Harness", order_no: str, check, timeout: float = 15.0) -> OrderState:
    """Poll the order's state (real seconds) until `check(state)` holds; the last state otherwise."""
    import asyncio
    import time
    end = time.monotonic() + timeout
    while True:
        st = await h.state(order_no)
        if check(st) or time.monotonic() > end:
            return st
        await asyncio.sleep(0.05)


def notices(st: OrderState, kind: str, to: str | None = None) -> list:
    return [n for n in st.notices if n.kind == kind and (to is None or n.to == to)]


async def fired_and_cancelled_timers(handle) -> tuple[list[str], list[str]]:
    """Summaries of timers that fired and of timers that were cancelled, from the history."""
    from temporalio.api.enums.v1 import EventType
    hist = await handle.fetch_history()
    started, fired, cancelled = {}, [], []
    for e in hist.events:
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            started[e.timer_started_event_attributes.timer_id] = summary_text(e)
        elif e.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            fired.append(started.get(e.timer_fired_event_attributes.timer_id, ""))
        elif e.event_type == EventType.EVENT_TYPE_TIMER_CANCELED:
            cancelled.append(started.get(e.timer_canceled_event_attributes.timer_id, ""))
    return fired, cancelled


def summary_text(event) -> str:
    """An event's summary as stored (JSON text), opened with the suite's key ring."""
    from tests.conftest import CODEC
    return CODEC.open(event.user_metadata.summary).data.decode(errors="replace")


def seed_order_numbers(db: Database) -> None:
    """Start this database's order numbers at a random point, for tests that share one dev
    server: every test database would otherwise number from SY<today>000001, and two tests
    would ask the server for the same workflow id."""
    import random
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from hotline.store.tables import SequenceRow
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    base = random.SystemRandom().randrange(100_000, 900_000)
    with db.session() as s:
        for d in (today - timedelta(days=1), today, today + timedelta(days=1)):
            s.merge(SequenceRow(day=d.strftime("%Y%m%d"), last=base))


async def settled(db: Database, order_no: str, timeout: float = 20.0) -> None:
    """Wait (real seconds) until the order has no write held for its workflow task's commit
    (hotline/store/commits.py): its notices are then released to the outbox dispatcher."""
    import asyncio
    import time

    from sqlalchemy import func, select

    from hotline.store.tables import ActionRow, OutboxRow
    end = time.monotonic() + timeout
    while True:
        with db.session() as s:
            held = s.scalar(select(func.count()).select_from(OutboxRow).where(
                OutboxRow.order_no == order_no, OutboxRow.status == "held")) + s.scalar(
                select(func.count()).select_from(ActionRow).where(
                    ActionRow.order_no == order_no, ActionRow.confirmed.is_(False)))
        if not held:
            return
        assert time.monotonic() < end, f"{held} writes of {order_no} still held"
        await asyncio.sleep(0.05)
