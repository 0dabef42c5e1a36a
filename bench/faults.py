"""Fault runs (issues 8 and 12): orders under load while parts of the system fail, a prying
admin querying open orders all along, then an account of every order, notification, strike,
criticism and referral, and a replay of every workflow history.

Run from the repository root:

    python bench/faults.py [--only mixed|worker,server,postgres] [--orders N] [--keep DIR]
                           [--allow-queries] [--in-place]

It runs from a copy of the tree taken at start (removed afterwards), so that the worker started
again after each kill and the replay at the end run the code the run began with, whatever is
edited meanwhile; --in-place runs the tree as it is. It prints a fingerprint of that code.

Each run has its own Temporal dev server (state in a temp file), database and worker, the
worker being `python worker.py` as production runs it (HOTLINE_POLICY=fast, outbox dispatcher
included). The dev server refuses queries as stack.py ships it (`stack.DEV_SERVER_CONFIG`,
`system.disallowQuery=true`); --allow-queries starts it without that setting, to reproduce on
demand the risk it closes (a query reaching a worker while a workflow task waits to be picked
up can record a history that does not replay, README "Known SDK race").

N orders are driven concurrently from the client side through the whole lifecycle by a driver
that behaves like the product: intake answers with the dispatched order (update-with-start),
each action's answer is the order after it, and the driver reads each order's stage from the
read model (`hotline.store.readmodel.load_order`, the orders table every step writes) — never by
querying a running workflow. It does the next action (sign, contact, reply, callback) at a
person's pace and retries whatever fails during a fault. Every third order belongs to one
refusing unit: half of those ask to return the order and are refused (无效退单), half are left
unsigned until their handling deadline has passed (never signed), so strikes pile up into
notified criticisms and a discipline referral while the faults happen. The fast policy's
deadlines are seconds, so timers fire during the outages too.

Meanwhile a prying admin, every 0.3–1 s, opens a random open order the way the Temporal UI
does: a `state` query and the UI's `__temporal_workflow_metadata` query. With the shipped
server both are refused at the frontend; the run counts queries sent, refused and answered.

  mixed     (default) 200 orders; the dev server is stopped (SIGTERM), left down a few
            seconds and started again on the same state file three times, and the worker is
            killed with SIGKILL and restarted twice, alternating, spread over the load
  worker    the worker is killed with SIGKILL twice under load and restarted each time
  server    the dev server is stopped mid-load and started again on the same state file
  postgres  DATABASE_URL on a PostgreSQL started here; it is stopped for --outage seconds
            under load (activities fail and retry until it is back)

Then, per run, with no query: orders closed (workflow result) and closed in the read model,
orders stalled (not closed at the deadline), each order's read-model stage against the stage in
its workflow memo (written with the workflow task that made the change, so it agrees with the
history); outbox rows per key and each order's notices against its outbox rows; audit rows
(seq and action) against the workflow's steps; strikes in the orders' steps
against the `supervision_events` rows (kind=strike) and the unit ledgers read from the database
(`hotline.store.ledger.ledger_view`), each criticism and referral with its outbox documents exactly
once, and every ledger fact the supervision workflows recorded (their `record_ledger_event`
activities) against the database. Every order's and every supervision workflow's final history
is replayed with the current workflow code (Replayer, as tests/workflows/test_replay.py does) and its
WorkflowTaskFailed events counted (the worker's data converter, payload codec included).
Outbox rows voided by held writes (hotline/store/commits.py: written by a workflow task that never
committed) are not notices; rows still held or unconfirmed at the end are a failure.
--keep DIR saves every history that does not replay, has a failed workflow task, belongs to a
stalled order or disagrees with its audit rows or notices, and, when the run fails, the worker
log, the SQLite database and the run's throwaway codec key ring.

Pass: every order closed in its workflow result and the read model (whose stage is the
workflow's), 0 unreplayable histories, 0 WorkflowTaskFailed events, audit rows that are the
workflow's steps, every notice, strike, criticism and referral exactly once, and no query
answered when the server refuses them. The run is bounded by --deadline (600 s to close every
order) and stops its dev server and worker by itself; everything listens on 127.0.0.1.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

SNAPSHOT_OF = "HOTLINE_FAULTS_SNAPSHOT_OF"  # set in the copy: the tree it was taken from
SNAPSHOT_SKIP = (".git", ".venv", "var", ".hypothesis", "__pycache__", "*.pyc", "tests", "deploy", ".ci",
                 "node_modules", "*.db", "*.db-wal", "*.db-shm")


def _run_in_snapshot() -> int:
    """Run this script from a copy of the tree taken now, so that the worker (started again
    after each kill) and the replay at the end all run the code the run started with, while
    the tree may be edited beside it. The copy is removed afterwards."""
    root = Path(__file__).resolve().parent.parent
    snap = Path(tempfile.mkdtemp(prefix="bench-faults-code-"))
    proc = None
    try:
        shutil.copytree(root, snap / "tree", ignore=shutil.ignore_patterns(*SNAPSHOT_SKIP))
        argv = list(sys.argv[1:])
        for i, a in enumerate(argv):  # --keep DIR relative to here, not to the copy
            if a == "--keep" and i + 1 < len(argv):
                argv[i + 1] = str(Path(argv[i + 1]).resolve())
            elif a.startswith("--keep="):
                argv[i] = "--keep=" + str(Path(a.split("=", 1)[1]).resolve())
        proc = subprocess.Popen([sys.executable, str(snap / "tree" / "bench" / "faults.py"), *argv],
                                env={**os.environ, SNAPSHOT_OF: str(root)})
        return proc.wait()
    except (KeyboardInterrupt, SystemExit):
        if proc is not None and proc.poll() is None:
            proc.terminate()  # its finally blocks stop its dev server and worker
            proc.wait()
        return 130
    finally:
        shutil.rmtree(snap, ignore_errors=True)


if __name__ == "__main__" and "--in-place" not in sys.argv and not os.environ.get(SNAPSHOT_OF):
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(143)))
    sys.exit(_run_in_snapshot())

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402
from sqlalchemy import select  # noqa: E402

from hotline.domain.codes import order_workflow_id  # noqa: E402
from hotline.domain.models import (  # noqa: E402
    CallbackAction,
    ContactAction,
    IntakeRequest,
    ReplyAction,
    ReturnRequestAction,
    ReturnReviewAction,
    SignAction,
    Stage,
)
from hotline.domain.policy import load_policy  # noqa: E402
from hotline.domain.supervision import supervision_workflow_id  # noqa: E402
from hotline.services.port import ActionRefused  # noqa: E402
from hotline.store.readmodel import load_order  # noqa: E402

BODY = {"channel": "phone", "category": "complaint", "urgency": "normal", "title": "工地夜间施工噪音",
        "description": "小区旁边工地每天晚上十一点还在打桩，吵得睡不着",
        "petitioner": {"name": "王小明", "phone": "13800001234"},
        "location": {"district": "JYQ", "address": "吉阳区迎宾路"}}
OWNERS = ["ZJJ", "SWJ", "JTJ"]
REFUSER = "ZFJ"  # the unit whose invalid returns become strikes, criticisms, a referral
KEEP: Path | None = None  # --keep DIR: histories that do not replay, have a failed task, or stalled
SUPERVISION_PREFIX = supervision_workflow_id("")  # a unit's supervision workflow id, less the unit
# Who receives each ledger fact's document (hotline/domain/supervision.py); a strike has none.
RECIPIENTS = {"criticism": lambda u: {u, "LEADERSHIP"},
              "referral": lambda u: {"DISCIPLINE", "LEADERSHIP", u},
              "referral_appendix": lambda u: {"DISCIPLINE"},
              "staff_referral": lambda u: {"DISCIPLINE", u}}
DEFAULT_ORDERS = {"mixed": 200}  # others: 30
ADMIN_QUERIES = ("state", "__temporal_workflow_metadata")  # what the Temporal UI and a curious admin send


ERRORS: Counter = Counter()  # what the drivers' calls raised (other than a refusal), by kind


class Driver:
    """Takes one order to closed, whatever fails on the way, reading only the read model."""

    def __init__(self, engine, db, order_no: str, owner: str, mode: str, rng: random.Random) -> None:
        self.engine, self.db, self.order_no, self.owner, self.rng = engine, db, order_no, owner, rng
        self.refuse, self.late = mode == "return", mode == "late"
        self.retries = 0
        self.refused = 0  # actions refused (409 in the product): the stage it read had moved on
        self.returned = False
        self.started = False  # intake answered: the admin may pry from now on
        self.done = False
        self.answered_steps = 0  # steps in the latest answer (intake or action) received
        self.reads = 0
        self.behind = 0  # reads of the read model with fewer steps than an answer already received
        self.missing = 0  # reads that found no row after intake had answered

    async def _try(self, coro_fn):
        try:
            return await asyncio.wait_for(coro_fn(), timeout=30)
        except ActionRefused:
            self.refused += 1
            return None  # the stage moved on (an earlier attempt went through): look again
        except Exception as exc:
            self.retries += 1
            ERRORS[f"{type(exc).__name__}: {str(exc)[:90]}"] += 1
            await asyncio.sleep(1)
            return None

    def _answer(self, st):
        if st is not None:
            self.answered_steps = max(self.answered_steps, len(st.actions))
        return st

    async def _read(self):
        st = await self._try(lambda: asyncio.to_thread(load_order, self.db, self.order_no))
        if st is not None:
            self.reads += 1
            self.behind += len(st.actions) < self.answered_steps
        return st

    async def run(self, deadline: float) -> Stage | None:
        try:
            return await self._run(deadline)
        finally:
            self.done = True

    async def _run(self, deadline: float) -> Stage | None:
        e, no, by = self.engine, self.order_no, self.owner
        stage = None
        # Update-with-start joins the running order (USE_EXISTING), so a start whose answer was
        # lost is retried; its answer is the dispatched order.
        while time.monotonic() < deadline:
            st = self._answer(await self._try(
                lambda: e.start_order(no, IntakeRequest.model_validate(BODY), by, "operator", [])))
            if st is not None:
                stage = st.stage
                break
        self.started = True
        while time.monotonic() < deadline:
            await asyncio.sleep(self.rng.uniform(0.2, 1.5))  # a person's pace, spread out
            st = await self._read()
            if st is None:
                self.missing += self.answered_steps > 0
                continue
            stage = st.stage
            if stage == Stage.closed:
                return stage
            if stage == Stage.dispatched and self.late and not st.overdue:
                continue  # a unit that leaves the order unsigned past its handling deadline
            if stage == Stage.dispatched:
                if self._answer(await self._try(lambda: e.act(no, "sign", SignAction(by=by)))) is None:
                    continue
                stage = Stage.signed  # a refusing unit asks to return at once (the window is 15 s)
            if stage in (Stage.signed, Stage.handling) and self.refuse and not self.returned:
                self.returned = True
                self._answer(await self._try(lambda: e.act(no, "return-request", ReturnRequestAction(
                    by=by, reason="不属于本单位职责", claimed_unit="ZJJ", basis="三定方案"))))
            elif stage == Stage.return_review:
                self._answer(await self._try(lambda: e.act(no, "return-review", ReturnReviewAction(
                    by="admin:bench", decision="reject", reason="属于首接单位职责"))))
            elif stage == Stage.signed:
                self._answer(await self._try(lambda: e.act(no, "contact", ContactAction(by=by, note="已联系"))))
            elif stage in (Stage.handling, Stage.reopened):
                self._answer(await self._try(lambda: e.act(no, "reply", ReplyAction(
                    by=by, result="已处理", resolved=True))))
            elif stage == Stage.callback:
                self._answer(await self._try(lambda: e.act(no, "callback", CallbackAction(
                    by="admin:bench", answered=True, resolved=True, satisfaction="satisfied"))))
        return stage


class Admin:
    """A prying admin: at a person's pace, opens a random open order as the Temporal UI does
    (its metadata query) and asks for its state, through every fault."""

    def __init__(self, client, drivers: list[Driver], rng: random.Random) -> None:
        self.client, self.drivers, self.rng = client, drivers, rng
        self.sent: Counter = Counter()
        self.refused: Counter = Counter()
        self.answered: Counter = Counter()
        self.errors: Counter = Counter()  # neither refused nor answered (server down, timeouts)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.rng.uniform(0.3, 1.0))
                return
            except asyncio.TimeoutError:
                pass
            open_orders = [d.order_no for d in self.drivers if d.started and not d.done]
            if not open_orders:
                continue
            handle = self.client.get_workflow_handle(order_workflow_id(self.rng.choice(open_orders)))
            for q in ADMIN_QUERIES:
                self.sent[q] += 1
                try:
                    await asyncio.wait_for(handle.query(q, rpc_timeout=timedelta(seconds=10)), timeout=15)
                    self.answered[q] += 1
                except Exception as exc:
                    text = f"{exc} {getattr(exc, '__cause__', '') or ''}"
                    if "not allowed to query" in text.lower():
                        self.refused[q] += 1
                    else:
                        self.errors[f"{type(exc).__name__}: {str(exc)[:70]}"] += 1

    def figures(self) -> dict:
        n = lambda c: sum(c.values())  # noqa: E731
        return {"queries sent/refused/answered/other": f"{n(self.sent)}/{n(self.refused)}/{n(self.answered)}"
                                                        f"/{n(self.errors)}",
                "queries by kind (sent/refused/answered)": "; ".join(
                    f"{q} {self.sent[q]}/{self.refused[q]}/{self.answered[q]}" for q in ADMIN_QUERIES),
                "query errors (not refusals)": dict(self.errors.most_common(4)) or "none"}


class Run:
    def __init__(self, name: str) -> None:
        self.name = name
        self.figures: dict[str, object] = {}
        self.problems: list[str] = []

    def ok(self) -> bool:
        return not self.problems


def _keep(run: Run, wid: str, run_id: str, hist) -> None:
    if KEEP:
        KEEP.mkdir(parents=True, exist_ok=True)
        (KEEP / f"{run.name}-{wid}-{run_id[:8]}.json").write_text(hist.to_json())


async def replay_all(run: Run, client, executions: list[tuple[str, str]]) -> dict[str, object]:
    """Replay every history with the current workflow code; count WorkflowTaskFailed events."""
    from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
    from temporalio.worker import Replayer

    from workflows.supervision import DepartmentSupervisionWorkflow
    from workflows.work_order import WorkOrderWorkflow

    hists = {}
    for wid, run_id in executions:
        try:
            hists[(wid, run_id)] = await client.get_workflow_handle(wid, run_id=run_id).fetch_history()
        except Exception as exc:
            run.problems.append(f"history of {wid} not readable: {str(exc)[:100]}")
    failed_tasks: dict[str, list[str]] = {}
    unhandled_command = 0
    timed_out = sum(1 for h in hists.values() for e in h.events
                    if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT)
    for (wid, run_id), hist in hists.items():
        fails = [e.workflow_task_failed_event_attributes for e in hist.events
                 if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
        # UNHANDLED_COMMAND is the server's own protocol, not a fault: a task tried to complete
        # the run while a new event (a signal, an update) had arrived; the server asks the
        # worker to look at it first and the next task completes. Counted apart.
        benign = [a for a in fails if a.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND]
        unhandled_command += len(benign)
        fails = [a for a in fails if a not in benign]
        if fails:
            failed_tasks[wid] = [f"{WorkflowTaskFailedCause.Name(a.cause)}: {a.failure.message[:120]}" for a in fails]
            _keep(run, wid, run_id, hist)
    # the client's converter: the pydantic one, with the payload codec the worker uses if any
    replayer = Replayer(workflows=[WorkOrderWorkflow, DepartmentSupervisionWorkflow],
                        data_converter=client.data_converter, runtime=common.quiet_runtime())
    keys = list(hists)  # the iterator answers one history at a time, in the order given
    unreplayable: dict[str, str] = {}
    replayed = 0

    async def each():
        for k in keys:
            yield hists[k]

    async with replayer.workflow_replay_iterator(each()) as results:
        async for r in results:
            wid, run_id = keys[replayed]
            assert r.history.workflow_id == wid
            replayed += 1
            if r.replay_failure is not None:
                unreplayable[f"{wid}/{run_id[:8]}"] = str(r.replay_failure)[:300]
                _keep(run, wid, run_id, r.history)
    n_fail_events = sum(len(v) for v in failed_tasks.values())
    if unreplayable:
        wid, why = next(iter(unreplayable.items()))
        run.problems.append(f"{len(unreplayable)} histories do not replay, e.g. {wid}: {why[:200]}")
    if n_fail_events:
        wid, why = next(iter(failed_tasks.items()))
        run.problems.append(f"{n_fail_events} WorkflowTaskFailed events in {len(failed_tasks)} histories, "
                            f"e.g. {wid}: {why[0]}")
    return {"hists": hists, "histories replayed": replayed, "unreplayable": len(unreplayable),
            "unreplayable ids": sorted(unreplayable)[:10],
            "WorkflowTaskFailed events": n_fail_events, "failed-task ids": sorted(failed_tasks)[:10],
            "tasks failed with UNHANDLED_COMMAND (new event at completion; retried, benign)": unhandled_command,
            "WorkflowTaskTimedOut events (load, faults)": timed_out}


async def _ledger_keys(client, hist) -> list[str]:
    """The ledger facts a supervision workflow recorded: its record_ledger_event inputs' keys
    (decoded with the client's converter: the payloads may be sealed)."""
    from temporalio.api.enums.v1 import EventType
    keys = []
    for e in hist.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            a = e.activity_task_scheduled_event_attributes
            if a.activity_type.name == "record_ledger_event" and a.input.payloads:
                value = (await client.data_converter.decode(list(a.input.payloads)[:1]))[0]
                keys.append(value["key"] if isinstance(value, dict) else json.loads(value)["key"])
    return keys


async def account(run: Run, client, db, orders: list[str], units: set[str]) -> None:
    """Every order, notification, audit row and ledger fact, checked against each other, and
    every history replayed. No query: results, histories and the database only."""
    from hotline.store.ledger import ledger_view
    from hotline.store.tables import ActionRow, OrderRow, OutboxRow, SupervisionEventRow
    from workflows.work_order import WorkOrderWorkflow

    closed = read_closed = rm_differs = 0
    stalled: list[str] = []
    rm_vs_memo: list[str] = []
    wrong_steps: list[str] = []  # orders whose audit rows are not the workflow's steps
    suspects: set[str] = set()  # orders whose notices or audit rows disagree with the workflow
    notice_missing = notice_extra = steps_bad = strike_orders_bad = 0
    with db.session() as s:
        every_outbox_row = s.scalars(select(OutboxRow)).all()
        actions = s.scalars(select(ActionRow)).all()
        rows = {r.order_no: r for r in s.scalars(select(OrderRow)).all()}
        events = s.scalars(select(SupervisionEventRow)).all()
    # With held writes (hotline/store/commits.py) a row written by a workflow task that never committed
    # is voided, never delivered: it is not a notice. Rows still held or unconfirmed at the end
    # wait for a decision that should have come.
    outbox = [r for r in every_outbox_row if r.status != "void"]
    voided = len(every_outbox_row) - len(outbox)
    held = sum(1 for r in outbox if r.status == "held")
    unconfirmed = sum(1 for a in actions if getattr(a, "confirmed", True) is False)
    per_key = Counter(r.key for r in outbox)
    by_order: dict[str, set[str]] = {}
    for r in outbox:
        by_order.setdefault(r.order_no, set()).add(r.key)
    steps: dict[str, Counter] = {}
    for a in actions:
        steps.setdefault(a.order_no, Counter())[(a.seq, a.action)] += 1
    db_strikes_per_order = Counter(e.order_no for e in events if e.kind == "strike")
    strike_steps = 0
    executions: list[tuple[str, str]] = []
    for no in orders:
        h = client.get_workflow_handle_for(WorkOrderWorkflow.run, order_workflow_id(no))
        rm = load_order(db, no)
        try:
            st = await asyncio.wait_for(h.result(), timeout=5)
            closed += st.stage == Stage.closed
        except Exception as exc:
            stalled.append(f"{no}:{rm.stage.value if rm else 'not in read model'} ({type(exc).__name__})")
            st = rm
        try:
            desc = await h.describe()
            executions.append((order_workflow_id(no), desc.run_id))
            memo_stage = (await desc.memo()).get("stage")
        except Exception as exc:
            run.problems.append(f"{order_workflow_id(no)} not found: {str(exc)[:100]}")
            memo_stage = None
        if rm is not None and memo_stage is not None and rm.stage.value != memo_stage:
            # the read model's stage is not the workflow's own (its memo is written with the
            # workflow task that made the change, so it agrees with the history)
            rm_vs_memo.append(f"{no}: read model {rm.stage.value}, workflow {memo_stage}")
        if st is None:
            continue
        row = rows.get(no)
        read_closed += bool(row is not None and row.stage == "closed")
        rm_differs += bool(rm is None or rm.stage != st.stage or len(rm.actions) != len(st.actions))
        keys = {n.key for n in st.notices}
        mine = {k for k in by_order.get(no, set()) if k.startswith(f"{no}:")}
        notice_missing += len(keys - mine)
        notice_extra += len(mine - keys)
        seqs = steps.get(no, Counter())
        if sorted(seqs) != [(a.seq, a.action) for a in st.actions] or any(v != 1 for v in seqs.values()):
            steps_bad += 1
            in_workflow = {(x.seq, x.action) for x in st.actions}
            audit_only = [f'{q}:{a}' for q, a in sorted(seqs) if (q, a) not in in_workflow]
            workflow_only = [f'{x.seq}:{x.action}' for x in st.actions if (x.seq, x.action) not in seqs]
            wrong_steps.append(f"{no}: audit {audit_only} vs workflow {workflow_only}")
        if (mine - keys) or (keys - mine) or wrong_steps and wrong_steps[-1].startswith(no):
            suspects.add(no)
        n_strikes = sum(1 for a in st.actions if a.action == "strike")
        strike_steps += n_strikes
        strike_orders_bad += n_strikes != db_strikes_per_order.get(no, 0)

    # Supervision workflows: every run of each (continue-as-new included), from visibility and
    # by id (describe is no query).
    sup_execs: set[tuple[str, str]] = set()
    try:
        async for wf in client.list_workflows('WorkflowType="DepartmentSupervisionWorkflow"'):
            sup_execs.add((wf.id, wf.run_id))
    except Exception as exc:
        run.problems.append(f"cannot list supervision workflows: {str(exc)[:100]}")
    for unit in sorted(units | {e.unit_code for e in events}):
        try:
            wid = supervision_workflow_id(unit)
            sup_execs.add((wid, (await client.get_workflow_handle(wid).describe()).run_id))
        except Exception:
            pass  # a unit with no strike has no supervision workflow
    replay = await replay_all(run, client, executions + sorted(sup_execs))
    hists = replay.pop("hists")
    # the history of a stalled order, or of one whose notices or audit rows disagree with it
    for no in {s.split(":")[0] for s in stalled} | suspects:
        for (wid, run_id), hist in hists.items():
            if wid == order_workflow_id(no):
                _keep(run, wid, run_id, hist)

    # The unit ledgers, from the database only.
    kinds = Counter(e.kind for e in events)
    hist_keys: dict[str, list[str]] = defaultdict(list)
    for (wid, _), hist in hists.items():
        if wid.startswith(SUPERVISION_PREFIX):
            hist_keys[wid.removeprefix(SUPERVISION_PREFIX)] += await _ledger_keys(client, hist)
    db_keys: dict[str, set[str]] = defaultdict(set)
    for e in events:
        db_keys[e.unit_code].add(e.key)
    ledger_strikes = ledger_crit = ledger_ref = 0
    facts_twice = numbering_bad = 0
    for unit in sorted(set(db_keys) | set(hist_keys)):
        for year in sorted({e.year for e in events if e.unit_code == unit}):
            led = ledger_view(db, unit, year)
            ledger_strikes += len(led["strikes"])
            ledger_crit += len(led["criticisms"])
            ledger_ref += sum(1 for r in led["referrals"] if r["kind"] == "referral")
            nums = sorted(int(c["key"].rsplit(":", 1)[1]) for c in led["criticisms"])
            numbering_bad += nums != list(range(1, len(nums) + 1))
            covered = [(f["order_no"], f["kind"], f["date"]) for c in led["criticisms"]
                       for f in (c["detail"] or {}).get("facts", [])]
            facts_twice += len(covered) - len(set(covered))
    ledger_hist_bad = [u for u in set(db_keys) | set(hist_keys)
                       if set(hist_keys[u]) != db_keys[u] or len(hist_keys[u]) != len(set(hist_keys[u]))]
    docs: dict[str, set[str]] = defaultdict(set)
    for r in outbox:
        if ":to:" in r.key:
            base, to = r.key.split(":to:", 1)
            docs[base].add(to)
    docs_bad = sum(1 for e in events
                   if e.kind in RECIPIENTS and docs.get(e.key, set()) != RECIPIENTS[e.kind](e.unit_code))
    docs_orphan = len(set(docs) - {e.key for e in events})
    dup_keys = sum(1 for v in per_key.values() if v > 1)
    undelivered = sum(1 for r in outbox if r.status not in ("delivered", "held"))
    run.figures.update({
        "orders in": len(orders), "closed": closed, "closed in read model": read_closed, "stalled": len(stalled),
        "stalled orders": stalled[:8] or "-",
        "read model ≠ result": rm_differs,
        "read-model stage ≠ workflow's (memo)": len(rm_vs_memo), "e.g.": rm_vs_memo[:3] or "-", **replay,
        "outbox rows": len(outbox), "outbox rows voided / still held": f"{voided} / {held}",
        "audit rows unconfirmed": unconfirmed, "keys >1 row": dup_keys, "notices missing": notice_missing,
        "notices extra": notice_extra, "undelivered": undelivered, "orders w/ audit mismatch": steps_bad,
        "audit mismatches, e.g.": wrong_steps[:3] or "-",
        "strikes (steps/ledger/db)": f"{strike_steps}/{ledger_strikes}/{kinds['strike']}",
        "orders w/ strike mismatch": strike_orders_bad,
        "criticisms (ledger/db)": f"{ledger_crit}/{kinds['criticism']}",
        "referrals (ledger/db)": f"{ledger_ref}/{kinds['referral']}",
        "appendices, staff referrals": f"{kinds['referral_appendix']}, {kinds['staff_referral']}",
        "ledger facts (supervision histories/db)": f"{sum(len(v) for v in hist_keys.values())}/{len(events)}",
        "documents missing or extra": docs_bad + docs_orphan,
    })
    if closed != len(orders) or read_closed != len(orders) or stalled:
        run.problems.append(f"not all orders closed: {stalled[:5]}")
    if rm_vs_memo:
        run.problems.append(f"the read model's stage is not the workflow's on {len(rm_vs_memo)} orders: "
                            f"{rm_vs_memo[:3]}")
    if dup_keys or notice_extra or notice_missing:
        run.problems.append("notifications: duplicated or missing")
    if held or unconfirmed:
        run.problems.append(f"{held} outbox rows still held and {unconfirmed} audit rows unconfirmed at the end")
    if steps_bad:
        run.problems.append("audit rows do not match the workflow's steps")
    if not (strike_steps == ledger_strikes == kinds["strike"]) or strike_orders_bad:
        run.problems.append("strikes: order steps, ledger and database disagree")
    if ledger_crit != kinds["criticism"] or ledger_ref != kinds["referral"]:
        run.problems.append("criticisms/referrals: ledger view and database disagree")
    if numbering_bad or facts_twice:
        run.problems.append(f"criticisms: {numbering_bad} ledgers misnumbered, {facts_twice} strikes in two criticisms")
    if ledger_hist_bad:
        run.problems.append(f"ledger facts recorded by the supervision workflows ≠ database: {sorted(ledger_hist_bad)}")
    if docs_bad or docs_orphan:
        run.problems.append(f"{docs_bad} criticisms/referrals without exactly their documents, {docs_orphan} "
                            "documents without a ledger fact")


def _undecided(db) -> int:
    """Writes still waiting for their workflow task's outcome (held writes; 0 without them)."""
    from sqlalchemy import func

    from hotline.store.tables import ActionRow, OutboxRow
    with db.session() as s:
        n = s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "held")) or 0
        if hasattr(ActionRow, "confirmed"):
            n += s.scalar(select(func.count()).select_from(ActionRow).where(ActionRow.confirmed.is_(False))) or 0
    return n


