"""Fault runs (issue 8): orders under load while a part of the system fails, then an account
of every order, notification, strike, criticism and referral.

Run from the repository root:

    python bench/faults.py [--orders 30] [--only worker,server,postgres] [--outage 30]

Each run has its own Temporal dev server (state in a temp file), database and worker, the
worker being `python worker.py` as production runs it (HOTLINE_POLICY=fast, outbox dispatcher
included). N orders are driven concurrently from the client side through the whole lifecycle
by a driver that looks at each order's stage and does the next action (sign, contact, reply,
callback), retrying whatever fails during the fault. Every third order belongs to one
refusing unit: half of those ask to return the order and are refused (无效退单), half are left
unsigned until their handling deadline has passed (never signed), so strikes pile up into
notified criticisms and a discipline referral while the fault happens. The fast policy's
deadlines are seconds, so timers fire during the outages too (reminders, supervision,
escalations). --keep DIR saves the history of any order whose state query fails.

  worker    the worker is killed with SIGKILL twice under load and restarted each time
  server    the dev server is stopped mid-load and started again on the same state file
  postgres  DATABASE_URL on a PostgreSQL started here; it is stopped for --outage seconds
            under load (activities fail and retry until it is back)

Then, per run: orders in; orders closed (workflow result) and closed in the read model;
orders stuck (still open at the deadline); outbox rows per key (must all be 1) and each order's
notices against its outbox rows (a notice missing or written twice under another key shows);
audit rows against the workflow's steps; strikes, criticisms and referrals in each unit's
ledger (supervision workflow) against the database, each criticism's documents exactly once.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402

import common  # noqa: E402
from hotline.engine import ActionRefused  # noqa: E402
from hotline.models import (  # noqa: E402
    CallbackAction, ContactAction, IntakeRequest, ReplyAction, ReturnRequestAction, ReturnReviewAction,
    SignAction, Stage,
)
from hotline.policy import load_policy  # noqa: E402

BODY = {"channel": "phone", "category": "complaint", "urgency": "normal", "title": "工地夜间施工噪音",
        "description": "小区旁边工地每天晚上十一点还在打桩，吵得睡不着",
        "petitioner": {"name": "王小明", "phone": "13800001234"},
        "location": {"district": "JYQ", "address": "吉阳区迎宾路"}}
OWNERS = ["ZJJ", "SWJ", "JTJ"]
REFUSER = "ZFJ"  # the unit whose invalid returns become strikes, criticisms, a referral
KEEP: str | None = None  # --keep DIR: histories of orders whose state query fails


class Driver:
    """Takes one order to closed, whatever fails on the way."""

    def __init__(self, engine, order_no: str, owner: str, mode: str, rng: random.Random) -> None:
        self.engine, self.order_no, self.owner, self.rng = engine, order_no, owner, rng
        self.refuse, self.late = mode == "return", mode == "late"
        self.retries = 0
        self.returned = False
        self.query_failures = 0

    async def _try(self, coro_fn):
        try:
            return await asyncio.wait_for(coro_fn(), timeout=30)
        except ActionRefused:
            return None  # the stage moved on (an earlier attempt went through): look again
        except Exception:
            self.retries += 1
            await asyncio.sleep(1)
            return None

    async def run(self, deadline: float) -> Stage | None:
        e, no, by = self.engine, self.order_no, self.owner
        async def start() -> bool:
            await e.start_order(no, IntakeRequest.model_validate(BODY), by, "operator", [])
            return True

        # Starting again is a no-op (USE_EXISTING), so a start whose answer was lost is retried.
        while not await self._try(start) and time.monotonic() < deadline:
            pass
        stage = None
        while time.monotonic() < deadline:
            await asyncio.sleep(self.rng.uniform(0.2, 1.5))  # a person's pace, spread out
            st = await self._try(lambda: e.state(no))
            if st is None:
                self.query_failures += 1
                if self.query_failures % 5 == 0 and await self._closed():
                    return Stage.closed  # closed, but its state query fails (see the run's figures)
                continue
            stage = st.stage
            if stage == Stage.closed:
                return stage
            if stage == Stage.dispatched and self.late and not st.overdue:
                continue  # a unit that leaves the order unsigned past its handling deadline
            if stage == Stage.dispatched:
                await self._try(lambda: e.act(no, "sign", SignAction(by=by)))
                stage = Stage.signed  # a refusing unit asks to return at once (the window is 15 s)
            if stage in (Stage.signed, Stage.handling) and self.refuse and not self.returned:
                self.returned = True
                await self._try(lambda: e.act(no, "return-request", ReturnRequestAction(
                    by=by, reason="不属于本单位职责", claimed_unit="ZJJ", basis="三定方案")))
            elif stage == Stage.return_review:
                await self._try(lambda: e.act(no, "return-review", ReturnReviewAction(
                    by="admin:bench", decision="reject", reason="属于首接单位职责")))
            elif stage == Stage.signed:
                await self._try(lambda: e.act(no, "contact", ContactAction(by=by, note="已联系")))
            elif stage in (Stage.handling, Stage.reopened):
                await self._try(lambda: e.act(no, "reply", ReplyAction(by=by, result="已处理", resolved=True)))
            elif stage == Stage.callback:
                await self._try(lambda: e.act(no, "callback", CallbackAction(
                    by="admin:bench", answered=True, resolved=True, satisfaction="satisfied")))
        return stage

    async def _closed(self) -> bool:
        from temporalio.client import WorkflowExecutionStatus
        try:
            d = await self.engine.client.get_workflow_handle(f"order-{self.order_no}").describe()
            return d.status == WorkflowExecutionStatus.COMPLETED
        except Exception:
            return False


class Run:
    def __init__(self, name: str) -> None:
        self.name = name
        self.figures: dict[str, object] = {}
        self.problems: list[str] = []

    def ok(self) -> bool:
        return not self.problems


async def account(run: Run, client, db, orders: list[str], units: set[str]) -> None:
    """Every order, notification, audit row and ledger fact, checked against each other."""
    from hotline.store.tables import ActionRow, OrderRow, OutboxRow, SupervisionEventRow
    from workflows.supervision import DepartmentSupervisionWorkflow
    from workflows.work_order import WorkOrderWorkflow

    closed = read_closed = 0
    stuck: list[str] = []
    unqueryable: list[str] = []
    notice_missing = notice_extra = steps_bad = 0
    with db.session() as s:
        outbox = s.scalars(select(OutboxRow)).all()
        actions = s.scalars(select(ActionRow)).all()
        rows = {r.order_no: r for r in s.scalars(select(OrderRow)).all()}
        events = s.scalars(select(SupervisionEventRow)).all()
    per_key = Counter(r.key for r in outbox)
    by_order: dict[str, set[str]] = {}
    for r in outbox:
        by_order.setdefault(r.order_no, set()).add(r.key)
    steps: dict[str, Counter] = {}
    for a in actions:
        steps.setdefault(a.order_no, Counter())[a.seq] += 1
    strike_steps = 0
    for no in orders:
        h = client.get_workflow_handle_for(WorkOrderWorkflow.run, f"order-{no}")
        try:
            st = await asyncio.wait_for(h.result(), timeout=5)
            closed += st.stage == Stage.closed
        except Exception:
            try:
                st = await asyncio.wait_for(h.query(WorkOrderWorkflow.state), timeout=10)
                stuck.append(f"{no}:{st.stage.value}")
            except Exception as exc:
                stuck.append(f"{no}: {str(exc)[:100]}")
                continue
        try:  # a closed order's state must still be readable (the gateway queries it)
            await asyncio.wait_for(h.query(WorkOrderWorkflow.state), timeout=10)
        except Exception as exc:
            unqueryable.append(f"{no}: {str(exc)[:160]}")
            if KEEP:  # the history that does not replay, for a replay test
                Path(KEEP).mkdir(parents=True, exist_ok=True)
                hist = await h.fetch_history()
                (Path(KEEP) / f"{run.name}-order-{no}.json").write_text(hist.to_json())
        row = rows.get(no)
        read_closed += bool(row is not None and row.stage == "closed")
        keys = {n.key for n in st.notices}
        mine = {k for k in by_order.get(no, set()) if k.startswith(f"{no}:")}
        notice_missing += len(keys - mine)
        notice_extra += len(mine - keys)
        seqs = steps.get(no, Counter())
        if sorted(seqs) != [a.seq for a in st.actions] or any(v != 1 for v in seqs.values()):
            steps_bad += 1
        strike_steps += sum(1 for a in st.actions if a.action == "strike")
    ledger_strikes = ledger_crit = ledger_ref = 0
    for unit in units:
        try:
            led = await client.get_workflow_handle(f"supervision-{unit}").query(
                DepartmentSupervisionWorkflow.ledger_state)
        except Exception:
            continue
        ledger_strikes += len(led.strikes)
        ledger_crit += len(led.criticisms)
        ledger_ref += led.referral is not None
        if len({c.key for c in led.criticisms}) != len(led.criticisms):
            run.problems.append(f"{unit}: a criticism twice in the ledger")
        covered = [k for c in led.criticisms for k in c.strikes]
        if len(covered) != len(set(covered)):
            run.problems.append(f"{unit}: a strike counted in two criticisms")
    kinds = Counter(e.kind for e in events)
    docs = Counter(r.key.split(":to:")[0] for r in outbox if ":to:" in r.key)
    crit_docs_bad = sum(1 for e in events if e.kind in ("criticism", "referral") and docs.get(e.key, 0) < 1)
    dup_keys = sum(1 for v in per_key.values() if v > 1)
    undelivered = sum(1 for r in outbox if r.status not in ("delivered",))
    run.figures.update({
        "orders in": len(orders), "closed": closed, "closed in read model": read_closed, "stuck": len(stuck),
        "state query fails": len(unqueryable),
        "outbox rows": len(outbox), "keys >1 row": dup_keys, "notices missing": notice_missing,
        "notices extra": notice_extra, "undelivered": undelivered, "orders w/ audit mismatch": steps_bad,
        "strikes (steps/ledger/db)": f"{strike_steps}/{ledger_strikes}/{kinds['strike']}",
        "criticisms (ledger/db)": f"{ledger_crit}/{kinds['criticism']}",
        "referrals (ledger/db)": f"{ledger_ref}/{kinds['referral']}",
    })
    if closed != len(orders) or read_closed != len(orders) or stuck:
        run.problems.append(f"not all orders closed: {stuck[:5]}")
    if unqueryable:
        run.problems.append(f"state query fails on {len(unqueryable)} orders: {unqueryable[0]}")
    if dup_keys or notice_extra or notice_missing:
        run.problems.append("notifications: duplicated or missing")
    if steps_bad:
        run.problems.append("audit rows do not match the workflow's steps")
    if not (strike_steps == ledger_strikes == kinds["strike"]):
        run.problems.append("strikes: steps, ledger and database disagree")
    if ledger_crit != kinds["criticism"] or ledger_ref != kinds["referral"]:
        run.problems.append("criticisms/referrals: ledger and database disagree")
    if crit_docs_bad:
        run.problems.append(f"{crit_docs_bad} criticisms/referrals without their documents")


async def fault_run(kind: str, args, tmp: Path) -> Run:
    from workflows.engine import TemporalEngine

    run = Run(kind)
    rng = random.Random(kind)
    server = common.DevServer(db_file=tmp / "temporal.db", log=tmp / "temporal.log").start()
    pg = None
    worker = None
    try:
        client = await common.connect(server.address)
        await common.wait_namespace_ready(client)
        if kind == "postgres":
            pg = common.Postgres(tmp / "pg").init()
            pg.start()
            url = pg.create_db("hotline")
            db = common.prepare_database(url)
        else:
            db = common.sqlite_database(tmp)
            url = db.url
        queue = f"faults-{kind}-{uuid.uuid4().hex[:6]}"
        wlog = tmp / "worker.log"
        worker = common.worker_process(server.address, url, queue, policy="fast", log=wlog)
        engine = TemporalEngine(client, queue, load_policy("fast"))
        base = int(time.time()) % 10**6
        orders = [f"SY9{base:06d}{i:07d}" for i in range(args.orders)]
        owners = {no: (REFUSER if i % 3 == 0 else OWNERS[i % len(OWNERS)]) for i, no in enumerate(orders)}
        t0 = time.monotonic()
        deadline = t0 + args.deadline
        modes = {0: "return", 3: "late"}  # every third order is the refusing unit's
        drivers = [Driver(engine, no, owners[no], modes.get(i % 6, "normal"), random.Random(f"{kind}{i}"))
                   for i, no in enumerate(orders)]

        async def staggered(i: int, d: Driver):
            # the refusing unit's orders start first, so their returns come within the window
            await asyncio.sleep(0 if d.refuse else i * args.spread / max(1, len(drivers)))
            return await d.run(deadline)

        tasks = [asyncio.create_task(staggered(i, d)) for i, d in enumerate(drivers)]
        events: list[str] = []
        await asyncio.sleep(args.fault_at)
        if kind == "worker":
            for _ in range(2):
                worker.send_signal(signal.SIGKILL)
                worker.wait()
                events.append(f"{time.monotonic() - t0:.0f}s worker SIGKILL (exit {worker.returncode})")
                await asyncio.sleep(3)
                worker = common.worker_process(server.address, url, queue, policy="fast", log=wlog)
                events.append(f"{time.monotonic() - t0:.0f}s worker restarted")
                await asyncio.sleep(rng.uniform(4, 8))
        elif kind == "server":
            server.stop(signal.SIGTERM)
            events.append(f"{time.monotonic() - t0:.0f}s dev server stopped (exit {server.proc.returncode})")
            await asyncio.sleep(args.server_down)
            server.start()
            events.append(f"{time.monotonic() - t0:.0f}s dev server started again on the same state file")
        elif kind == "postgres":
            await asyncio.to_thread(pg.stop)
            events.append(f"{time.monotonic() - t0:.0f}s PostgreSQL stopped")
            await asyncio.sleep(args.outage)
            await asyncio.to_thread(pg.start)
            events.append(f"{time.monotonic() - t0:.0f}s PostgreSQL started again")
        stages = await asyncio.gather(*tasks)
        run.figures["time to close all"] = f"{time.monotonic() - t0:.0f} s"
        run.figures["driver retries"] = sum(d.retries for d in drivers)
        if worker.poll() is not None:
            run.problems.append(f"the worker exited ({worker.returncode}); see its log")
        # let the last notices, ledger facts and outbox deliveries settle (same for every run)
        await asyncio.sleep(args.settle)
        await account(run, client, db, orders, set(OWNERS) | {REFUSER})
        run.figures["events"] = "; ".join(events)
        if any(s != Stage.closed for s in stages):
            run.problems.append("some drivers ran out of time")
        db.dispose()
    finally:
        if worker is not None:
            common.stop_process(worker)
        server.stop()
        if pg is not None:
            pg.stop()
    return run


async def main(args) -> int:
    global KEEP
    KEEP = args.keep
    kinds = args.only.split(",")
    common.header(f"faults: {args.orders} orders per run; runs: {', '.join(kinds)}")
    runs: list[Run] = []
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix=f"bench-faults-{kind}-") as tmp:
            print(f"-- {kind}", flush=True)
            r = await asyncio.wait_for(fault_run(kind, args, Path(tmp)), timeout=args.deadline + 300)
            for k, v in r.figures.items():
                print(f"   {k}: {v}")
            print(f"   {'PASS' if r.ok() else 'FAIL: ' + '; '.join(r.problems)}", flush=True)
            runs.append(r)
    cols = ["orders in", "closed", "closed in read model", "stuck", "state query fails", "outbox rows", "keys >1 row",
            "notices missing", "notices extra", "undelivered", "orders w/ audit mismatch",
            "strikes (steps/ledger/db)", "criticisms (ledger/db)", "referrals (ledger/db)", "time to close all"]
    print("== result")
    print("| run | " + " | ".join(cols) + " | verdict |")
    print("|" + "---|" * (len(cols) + 2))
    for r in runs:
        print(f"| {r.name} | " + " | ".join(str(r.figures.get(c, "")) for c in cols)
              + f" | {'PASS' if r.ok() else 'FAIL'} |")
    return 0 if all(r.ok() for r in runs) else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--orders", type=int, default=30)
    ap.add_argument("--only", default="worker,server,postgres")
    ap.add_argument("--fault-at", type=float, default=10, help="seconds of load before the fault")
    ap.add_argument("--spread", type=float, default=10, help="orders start over this many seconds")
    ap.add_argument("--outage", type=float, default=30, help="seconds PostgreSQL stays down")
    ap.add_argument("--server-down", type=float, default=10, help="seconds the dev server stays down")
    ap.add_argument("--settle", type=float, default=10)
    ap.add_argument("--keep", metavar="DIR", help="save the histories of orders whose state query fails")
    ap.add_argument("--deadline", type=float, default=600, help="seconds allowed to close every order")
    sys.exit(asyncio.run(main(ap.parse_args())))
