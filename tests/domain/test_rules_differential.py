"""The workflow and the simulator run the same rules: scripted orders through both, compared.

Each scenario runs through the real WorkOrderWorkflow on the time-skipping server (policy
`fast`, real activities on SQLite), then through `SimulatedOrder` at the instants the workflow
recorded for each action, into a second database through the simulator's exact sink. Both must
have the same steps (with their details), the same notices (kinds, recipients, texts and keys)
and the same read-model and KPI rows. Deadline follow-ups are the rules' too: the simulator
fires them at their deadlines, the workflow when its timers fire.
"""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any, Callable

import pytest
from sqlalchemy import text

from hotline.domain.contracts import ReturnRecommendation
from hotline.domain.models import (
    CallbackAction,
    CoHandlerDoneAction,
    CoHandlerTask,
    ContactAction,
    CoordinationPlanAction,
    ExtensionRequestAction,
    ExtensionReviewAction,
    MergeAction,
    Petitioner,
    ReplyAction,
    ReturnRequestAction,
    ReturnReviewAction,
    SignAction,
)
from hotline.domain.policy import load_policy
from hotline.simulation.life import SimulatedOrder
from hotline.simulation.sinks import ExactSink
from hotline.store import Database
from hotline.store.readmodel import load_order
from tests.harness import running_worker, settled

POLICY = load_policy("fast")
OPS = "admin:ops"
Payload = Any | Callable[[datetime], Any]  # a payload, or one made at the server's time (a due date)


def sign(unit="ZJJ"):
    return ("sign", SignAction(by=unit))


def contact(unit="ZJJ"):
    return ("contact", ContactAction(by=unit, note="已联系诉求人"))


def reply(unit="ZJJ", resolved=True):
    return ("reply", ReplyAction(by=unit, result="已处理，诉求人王小明表示认可" if resolved else "部分处理",
                                 resolved=resolved))


def rate(resolved=True, satisfaction="satisfied", request_no=None):
    return ("callback", CallbackAction(by=OPS, answered=True, resolved=resolved, satisfaction=satisfaction,
                                       request_no=request_no))


def ask_return(claimed="SWJ"):
    return ("return-request", ReturnRequestAction(by="ZJJ", reason="不属于本单位职责", claimed_unit=claimed,
                                                  basis="依据权责清单"))


def review_return(approve: bool):
    return ("return-review", ReturnReviewAction(
        by=OPS, decision="approve" if approve else "reject",
        reason="经核实属于所称单位职责" if approve else "属本单位职责，首接负责"))


def wait(seconds: float):
    return ("sleep", seconds)


SCENARIOS: dict[str, list[tuple[str, Payload]]] = {
    "happy_path": [sign(), contact(), reply(), rate()],
    "return_approved": [sign(), ask_return(), review_return(True), sign("SWJ"), contact("SWJ"), reply("SWJ"), rate()],
    "return_rejected": [sign(), ask_return(), review_return(False), contact(), reply(), rate()],
    "extension": [sign(), contact(),
                  ("extension-request", ExtensionRequestAction(by="ZJJ", days=2, reason="需协调多部门")),
                  ("extension-review", ExtensionReviewAction(by=OPS, decision="approve", reason="同意延期")),
                  ("extension-request", ExtensionRequestAction(by="ZJJ", days=1, reason="仍需时间")),
                  ("extension-review", ExtensionReviewAction(by=OPS, decision="reject", reason="不予延期")),
                  reply(), rate()],
    "reopened_twice": [sign(), contact(), reply(resolved=False), rate(False, "dissatisfied"),
                       reply(resolved=False), rate(False, "dissatisfied"),
                       reply(resolved=False), rate(False, "dissatisfied")],
    "unrated": [sign(), contact(), reply(), wait(25)],  # callback due at 15s, the answer window closes at 20s
    "every_deadline": [wait(75),  # sign-for 10s, reminder 30s, supervision 40s (never signed), escalation 70s
                       sign(), wait(17),  # contact 10s, coordination window 15s
                       reply(), ("callback", CallbackAction(by=OPS, answered=False)),
                       rate(True, "basically_satisfied")],
    "co_handler_missed": [sign(),
                          ("coordination-plan", lambda now: CoordinationPlanAction(
                              by="ZJJ", plan="水务局配合排查管网", co_handlers=[CoHandlerTask(
                                  unit="SWJ", task="排查管网", due=now + timedelta(seconds=6))])),
                          wait(8), ("co-handler-done", CoHandlerDoneAction(by="SWJ", note="已排查")),
                          contact(), reply(), rate()],
    "merged": [("merge", MergeAction(by=OPS, request_no="SY20261127000777",
                                     petitioner=Petitioner(name="李四", phone="13912345678"), note="同一工地")),
               sign(), contact(), reply(), rate(True, "satisfied"),
               rate(False, "dissatisfied", request_no="SY20261127000777")],
}

TABLES = {"actions": ("order_no", "seq", "action", "actor", "at", "detail"),
          "dispatches": ("order_no", "seq", "unit_code", "dispatched_at", "sign_by", "signed_at", "signed_on_time"),
          "return_requests": ("order_no", "seq", "unit_code", "claimed_unit", "reason", "basis", "requested_at",
                              "recommendation", "decision", "reviewer", "review_reason", "reviewed_at"),
          "callbacks": ("order_no", "seq", "unit_code", "at", "answered", "resolved", "satisfaction", "unrated")}