class Procs:
    """The dev server and worker of a run; faults replace the worker process."""

    def __init__(self, server: common.DevServer, address: str, url: str, queue: str, wlog: Path) -> None:
        self.server, self.address, self.url, self.queue, self.wlog = server, address, url, queue, wlog
        self.worker = None
        self.worker_starts: list[float] = []  # seconds each worker start took to be ready
        self.start_failures: list[str] = []  # attempts that failed (and were tried again)
        self.code: set[str] = set()  # code fingerprints at each worker start

    async def start_worker(self, run: Run, attempts: int = 3) -> None:
        self.code.add(code_fingerprint())
        for i in range(attempts):
            since = common.log_size(self.wlog)
            self.worker = common.worker_process(self.address, self.url, self.queue, policy="fast", log=self.wlog)
            try:
                self.worker_starts.append(await asyncio.to_thread(common.wait_worker, self.worker, self.wlog, since))
                return
            except RuntimeError as exc:
                self.start_failures.append(f"start {len(self.worker_starts) + 1}, attempt {i + 1}: {exc}")
                common.stop_process(self.worker, timeout=5)
                await asyncio.sleep(2)
        run.problems.append(f"the worker does not start: {self.start_failures[-1]}")
        raise RuntimeError("the worker does not start")

    async def kill_worker(self, run: Run, events: list[str], t0: float, down: float) -> None:
        self.worker.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.worker.wait)
        events.append(f"{time.monotonic() - t0:.0f}s worker SIGKILL (exit {self.worker.returncode})")
        await asyncio.sleep(down)
        await self.start_worker(run)
        events.append(f"{time.monotonic() - t0:.0f}s worker restarted (ready in {self.worker_starts[-1]:.1f} s)")

    async def restart_server(self, events: list[str], t0: float, down: float) -> None:
        await asyncio.to_thread(self.server.stop, signal.SIGTERM)
        events.append(f"{time.monotonic() - t0:.0f}s dev server stopped (exit {self.server.proc.returncode})")
        await asyncio.sleep(down)
        await asyncio.to_thread(self.server.start)
        events.append(f"{time.monotonic() - t0:.0f}s dev server started again on the same state file")


