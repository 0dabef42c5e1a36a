"""Real crashes: a worker process killed with SIGKILL at a fault point, then restarted.

The worker runs as its own process (`python worker.py`) against the dev server and a SQLite
file; HOTLINE_CRASH_AT makes it die right after a write, before the server hears of it.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest
from sqlalchemy import select

from hotline.domain.contracts import Strike
from hotline.domain.models import CallbackAction, ContactAction, ReplyAction, SignAction, Stage
from hotline.domain.policy import load_policy
from hotline.domain.supervision import SupervisionInput
from hotline.store.tables import ActionRow, OutboxRow, SupervisionEventRow
from tests.harness import intake, settled, summary_text
from workflows.client import TemporalWorkOrders
from workflows.supervision import DepartmentSupervisionWorkflow
from workflows.work_order import WorkOrderWorkflow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _worker(env, db_url: str, queue: str, crash_at: str | None = None) -> subprocess.Popen:
    e = {**os.environ, "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
         "DATABASE_URL": db_url, "HOTLINE_TASK_QUEUE": queue, "HOTLINE_POLICY": "fast"}
    e.pop("HOTLINE_CRASH_AT", None)
    if crash_at:
        e["HOTLINE_CRASH_AT"] = crash_at
    return subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=e,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _died(p: subprocess.Popen, timeout: float = 60) -> int:
    end = time.monotonic() + timeout
    while p.poll() is None and time.monotonic() < end:
        await asyncio.sleep(0.1)
    assert p.returncode is not None, "the worker should have crashed at the fault point"
    return p.returncode


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.terminate()
        p.wait(timeout=30)


async def test_worker_killed_mid_lifecycle_finishes_with_no_duplicate_notification(dev_env, sqlite_db):
    queue = f"crash-{uuid.uuid4().hex[:6]}"
    work_orders = TemporalWorkOrders(dev_env.client, queue, load_policy("fast"))
    w = _worker(dev_env, sqlite_db.url, queue, crash_at="notify:reply")
    try:
        order_no = f"SY{uuid.uuid4().int % 10**14:014d}"
        await work_orders.start_order(order_no, intake(), "ZJJ", "operator", [])
        await work_orders.act(order_no, "sign", SignAction(by="ZJJ"))
        await work_orders.act(order_no, "contact", ContactAction(by="ZJJ", note="已联系"))
        reply = asyncio.create_task(work_orders.act(order_no, "reply",
                                                    ReplyAction(by="ZJJ", result="已处理", resolved=True)))
        assert await _died(w) == -9  # SIGKILL, right after the reply notice was written
        w = _worker(dev_env, sqlite_db.url, queue)  # restarted, no fault
        st = await asyncio.wait_for(reply, timeout=90)
        assert st.stage == Stage.callback
        await work_orders.act(order_no, "callback", CallbackAction(by="admin:li", answered=True, resolved=True,
                                                              satisfaction="satisfied"))
        handle = dev_env.client.get_workflow_handle_for(WorkOrderWorkflow.run, f"order-{order_no}")
        final = await asyncio.wait_for(handle.result(), timeout=60)
        assert final.stage == Stage.closed
        await settled(sqlite_db, order_no, timeout=60)  # the worker's watcher saw every task commit
    finally:
        _stop(w)
    with sqlite_db.session() as s:
        rows = s.scalars(select(OutboxRow).where(OutboxRow.order_no == order_no)).all()
        steps = s.scalars(select(ActionRow).where(ActionRow.order_no == order_no).order_by(ActionRow.seq)).all()
    keys = Counter(r.key for r in rows)
    assert all(n == 1 for n in keys.values())
    assert Counter(r.kind for r in rows) == Counter({"dispatch": 1, "contact": 1, "reply": 2, "survey": 1})
    # the reply notice written by the task that died was adopted by the task that committed
    assert {r.status for r in rows} <= {"pending", "delivered"}
    assert {r.key for r in rows} == {n.key for n in final.notices}
    assert [(a.seq, a.action) for a in steps] == [(a.seq, a.action) for a in final.actions]
    assert all(a.confirmed for a in steps)


@pytest.mark.parametrize("point", ["ledger:criticism:before", "ledger:criticism"])
async def test_crash_around_recording_a_criticism_issues_exactly_one(dev_env, sqlite_db, point):
    queue = f"crash-{uuid.uuid4().hex[:6]}"
    unit = "ZFJ"
    policy = load_policy("fast")
    wid = f"supervision-{unit}-{uuid.uuid4().hex[:6]}"  # its own ledger on the shared dev server
    w = _worker(dev_env, sqlite_db.url, queue, crash_at=point)
    try:
        for n in (1, 2):  # two refusals within the window: one criticism decided
            s = Strike(key=f"{wid}:{n}", unit=unit, kind="invalid_return", order_no=f"SY{n:06d}",
                       at=await dev_env.get_current_time(), reason="无效退单")
            await dev_env.client.start_workflow(
                DepartmentSupervisionWorkflow.run, SupervisionInput(unit=unit, policy=policy), id=wid,
                task_queue=queue, start_signal="strike", start_signal_args=[s])
        assert await _died(w) == -9
        w = _worker(dev_env, sqlite_db.url, queue)
        handle = dev_env.client.get_workflow_handle_for(DepartmentSupervisionWorkflow.run, wid)
        for _ in range(300):
            with sqlite_db.session() as ses:
                crit = ses.scalars(select(SupervisionEventRow).where(SupervisionEventRow.kind == "criticism")).all()
                docs = ses.scalars(select(OutboxRow).where(OutboxRow.kind == "criticism")).all()
            desc = await handle.describe()
            if crit and len(docs) == 2 and desc.raw_description.pending_activities == []:
                break
            await asyncio.sleep(0.2)
        # the workflow decided one criticism: one recording of it in its history (no query needed)
        hist = await handle.fetch_history()
        decided = [e for e in hist.events if e.HasField("activity_task_scheduled_event_attributes")
                   and summary_text(e).startswith('"criticism:')]
        assert len(decided) == 1
        assert len(crit) == 1 and sorted(d.recipient for d in docs) == sorted([unit, "LEADERSHIP"])
        await handle.terminate("test over")
    finally:
        _stop(w)


async def test_sigterm_stops_the_worker_gracefully(dev_env, sqlite_db):
    import signal
    queue = f"term-{uuid.uuid4().hex[:6]}"
    w = _worker(dev_env, sqlite_db.url, queue)
    try:
        work_orders = TemporalWorkOrders(dev_env.client, queue, load_policy("fast"))
        order_no = f"SY{uuid.uuid4().int % 10**14:014d}"
        await work_orders.start_order(order_no, intake(), "ZJJ", "operator", [])  # the worker is serving
        w.send_signal(signal.SIGTERM)
        assert await _died(w, timeout=40) == 0  # a clean exit, not a kill
        w = _worker(dev_env, sqlite_db.url, queue)  # the order carries on with the next worker
        st = await asyncio.wait_for(work_orders.act(order_no, "sign", SignAction(by="ZJJ")), timeout=60)
        assert st.stage == Stage.signed
    finally:
        _stop(w)