ORDER_SKIP = {"updated_at", "last_wft", "last_token", "idempotency_key"}


def _rows(db: Database, order_no: str) -> dict[str, list]:
    import json
    out: dict[str, list] = {}
    with db.engine.connect() as c:
        for table, cols in TABLES.items():
            out[table] = [tuple(json.loads(v) if isinstance(v, str) and v[:1] in "{[" else v for v in r)
                          for r in c.execute(text(f"SELECT {', '.join(cols)} FROM {table} WHERE order_no = :o "
                                                  "ORDER BY seq"), {"o": order_no})]
        row = c.execute(text("SELECT * FROM orders WHERE order_no = :o"), {"o": order_no}).mappings().one()
        out["orders"] = [{k: v for k, v in row.items() if k not in ORDER_SKIP and k != "state"}]
    return out


async def _quiet(db: Database, order_no: str, still: float = 1.0) -> None:
    """Until the order's read model has stopped moving (a fired timer's follow-up is written)."""
    await settled(db, order_no)
    last, since = None, time.monotonic()
    while time.monotonic() - since < still:
        st = load_order(db, order_no)
        now = (len(st.actions), len(st.notices)) if st else None
        if now != last:
            last, since = now, time.monotonic()
        await asyncio.sleep(0.1)
    await settled(db, order_no)


async def _through_workflow(env, db, script) -> tuple[str, list[Any], datetime]:
    """The script through the real workflow; returns the order number, the payloads sent and the
    server's time at the end (timers still waiting then have not fired)."""
    sent: list = []
    async with running_worker(env.client, db, POLICY) as h:
        no, _ = await h.start()
        await _quiet(db, no)
        for action, payload in script:
            if action == "sleep":
                await env.sleep(payload)
            else:
                payload = payload(await env.get_current_time()) if callable(payload) else payload
                await h.act(no, action, payload)
                sent.append((action, payload))
            await _quiet(db, no)
        end = await env.get_current_time()
    return no, sent, end


def _through_simulator(db: Database, wf_state, sent, end: datetime) -> SimulatedOrder:
    """The same order and actions through the simulator, each at the instant the workflow recorded it."""
    st = wf_state.model_copy(deep=True)
    for field in ("actions", "notices", "co_petitioners", "previous_owners", "co_handlers"):
        setattr(st, field, [])
    st = type(st).model_validate({**st.model_dump(), "stage": "intake", "deadlines": {}, "dispatched_at": None,
                                  "signed_at": None, "contacted_at": None, "replied_at": None, "closed_at": None,
                                  "overdue": False, "signed_late": None, "replied_on_time": None, "resolved": None,
                                  "reply_result": None, "callback": None, "pending": None, "close_reason": None,
                                  "reopens": 0, "return_count": 0, "extension_days": 0,
                                  "owner": (wf_state.previous_owners or [wf_state.owner])[0]})
    life = SimulatedOrder(ExactSink(db, POLICY), POLICY, st, until=end)
    steps = [a for a in wf_state.actions if a.by != "system" and a.by != "hotline" or a.action == "intake"]
    times = iter(steps)
    life.intake(next(times).at, "operator")
    for action, payload in sent:
        step = "petitioner-callback" if action == "callback" and wf_state.co_petitioners or \
            getattr(payload, "request_no", None) and action == "callback" else action
        at = next(a.at for a in times if a.action == step)
        if action == "return-request":
            rec = next(a for a in wf_state.actions if a.action == "return-request" and a.at == at)
            life.recommendation = ReturnRecommendation.model_validate(rec.detail["recommendation"])
        life.act(at, action, payload)
    life.finish()
    return life


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_workflow_and_simulator_record_the_same_order(scenario, ts_env, sqlite_db, tmp_path):
    no, sent, end = await _through_workflow(ts_env, sqlite_db, SCENARIOS[scenario])
    wf = load_order(sqlite_db, no)
    sim_db = Database(f"sqlite:///{tmp_path / 'sim.db'}")
    sim_db.migrate()
    try:
        life = _through_simulator(sim_db, wf, sent, end)
        sim = life.st
        # steps: same sequence, actors and details, at the same instants
        assert [(a.seq, a.action, a.by, a.detail) for a in sim.actions] == \
               [(a.seq, a.action, a.by, a.detail) for a in wf.actions]
        assert [(a.action, a.at) for a in sim.actions] == [(a.action, a.at) for a in wf.actions]
        # notices: kinds, recipients, texts and keys
        assert [(n.kind, n.to, n.reason, n.key, n.at) for n in sim.notices] == \
               [(n.kind, n.to, n.reason, n.key, n.at) for n in wf.notices]
        assert sim.model_dump(mode="json") == wf.model_dump(mode="json")
        assert _rows(sim_db, no) == _rows(sqlite_db, no)
        # the workflow sent exactly the notices its state lists (the simulator sends none)
        with sqlite_db.engine.connect() as c:
            sent_keys = sorted(k for (k,) in c.execute(text("SELECT key FROM outbox WHERE order_no = :o"), {"o": no})
                               if k.startswith(f"{no}:"))  # not the ladder's documents (criticisms...)
        assert sent_keys == sorted(n.key for n in wf.notices)
        assert life.strikes == [] or scenario in ("return_rejected", "every_deadline")
    finally:
        sim_db.dispose()