async def fault_run(kind: str, args, tmp: Path) -> Run:
    from workflows.client import TemporalWorkOrders

    run = Run(kind)
    rng = random.Random(kind)
    n_orders = args.orders or DEFAULT_ORDERS.get(kind, 30)
    spread = args.spread if args.spread is not None else (60 if kind == "mixed" else 10)
    down = args.server_down if args.server_down is not None else (5 if kind == "mixed" else 10)
    server = common.DevServer(db_file=tmp / "temporal.db", log=tmp / "temporal.log",
                              allow_query=args.allow_queries).start()
    pg = None
    procs: Procs | None = None
    t_start = time.monotonic()
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
        procs = Procs(server, server.address, url, queue, wlog)
        await procs.start_worker(run)
        engine = TemporalWorkOrders(client, queue, load_policy("fast"))
        base = int(time.time()) % 10**6
        orders = [f"SY9{base:06d}{i:07d}" for i in range(n_orders)]
        owners = {no: (REFUSER if i % 3 == 0 else OWNERS[i % len(OWNERS)]) for i, no in enumerate(orders)}
        t0 = time.monotonic()
        deadline = t0 + args.deadline
        modes = {0: "return", 3: "late"}  # every third order is the refusing unit's
        drivers = [Driver(engine, db, no, owners[no], modes.get(i % 6, "normal"), random.Random(f"{kind}{i}"))
                   for i, no in enumerate(orders)]

        async def staggered(i: int, d: Driver):
            # in the single-fault runs the refusing unit's orders start first, so their strikes
            # fall within one strike window; the mixed run spreads every order over the load
            first = d.refuse and kind != "mixed"
            await asyncio.sleep(0 if first else i * spread / max(1, len(drivers)))
            return await d.run(deadline)

        tasks = [asyncio.create_task(staggered(i, d)) for i, d in enumerate(drivers)]
        admin = Admin(client, drivers, random.Random(f"admin-{kind}"))
        admin_stop = asyncio.Event()
        admin_task = asyncio.create_task(admin.run(admin_stop))
        events: list[str] = []
        restarts = kills = 0
        await asyncio.sleep(args.fault_at)
        if kind == "worker":
            for _ in range(2):
                await procs.kill_worker(run, events, t0, 3)
                kills += 1
                await asyncio.sleep(rng.uniform(4, 8))
        elif kind == "server":
            await procs.restart_server(events, t0, down)
            restarts += 1
        elif kind == "postgres":
            await asyncio.to_thread(pg.stop)
            events.append(f"{time.monotonic() - t0:.0f}s PostgreSQL stopped")
            await asyncio.sleep(args.outage)
            await asyncio.to_thread(pg.start)
            events.append(f"{time.monotonic() - t0:.0f}s PostgreSQL started again")
        elif kind == "mixed":
            for i, fault in enumerate(["server", "worker", "server", "worker", "server"]):
                await asyncio.sleep(max(0.0, t0 + args.fault_at + i * args.every - time.monotonic()))
                if fault == "server":
                    await procs.restart_server(events, t0, down)
                    restarts += 1
                else:
                    await procs.kill_worker(run, events, t0, 3)
                    kills += 1
        stages = await asyncio.gather(*tasks)
        run.figures["time to close all"] = f"{time.monotonic() - t0:.0f} s"
        admin_stop.set()
        await admin_task
        run.figures.update({"dev-server restarts": restarts, "worker kills": kills,
                            "queries": "allowed (--allow-queries)" if args.allow_queries else "refused by the server",
                            **admin.figures()})
        run.figures["driver retries / actions refused"] = (f"{sum(d.retries for d in drivers)} / "
                                                            f"{sum(d.refused for d in drivers)}")
        run.figures["driver errors by kind"] = dict(ERRORS.most_common(6)) or "none"
        ERRORS.clear()
        run.figures["read-model reads (behind an answer / missing)"] = (
            f"{sum(d.reads for d in drivers)} ({sum(d.behind for d in drivers)} / {sum(d.missing for d in drivers)})")
        if procs.worker.poll() is not None:
            run.problems.append(f"the worker exited ({procs.worker.returncode}); see its log")
        # let the last notices, ledger facts and outbox deliveries settle (same for every run),
        # and held writes be confirmed or voided (at most a minute more)
        await asyncio.sleep(args.settle)
        end = time.monotonic() + 60
        while time.monotonic() < end and await asyncio.to_thread(_undecided, db):
            await asyncio.sleep(2)
        procs.code.add(code_fingerprint())  # and the code the replay below runs
        run.figures["code fingerprint(s)"] = ", ".join(sorted(procs.code))
        if len(procs.code) > 1:
            run.problems.append("the workflow/activity code changed during the run (worker restarts and the "
                                "replay ran different code): run it again on a quiet tree")
        try:
            await account(run, client, db, orders, set(OWNERS) | {REFUSER})
        except Exception as exc:  # report what the run showed so far rather than nothing
            run.problems.append(f"the account failed: {type(exc).__name__}: {str(exc)[:200]}")
        wtext = wlog.read_text(errors="replace") if wlog.exists() else ""
        run.figures["TMPRL1100 lines in the worker log"] = len(re.findall("TMPRL1100", wtext))
        run.figures["futures never retrieved (start operation errors)"] = dict(UNRETRIEVED) or 0
        UNRETRIEVED.clear()
        run.figures["worker starts (s to ready)"] = ", ".join(f"{x:.1f}" for x in procs.worker_starts)
        if procs.start_failures:
            run.figures["worker start attempts that failed"] = procs.start_failures
        run.figures["events"] = "; ".join(events)
        if any(s != Stage.closed for s in stages):
            run.problems.append("some drivers ran out of time")
        if sum(admin.answered.values()) and not args.allow_queries:
            run.problems.append(f"{sum(admin.answered.values())} queries answered although the server refuses them")
        db.dispose()
        if KEEP and (not run.ok() or args.allow_queries):
            KEEP.mkdir(parents=True, exist_ok=True)
            (KEEP / f"{kind}-worker.log").write_text(wtext)
            for f in tmp.glob("hotline.db*"):  # the read model, audit rows and outbox as the run left them
                shutil.copy(f, KEEP / f"{kind}-{f.name}")
            if os.environ.get("HOTLINE_CODEC_KEYS"):  # the run's throwaway key ring opens its histories
                (KEEP / "codec-keys").write_text(os.environ["HOTLINE_CODEC_KEYS"] + "\n")
                os.chmod(KEEP / "codec-keys", 0o600)
    finally:
        if procs is not None and procs.worker is not None:
            common.stop_process(procs.worker)
        server.stop()
        if pg is not None:
            pg.stop()
    run.figures["wall time"] = f"{time.monotonic() - t_start:.0f} s"
    return run


