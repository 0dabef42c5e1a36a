"""Lifecycle throughput (issue 8): N work orders through the whole happy path on the embedded
stack, against a bare workflow of the same shape in the same run.

Run from the repository root:

    python bench/lifecycle.py [--orders 200] [--concurrency 20] [--rounds 2] [--only ours|bare]

It starts a Temporal dev server (headless, loopback, state in a temp file), an in-process
worker built by worker.make_worker (fast policy, SQLite in a temp dir, the outbox dispatcher
running as in worker.py) and, on its own task queue, a worker for bench/bare_workflow.py.
Each order: intake as the gateway does it (update-with-start answered once dispatched), then
the updates sign, contact, reply, callback (answered, resolved, satisfied) from the client side,
then the result (closed). Three kinds, rounds alternating bare / today / ours so all see the
same noisy machine:
  bare   bench/bare_workflow.py, the bare engine of the same shape (local activities by default):
         8 activities, one write per action as ours since the `one-write-per-action` patch
  bare16 the same with the 16 activities of the happy path before that patch (one per step and
         per notice), the baseline of earlier rounds (`--with-bare16`)
  today  the work order as it ran before one-action-at-a-time and local activities, driven as
         the gateway drove it then, with a `state` query after intake and before each action
         (bench/today_workflow.py)
  ours   the work order now, started as the gateway starts it (intake answered from the start;
         --uws: by update-with-start, as before)
Prints orders/s for each, the ratios ours/bare (target ≥ 0.7) and ours/today (target ≥ 2),
latency per update, the CPU seconds per order of the dev server and of this process (client +
worker), and the history of one order of each kind (target for ours: ≤ 80 events).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402
import psutil  # noqa: E402
from bare_workflow import ACTIVITIES as BARE_ACTIVITIES  # noqa: E402
from bare_workflow import BareWorkflow
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from hotline.domain.codes import order_workflow_id  # noqa: E402
from hotline.domain.models import (  # noqa: E402
    CallbackAction,
    ContactAction,
    IntakeRequest,
    ReplyAction,
    SignAction,
    Stage,
)
from hotline.domain.policy import load_policy  # noqa: E402
from hotline.runtime.settings import load_settings  # noqa: E402

INTAKE = {"channel": "phone", "category": "complaint", "urgency": "normal",
          "title": "工地夜间施工噪音", "description": "小区旁边工地每天晚上十一点还在打桩，吵得睡不着",
          "petitioner": {"name": "王小明", "phone": "13800001234"},
          "location": {"district": "JYQ", "address": "吉阳区迎宾路"}}


def intake() -> IntakeRequest:
    return IntakeRequest.model_validate(INTAKE)


class Phase:
    def __init__(self, name: str) -> None:
        self.name = name
        self.orders = 0
        self.seconds = 0.0
        self.server_cpu = 0.0
        self.own_cpu = 0.0
        self.lat: dict[str, list[float]] = {}
        self.bad: list[str] = []

    def add(self, step: str, t: float) -> None:
        self.lat.setdefault(step, []).append(t)

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0


async def _timed(phase: Phase | None, step: str, coro):
    t0 = time.perf_counter()
    res = await coro
    if phase is not None:
        phase.add(step, time.perf_counter() - t0)
    return res


LAST: dict[str, str] = {}  # a workflow id of each kind, for the history sizes


async def ours_order(client, work_orders, phase: Phase | None) -> None:
    from workflows.work_order import WorkOrderWorkflow
    order_no = f"SY{uuid.uuid4().int % 10**14:014d}"
    LAST["ours"] = order_workflow_id(order_no)
    await _timed(phase, "start+dispatched", work_orders.start_order(order_no, intake(), "ZJJ", "operator", []))
    await _timed(phase, "sign", work_orders.act(order_no, "sign", SignAction(by="ZJJ")))
    await _timed(phase, "contact", work_orders.act(order_no, "contact", ContactAction(by="ZJJ", note="已联系")))
    await _timed(phase, "reply", work_orders.act(order_no, "reply",
                                                 ReplyAction(by="ZJJ", result="已处理", resolved=True)))
    await _timed(phase, "callback", work_orders.act(order_no, "callback", CallbackAction(
        by="admin:bench", answered=True, resolved=True, satisfaction="satisfied")))
    st = await _timed(phase, "result", client.get_workflow_handle_for(
        WorkOrderWorkflow.run, order_workflow_id(order_no)).result())
    # A prompt order fires no timer: 8 steps, 5 notices (dispatch, contact, reply ×2, survey).
    if st.stage != Stage.closed or len(st.notices) != 5 or len(st.actions) != 8:
        if phase is not None:
            phase.bad.append(f"{order_no}: stage {st.stage.value}, {len(st.notices)} notices, "
                             f"{len(st.actions)} steps")


async def today_order(client, queue: str, policy, phase: Phase | None) -> None:
    """The same order the way it ran before this release (bench/today_workflow.py)."""
    from today_workflow import today_act, today_start
    order_no = f"SY{uuid.uuid4().int % 10**14:014d}"
    LAST["today"] = order_workflow_id(order_no)
    h = await _timed(phase, "start+dispatched", today_start(client, queue, policy, order_no, intake(), "ZJJ"))
    await _timed(phase, "sign", today_act(h, "sign", SignAction(by="ZJJ")))
    await _timed(phase, "contact", today_act(h, "contact", ContactAction(by="ZJJ", note="已联系")))
    await _timed(phase, "reply", today_act(h, "reply", ReplyAction(by="ZJJ", result="已处理", resolved=True)))
    await _timed(phase, "callback", today_act(h, "callback", CallbackAction(
        by="admin:bench", answered=True, resolved=True, satisfaction="satisfied")))
    st = await _timed(phase, "result", h.result())
    if st.stage != Stage.closed or len(st.notices) != 5 or len(st.actions) != 8:
        if phase is not None:
            phase.bad.append(f"{order_no}: stage {st.stage.value}")


async def bare_order(client, queue: str, phase: Phase | None, local: bool, one_write: bool = True) -> None:
    wid = LAST["bare" if one_write else "bare16"] = f"bare-{uuid.uuid4().hex}"
    async def start():  # intake as ours does it: one update-with-start
        from temporalio.client import WithStartWorkflowOperation
        from temporalio.common import WorkflowIDConflictPolicy
        op = WithStartWorkflowOperation(BareWorkflow.run, args=[local, one_write], id=wid, task_queue=queue,
                                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
        await client.execute_update_with_start_workflow(BareWorkflow.dispatched, start_workflow_operation=op)
        return await op.workflow_handle()
    h = await _timed(phase, "start+dispatched", start())
    for step in ("sign", "contact", "reply", "callback"):
        await _timed(phase, step, h.execute_update(step, "ZJJ", result_type=str))
    res = await _timed(phase, "result", h.result())
    if res != "closed" and phase is not None:
        phase.bad.append(f"{wid}: {res}")


async def run_phase(name: str, n: int, conc: int, make_one, server_pid: int) -> Phase:
    phase = Phase(name)
    sem = asyncio.Semaphore(conc)
    srv, me = psutil.Process(server_pid), psutil.Process(os.getpid())

    async def one():
        async with sem:
            await make_one(phase)

    s0, m0 = sum(srv.cpu_times()[:2]), sum(me.cpu_times()[:2])
    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    phase.seconds = time.perf_counter() - t0
    phase.server_cpu = sum(srv.cpu_times()[:2]) - s0
    phase.own_cpu = sum(me.cpu_times()[:2]) - m0
    phase.orders = n
    return phase


def report(p: Phase) -> None:
    print(f"   {p.name:5s}: {p.orders} orders in {p.seconds:.1f} s = {p.rate:.1f} orders/s; "
          f"CPU per order: dev server {p.server_cpu / p.orders * 1000:.0f} ms, "
          f"client+worker {p.own_cpu / p.orders * 1000:.0f} ms")
    steps = "; ".join(f"{k} p50 {common.ms(common.pct(v, 50))} p99 {common.ms(common.pct(v, 99))}"
                      for k, v in p.lat.items())
    print(f"          latency: {steps}")
    if p.bad:
        print(f"          NOT PROMPT ({len(p.bad)}): {p.bad[:3]}")


async def main(args) -> int:
    from hotline.store.outbox import OutboxDispatcher
    from hotline.store.routing_models import make_router
    from worker import _dispatch_outbox, make_worker
    from workflows.client import TemporalWorkOrders

    what_if = [f"--{k.replace('_', '-')}" for k in ("sandboxed", "bare_unsandboxed", "no_outbox", "no_commit_watch",
                                                       "no_search_attributes", "no_memo", "uws") if getattr(args, k)]
    what_if += ["--bare-activities local"] if args.bare_activities == "local" else []
    common.header(f"lifecycle: {args.orders} orders × {args.rounds} rounds, concurrency {args.concurrency}, "
                  f"server state in {args.server_db}" + (f"; what-if {' '.join(what_if)}" if what_if else ""))
    with tempfile.TemporaryDirectory(prefix="bench-lifecycle-") as tmp:
        tmp = Path(tmp)
        # Queries allowed on this server: "today" queries as the gateway did before this release
        # (ours never does; bench/faults.py runs with queries refused, as shipped).
        server = common.DevServer(db_file=tmp / "temporal.db" if args.server_db == "file" else None,
                                  log=tmp / "temporal.log", allow_query=True).start()
        try:
            client = await common.connect(server.address)
            await common.wait_namespace_ready(client)
            db = common.sqlite_database(tmp)
            queue, bare_queue = "bench-ours", "bench-bare"
            policy = load_policy("fast")
            settings = load_settings({"HOTLINE_TASK_QUEUE": queue, "HOTLINE_POLICY": "fast"})
            router = make_router(learned=False)
            from functools import partial

            from hotline.store.commits import confirm
            if args.uws:  # intake as before it was answered from the start: update-with-start
                work_orders = TemporalWorkOrders(client, queue, policy, search_attributes=not args.no_search_attributes,
                                                 confirm=partial(confirm, db))
            else:  # as the gateway: intake answered from the start, an answer's writes stand
                work_orders = TemporalWorkOrders.on_store(client, queue, policy, db,
                                                          search_attributes=not args.no_search_attributes)
            if args.no_memo:  # what-if only: the memo's cost at the server (the shipped worker always keeps it)
                from workflows.order_core import OrderCore
                OrderCore._publish_memo = lambda self, upcoming: None
            from temporalio.worker import UnsandboxedWorkflowRunner
            from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
            # ours runs as worker.py runs it (no sandbox since Round 4, workflows/runner.py);
            # "today" is the release before, in the sandbox; the bare engine as the SDK ships it
            # (sandboxed) unless --bare-unsandboxed.
            ours_extra = {"workflow_runner": SandboxedWorkflowRunner()} if args.sandboxed else {}
            bare_extra = {"workflow_runner": UnsandboxedWorkflowRunner()} if args.bare_unsandboxed else {}
            ours_worker = make_worker(client, db, settings, policy=policy, router=router, **ours_extra)
            from today_workflow import TodayWorkOrderWorkflow

            from activities.wiring import build_activities
            today_queue = "bench-today"
            today_worker = Worker(client, task_queue=today_queue, workflows=[TodayWorkOrderWorkflow],
                                  activities=build_activities(db, client, today_queue, policy, router),
                                  activity_executor=ThreadPoolExecutor(max_workers=16),
                                  max_cached_workflows=settings.workflow_cache,
                                  workflow_runner=SandboxedWorkflowRunner())
            bare_worker = Worker(client, task_queue=bare_queue, workflows=[BareWorkflow],
                                 activities=BARE_ACTIVITIES,
                                 activity_executor=ThreadPoolExecutor(max_workers=16), **bare_extra)
            stop = asyncio.Event()
            from workflows.commits import watch
            commits = asyncio.create_task(watch(db, client, stop)) if not args.no_commit_watch \
                else asyncio.create_task(stop.wait())  # as worker.py: held notices released
            outbox = asyncio.create_task(_dispatch_outbox(OutboxDispatcher(db), stop)) if not args.no_outbox \
                else asyncio.create_task(stop.wait())
            ours = lambda ph: ours_order(client, work_orders, ph)  # noqa: E731
            local = args.bare_activities == "local"
            bare = lambda ph: bare_order(client, bare_queue, ph, local)  # noqa: E731
            bare16 = lambda ph: bare_order(client, bare_queue, ph, local, one_write=False)  # noqa: E731
            today = lambda ph: today_order(client, today_queue, policy, ph)  # noqa: E731
            results: dict[str, list[Phase]] = {"bare": [], "bare16": [], "today": [], "ours": []}
            kinds = [("bare", bare)] + ([("bare16", bare16)] if args.with_bare16 else []) \
                + [("today", today), ("ours", ours)]
            async with ours_worker, bare_worker, today_worker:
                # warm-up: imports, sandbox, connection pools, SQLite pages
                await asyncio.gather(*(ours(None) for _ in range(5)), *(bare(None) for _ in range(5)),
                                     *(today(None) for _ in range(5)))
                for r in range(args.rounds):
                    for name, fn in kinds:
                        if (args.only and name != args.only) or name in args.skip:
                            continue
                        spy = common.py_spy(args.pyspy, f"{name}{r + 1}") if args.pyspy else None
                        p = await asyncio.wait_for(
                            run_phase(name, args.orders, args.concurrency, fn, server.pid), timeout=args.timeout)
                        if spy:
                            common.py_spy_stop(spy)
                        results[name].append(p)
                        print(f"-- round {r + 1}")
                        report(p)
                stop.set()
                await outbox
                await commits
                for kind, wid in LAST.items():
                    hist = await client.get_workflow_handle(wid).fetch_history()
                    size = sum(e.ByteSize() for e in hist.events)
                    by_type: dict[str, list[int]] = {}
                    for e in hist.events:
                        t = by_type.setdefault(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_").lower(), [0, 0])
                        t[0] += 1
                        t[1] += e.ByteSize()
                    top = sorted(by_type.items(), key=lambda kv: -kv[1][1])[:6]
                    print(f"   history of one {kind} order: {len(hist.events)} events, {size / 1024:.1f} KiB; "
                          "largest: " + ", ".join(f"{k} {n}× {b / 1024:.1f} KiB" for k, (n, b) in top))
            db.dispose()
        finally:
            server.stop()
    rates = {k: sum(p.orders for p in v) / sum(p.seconds for p in v) for k, v in results.items() if v}
    print("== result")
    for k, v in rates.items():
        bad = sum(len(p.bad) for p in results[k])
        print(f"   {k}: {v:.1f} orders/s over {sum(p.orders for p in results[k])} orders"
              + (f" ({bad} not prompt)" if bad else ""))
    if "ours" in rates and "bare" in rates:
        ratio = rates["ours"] / rates["bare"]
        print(f"   ratio ours/bare = {ratio:.2f} (target >= 0.70: {'met' if ratio >= 0.7 else 'NOT met'})")
    if "ours" in rates and "bare16" in rates:
        print(f"   ratio ours/bare16 = {rates['ours'] / rates['bare16']:.2f} (the baseline of earlier rounds)")
    if "ours" in rates and "today" in rates:
        ratio = rates["ours"] / rates["today"]
        print(f"   ratio ours/today = {ratio:.2f} (target >= 2.0: {'met' if ratio >= 2.0 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--orders", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", choices=["ours", "bare", "bare16", "today"])
    ap.add_argument("--with-bare16", action="store_true",
                    help="also the bare engine with the 16 activities of the happy path before one write per action")
    ap.add_argument("--skip", action="append", default=[], choices=["ours", "bare", "bare16", "today"],
                    help="leave a kind out (e.g. --skip today for ours/bare what-ifs)")
    ap.add_argument("--server-db", choices=["file", "memory"], default="file",
                    help="dev server state in a file (as stack.py runs it) or in memory")
    ap.add_argument("--bare-activities", choices=["local", "regular"], default="local",
                    help="the baseline's activities: regular, the shape of our orders (default), or local, "
                    "the engine's cost with local activities (what-if)")
    ap.add_argument("--sandboxed", action="store_true",
                    help="what-if: our worker in the SDK's workflow sandbox (as before Round 4)")
    ap.add_argument("--bare-unsandboxed", action="store_true",
                    help="what-if: the bare baseline without the workflow sandbox too")
    ap.add_argument("--no-outbox", action="store_true", help="what-if: no outbox dispatcher in the worker")
    ap.add_argument("--no-commit-watch", action="store_true",
                    help="what-if: no commit watcher (held notices are never released)")
    ap.add_argument("--no-search-attributes", action="store_true",
                    help="what-if: orders publish no search attributes (their cost at the server)")
    ap.add_argument("--no-memo", action="store_true", help="what-if: orders publish no memo")
    ap.add_argument("--uws", action="store_true", help="intake as before it was answered from the start: "
                    "update-with-start, answered once the workflow computed the deadlines and wrote")
    ap.add_argument("--pyspy", metavar="DIR", help="sample this process (client + worker) with py-spy during "
                    "each measured phase; raw stacks to DIR/<phase>.txt (summarise with bench/profile_summary.py)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds allowed per phase")
    sys.exit(asyncio.run(main(ap.parse_args())))