COLUMNS = ["orders in", "closed", "closed in read model", "stalled", "read-model stage ≠ workflow's (memo)",
           "dev-server restarts", "worker kills",
           "queries sent/refused/answered/other", "histories replayed", "unreplayable", "WorkflowTaskFailed events",
           "outbox rows", "keys >1 row", "notices missing", "notices extra", "orders w/ audit mismatch",
           "strikes (steps/ledger/db)", "criticisms (ledger/db)", "referrals (ledger/db)",
           "documents missing or extra", "time to close all"]


UNRETRIEVED = Counter()  # exceptions asyncio reports as never retrieved, by type


def _exception_handler(loop, context) -> None:
    # An update-with-start that fails (the dev server down) also sets the error on the start
    # operation's own future, which TemporalWorkOrders.start_order never reads; asyncio then prints
    # "Future exception was never retrieved" with a traceback. Counted, not printed.
    exc = context.get("exception")
    if context.get("message") == "Future exception was never retrieved" and exc is not None:
        UNRETRIEVED[type(exc).__name__] += 1
        return
    loop.default_exception_handler(context)


def code_fingerprint() -> str:
    """A hash of the code the worker loads (workflows, activities, hotline): the replay at the
    end must run the code the worker ran, and the tree may be edited while a run goes on."""
    h = hashlib.sha256()
    for d in ("workflows", "activities", "hotline"):
        for f in sorted((common.ROOT / d).rglob("*.py")):
            h.update(str(f.relative_to(common.ROOT)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


async def main(args) -> int:
    global KEEP
    KEEP = Path(args.keep) if args.keep else None
    asyncio.get_running_loop().set_exception_handler(_exception_handler)
    try:  # the replay at the end needs them: a tree that does not import fails now, not then
        import workflows.supervision  # noqa: F401
        import workflows.work_order  # noqa: F401
    except Exception as exc:
        print(f"error: the workflow code does not import: {exc}", file=sys.stderr)
        return 2
    kinds = args.only.split(",")
    per = args.orders or ", ".join(f"{k} {DEFAULT_ORDERS.get(k, 30)}" for k in kinds)
    common.header(f"faults: orders per run {per}; runs: {', '.join(kinds)}; queries "
                  + ("allowed" if args.allow_queries else "refused by the server (system.disallowQuery=true)"))
    where = os.environ.get(SNAPSHOT_OF)
    print(f"   code: {'a copy of ' + where + ' taken at start' if where else str(common.ROOT) + ' in place'}, "
          f"fingerprint {code_fingerprint()}", flush=True)
    runs: list[Run] = []
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix=f"bench-faults-{kind}-") as tmp:
            print(f"-- {kind}", flush=True)
            r = await asyncio.wait_for(fault_run(kind, args, Path(tmp)), timeout=args.deadline + 600)
            for k, v in r.figures.items():
                print(f"   {k}: {v}")
            print(f"   {'PASS' if r.ok() else 'FAIL: ' + '; '.join(r.problems)}", flush=True)
            runs.append(r)
    print("== result")
    print("| run | " + " | ".join(COLUMNS) + " | verdict |")
    print("|" + "---|" * (len(COLUMNS) + 2))
    for r in runs:
        print(f"| {r.name} | " + " | ".join(str(r.figures.get(c, "")) for c in COLUMNS)
              + f" | {'PASS' if r.ok() else 'FAIL'} |")
    return 0 if all(r.ok() for r in runs) else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--orders", type=int, default=None, help="orders per run (default: mixed 200, others 30)")
    ap.add_argument("--only", default="mixed", help="comma-separated runs: mixed, worker, server, postgres")
    ap.add_argument("--fault-at", type=float, default=10, help="seconds of load before the (first) fault")
    ap.add_argument("--every", type=float, default=15, help="mixed: seconds between one fault and the next")
    ap.add_argument("--spread", type=float, default=None,
                    help="orders start over this many seconds (default: mixed 60, others 10)")
    ap.add_argument("--outage", type=float, default=30, help="seconds PostgreSQL stays down")
    ap.add_argument("--server-down", type=float, default=None,
                    help="seconds the dev server stays down (default: mixed 5, server 10)")
    ap.add_argument("--settle", type=float, default=10)
    ap.add_argument("--keep", metavar="DIR",
                    help="save histories that do not replay, have a failed workflow task or belong to a stalled order")
    ap.add_argument("--allow-queries", action="store_true",
                    help="start the dev server without system.disallowQuery (reproduce the old risk)")
    ap.add_argument("--deadline", type=float, default=600, help="seconds allowed to close every order")
    ap.add_argument("--in-place", action="store_true",
                    help="run the tree as it is, not a copy taken at start (edits during the run then "
                    "reach restarted workers and the replay)")
    a = ap.parse_args()
    bad = set(a.only.split(",")) - {"mixed", "worker", "server", "postgres"}
    if bad:
        ap.error(f"unknown run: {', '.join(sorted(bad))}")
    sys.exit(asyncio.run(main(a)))
