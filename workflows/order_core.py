"""The machinery of a work order: steps, deadlines, notices and the timers' follow-ups.

`WorkOrderWorkflow` (workflows/work_order.py) adds the entry points: run, query and updates.
"""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, AsyncIterator, Callable

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from hotline.actor import ActorError, parse_actor
    from hotline.contracts import (
        ActionAnswer, ActionWrite, DeadlineItem, DeadlineRequest, DeadlineResult, NotificationRequest, StepEntry,
        StepRecord, Strike, WorkOrderInput,
    )
    from hotline.models import ActionRecord, Notice, OrderState, PetitionerView, Stage
    from workflows import search_attributes as sa
    from workflows.timers import DeadlineTimers

# Every activity is a short database write or computation; a lost worker is noticed this fast.
ACTIVITY_TIMEOUT = timedelta(seconds=10)
# Retry until the database or gateway is back: a step is never dropped during an outage.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=30))
WORKING = {Stage.signed, Stage.handling, Stage.reopened}
# Orders started from this release on upsert only the search attributes that changed (an
# event and a visibility write saved on most steps). Orders started before it replay the old way.
CHANGED_ATTRIBUTES_ONLY = "upsert-changed-attributes"
# Orders started from this release on take one action at a time (a workflow-wide lock held by
# every update handler and deadline follow-up, the transition re-checked once it is held) and
# run their short database and computation activities as local activities. Decided once, at the
# order's first workflow task, so an order started before keeps its commands for its whole life.
SERIAL_LOCAL = "serial-local-activities"
# Short activities that touch only our own database or compute: local when SERIAL_LOCAL holds.
# Anything that calls another service (strikes and staff flags signal the supervision
# workflow) stays a regular activity with its own task and retries.
LOCAL_ACTIVITIES = frozenset({"record_step", "notify", "compute_deadlines", "recommend_return", "sync_read_model",
                              "record_action"})
# Orders started from this release on write each action once: its steps, notices and read-model
# row in one local activity (`record_action`) when the action lets go of the order, instead of
# one local activity per step and per notice (16 on the happy path, now 8).
ONE_WRITE = "one-write-per-action"


_UNSET = object()


def _reject(message: str, kind: str = "InvalidAction") -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def is_admin(by: str) -> bool:
    """A named admin ("admin:<name>") or the hotline office, by the actor's kind: never by how the
    text begins ("administrator-spoof" is no actor at all)."""
    try:
        return parse_actor(by).is_admin
    except ActorError:
        return False


class OrderCore:
    """State and helpers shared by the workflow's run loop, updates and timer follow-ups."""

    def _setup(self, inp: WorkOrderInput) -> None:
        self.inp = inp
        self.policy = inp.policy
        req = inp.intake
        self.s = OrderState(
            order_no=inp.order_no, workflow_id=workflow.info().workflow_id, stage=Stage.intake,
            owner=inp.owner, category=req.category, urgency=req.urgency, channel=req.channel,
            title=req.title, description=req.description,
            petitioner=PetitionerView(name=req.petitioner.name, phone=req.petitioner.phone),
            location=req.location, created_at=inp.created_at, routing=inp.routing,
            policy=f"{inp.policy.name}@{inp.policy.version}",
        )
        self.timers = DeadlineTimers()
        self._lock = asyncio.Lock()  # one action at a time (SERIAL_LOCAL orders)
        self._serial = False  # decided in _begin, at the order's first workflow task
        self._one_write = False  # ONE_WRITE, decided in _begin too
        self._pending_steps: list[StepEntry] = []  # written with the action (ONE_WRITE)
        self._pending_notices: list[NotificationRequest] = []
        self._seq = 0
        self._stage_before_return: Stage | None = None
        self._coordination_open = True
        self._ready = False  # intake recorded and first dispatch notified
        self._published: dict[str, Any] = {}  # search attribute values last upserted
        self._memo: dict[str, Any] = {}  # memo values last upserted
        self._writes: list[str] = []  # tokens of local-activity writes not yet handed to a caller
        self._dirty = False  # attributes/memo to publish when the action lets go (SERIAL_LOCAL)
        self._recipes: dict[str, list[DeadlineItem]] = {}  # how each deadline was computed (calendar_follow)

    @workflow.signal
    async def resync_read_model(self) -> None:
        """The read model's last write came from a workflow task that never committed
        (hotline/commits.py): write the order's state again, as it is. No audit step."""
        async with self._turn():
            await self._act("sync_read_model", StepRecord(
                seq=self._seq, action="sync", by="system", at=self._now(), state=self.s, wft=self._wft()),
                "read model written again (a task had not committed)")

    # ------------------------------------------------------------------ helpers

    def _begin(self) -> None:
        """First thing the run does: fix, for the order's whole life, how it works."""
        self._serial = workflow.patched(SERIAL_LOCAL)
        if self._serial:
            self.timers.guard = self._turn
            self._one_write = workflow.patched(ONE_WRITE)

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """The order's lock, held for one action or follow-up; what it changed in the search
        attributes and memo is published once, as it lets go (one upsert each per action, not
        one per step: fewer events and visibility writes)."""
        async with self._lock:
            try:
                yield
                await self._write()
            finally:
                self._flush()

    @asynccontextmanager
    async def _exclusive(self, validate: Callable[[Any], None], arg: Any) -> AsyncIterator[None]:
        """Hold the order's lock for a whole action, and check its transition again once held.

        The validator admitted the action against the state it saw; another action or a
        deadline follow-up may have changed the order while this one waited for its turn (two
        clerks clicking at the same moment). The loser gets the validator's own refusal.
        """
        if not self._serial:  # orders started before SERIAL_LOCAL keep their old commands
            yield
            return
        async with self._turn():
            validate(arg)
            yield

    def _now(self) -> datetime:
        return workflow.now()

    def _wft(self) -> int | None:
        """The workflow task a local activity's write belongs to (its started event id): the
        write counts once that task is seen completed (hotline/commits.py). Regular activities
        run only after their task committed: None."""
        return workflow.info().get_current_history_length() if self._serial else None

    async def _write(self) -> None:
        """Write what the action did so far, in one local activity (ONE_WRITE orders): before
        an activity that acts outside the order (a strike, a staff referral), before answering,
        and when the action lets go of the order."""
        if not (self._pending_steps or self._pending_notices):
            return
        steps, self._pending_steps = self._pending_steps, []
        notices, self._pending_notices = self._pending_notices, []
        # as the UI's event history shows it: "record contact by ZJJ; contact to petitioner"
        what = "; ".join([", ".join(f"{e.action} by {e.by}" for e in steps)] * bool(steps)
                         + [f"{n.kind} to {n.to}" for n in notices])
        self._wrote(await self._act("record_action", ActionWrite.model_construct(
            steps=steps, notices=notices, state=self.s, seq=self._seq, wft=self._wft()), f"record {what}"))

    def _act(self, fn: str, arg, summary: str, result_type=None) -> Any:
        if self._serial and fn in LOCAL_ACTIVITIES:
            # No query ever reaches a worker (the namespace refuses queries, README "Known SDK
            # race"), which is what made local activities record unreplayable orders before.
            return workflow.execute_local_activity(fn, arg, start_to_close_timeout=ACTIVITY_TIMEOUT,
                                                   retry_policy=RETRY, summary=summary, result_type=result_type)
        return workflow.execute_activity(fn, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY,
                                         summary=summary, result_type=result_type)

    async def _step(self, action: str, by: str, detail: dict[str, Any] | None = None) -> None:
        self._seq += 1
        rec = ActionRecord(seq=self._seq, action=action, by=by, at=self._now(), detail=detail or {})
        self.s.actions.append(rec)
        self._publish()
        if self._one_write:
            self._pending_steps.append(StepEntry.model_construct(seq=rec.seq, action=action, by=by, at=rec.at,
                                                                 detail=rec.detail))
            return
        self._wrote(await self._act("record_step", StepRecord(seq=rec.seq, action=action, by=by, at=rec.at,
                                                              detail=rec.detail, state=self.s, wft=self._wft()),
                                    f"record {action} by {by}"))

    def _wrote(self, result: Any) -> None:
        if isinstance(result, str) and result.startswith("tok:"):
            self._writes.append(result)

    async def _answer(self) -> ActionAnswer:
        """An action's answer, once what it did is written (ONE_WRITE): see `_answer_now`."""
        await self._write()
        return self._answer_now()

    def _answer_now(self) -> ActionAnswer:
        """An update's answer: the order, and the writes made so far that no answer carried yet
        (all of them belong to tasks that will have committed when the answer arrives)."""
        writes, self._writes = self._writes, []
        return ActionAnswer.model_construct(state=self.s, writes=writes)

    def _publish(self) -> None:
        """Keep search attributes, memo and current details in step with the state (SERIAL_LOCAL
        orders: the attributes and memo when the action lets go of the lock, `_flush`)."""
        upcoming = self._next_deadline()
        workflow.set_current_details(
            f"**{self.s.order_no}** stage `{self.s.stage.value}`, owner `{self.s.owner}`"
            + (f", co-handlers {', '.join(c.unit for c in self.s.co_handlers)}" if self.s.co_handlers else "")
            + (f"\n\nnext deadline: {upcoming[0]} at {upcoming[1].isoformat()}" if upcoming else "")
            + ("\n\n**OVERDUE** (督办)" if self.s.overdue else "")
            + (f"\n\nnotices so far: {len(self.s.notices)}" if self.s.notices else "")
        )
        if self._serial:
            self._dirty = True
        else:
            self._upsert_attributes()

    def _flush(self) -> None:
        if self._serial and self._dirty:
            self._dirty = False
            self._upsert_attributes()
            self._publish_memo(self._next_deadline())

    def _upsert_attributes(self) -> None:
        d = self.s.deadlines
        due = d.reply_by if self.s.stage not in (Stage.callback, Stage.closed) else d.answer_by
        updates = [
            sa.STAGE.value_set(self.s.stage.value), sa.OWNER.value_set(self.s.owner),
            sa.OVERDUE.value_set(self.s.overdue), sa.RETURN_COUNT.value_set(self.s.return_count),
        ]
        updates.append(sa.DUE_AT.value_set(due) if due else sa.DUE_AT.value_unset())
        if workflow.patched(CHANGED_ATTRIBUTES_ONLY):
            updates = [u for u in updates if self._published.get(u.key.name, _UNSET) != u.value]
            self._published.update((u.key.name, u.value) for u in updates)
        if self.inp.search_attributes and updates:
            workflow.upsert_search_attributes(updates)

    def _next_deadline(self) -> tuple[str, datetime] | None:
        """The next deadline the order is waiting on in its stage (not one already met)."""
        s, d = self.s, self.s.deadlines
        if s.stage == Stage.dispatched:
            names = ["sign_by", "reply_by"]
        elif s.stage in WORKING:  # the coordination window is an option, not an obligation
            names = ([] if s.contacted_at else ["contact_by"]) + ["reply_by", "escalate_at"]
        elif s.stage in (Stage.replied, Stage.callback):
            names = ["callback_by", "answer_by"]
        else:  # return_review waits on the hotline office, closed on nothing
            names = []
        now = self._now()
        due = [(n, getattr(d, n)) for n in names if getattr(d, n) is not None and getattr(d, n) > now]
        return min(due, key=lambda kv: kv[1]) if due else None

    def _publish_memo(self, upcoming: tuple[str, datetime] | None) -> None:
        """What an admin needs in the Temporal UI without querying the order (no personal data):
        the UI reads the memo from the server; a query would have to reach the worker.

        A memo upsert is a command issued only when a value changed: changing what the memo
        holds (or `_next_deadline`) changes commands, so it goes behind a patch."""
        memo = {"stage": self.s.stage.value, "owner": self.s.owner,
                "co_handlers": [c.unit for c in self.s.co_handlers], "overdue": self.s.overdue,
                "next_deadline": upcoming[0] if upcoming else None,
                "next_deadline_at": upcoming[1].isoformat() if upcoming else None,
                "provisional": list(self.s.deadlines.provisional)}
        changed = {k: v for k, v in memo.items() if self._memo.get(k, _UNSET) != v}
        if changed:
            self._memo.update(changed)
            workflow.upsert_memo(changed)

    async def _deadlines(self, items: list[DeadlineItem], summary: str) -> dict[str, datetime]:
        res: DeadlineResult = await self._act("compute_deadlines",
                                              DeadlineRequest(policy=self.policy, items=items),
                                              summary, result_type=DeadlineResult)
        self._remember(items)
        out = {}
        for name, v in res.values.items():
            out[name] = v.at
            prov = self.s.deadlines.provisional
            if v.provisional and name not in prov:
                prov.append(name)
            elif not v.provisional and name in prov:
                prov.remove(name)
        return out

    async def _notify(self, kind: str, to: str, subject: str, fact: str, **body: Any) -> None:
        key = f"{self.s.order_no}:{kind}:{to}:{fact}"
        self.s.notices.append(Notice(kind=kind, at=self._now(), to=to, reason=subject, key=key))
        if self._one_write:
            self._pending_notices.append(NotificationRequest(
                key=key, order_no=self.s.order_no, kind=kind, to=to, subject=subject, body=body,
                petitioner_phone=self._phone_of(to)))
            return
        self._wrote(await self._act("notify", NotificationRequest(
            key=key, order_no=self.s.order_no, kind=kind, to=to, subject=subject, body=body,
            petitioner_phone=self._phone_of(to),
            **({"state": self.s, "seq": self._seq, "wft": self._wft()} if self._serial else {}),
        ), f"{kind} to {to}: {subject}"))

    async def _strike(self, kind: str, unit: str, fact: str, reason: str, provisional: bool = False) -> None:
        strike = Strike(key=f"{self.s.order_no}:{kind}:{unit}:{fact}", unit=unit, kind=kind,
                        order_no=self.s.order_no, at=self._now(), reason=reason, provisional=provisional)
        await self._write()  # what led to the strike is written first, as before ONE_WRITE
        await self._act("send_strike", strike, f"strike {kind} against {unit}")
        await self._step("strike", "system", {"unit": unit, "kind": kind, "reason": reason})

    # ------------------------------------------------------------------ dispatch and deadlines

    async def _dispatch(self, action: str, detail: dict[str, Any]) -> None:
        now = self._now()
        p, s = self.policy, self.s
        urgency = s.urgency.value
        handling = p.handling_limit(s.category.value, urgency)
        d = await self._deadlines([
            DeadlineItem(name="sign_by", start=now, limit=str(p.sign_limit(urgency))),
            DeadlineItem(name="reply_by", start=now, limit=str(handling)),
            DeadlineItem(name="remind_at", start=now, limit=str(handling), fraction=p.reminder_fraction),
            DeadlineItem(name="return_until", start=now, limit=str(p.return_window_for(urgency))),
        ], f"deadlines for dispatch to {s.owner}")
        s.stage, s.dispatched_at = Stage.dispatched, now
        s.signed_at = s.contacted_at = None
        s.signed_late, s.overdue, s.co_handlers = None, False, []
        s.deadlines.contact_by = s.deadlines.coordinate_by = s.deadlines.escalate_at = None
        for k, v in d.items():
            setattr(s.deadlines, k, v)
        self._coordination_open = True
        owner = s.owner
        self.timers.arm("sign", d["sign_by"], lambda: s.signed_at is not None or s.owner != owner,
                        self._sign_missed, f"sign-for deadline (签收时限) of {owner}")
        self._arm_handling(d["remind_at"], d["reply_by"])
        await self._step(action, "hotline", {"owner": owner, **detail})
        await self._notify("dispatch", owner, f"new work order {s.order_no}: {s.title}",
                           f"{action}{self._seq}", sign_by=d["sign_by"].isoformat(),
                           reply_by=d["reply_by"].isoformat())

    def _arm_handling(self, remind_at: datetime, reply_by: datetime) -> None:
        s = self.s
        replied = lambda: s.stage in (Stage.replied, Stage.callback, Stage.closed)  # noqa: E731
        self.timers.arm("reminder", remind_at, replied, self._remind, f"reminder (催办) to {s.owner}")
        self.timers.arm("supervision", reply_by, replied, self._supervise,
                        f"handling deadline (办理时限) of {s.owner}")
        self.timers.disarm("escalation")

    async def _sign_missed(self, gen: int) -> None:
        s = self.s
        await self._notify("reminder", s.owner, f"sign for order {s.order_no} (签收超时)", f"sign{gen}")
        await self._notify("supervision", s.owner, f"sign-for deadline missed on {s.order_no}",
                           f"sign{gen}", cc="HOTLINE")
        await self._step("sign-overdue", "system", {"owner": s.owner})

    async def _remind(self, gen: int) -> None:
        s = self.s
        await self._notify("reminder", s.owner, f"order {s.order_no} is due at "
                           f"{s.deadlines.reply_by.isoformat()} (催办)", f"handling{gen}")
        await self._step("reminder", "system", {"owner": s.owner})

    async def _supervise(self, gen: int) -> None:
        s = self.s
        s.overdue = True
        never_signed = s.signed_at is None  # judged at the deadline, not after the notices below
        guessed = "reply_by" in s.deadlines.provisional  # a deadline on a guessed calendar: held
        await self._notify("supervision", s.owner, f"order {s.order_no} missed its handling deadline (督办)",
                           f"handling{gen}", cc="HOTLINE")
        if not self._serial:
            await self._step("supervision", "system", {"owner": s.owner})
        # Before this patch the check ran after the two activities, so a unit signing in that
        # gap escaped the strike; orders already past this point replay the old way.
        if workflow.patched("strike-at-fire-time"):
            strike = never_signed
        else:
            strike = s.signed_at is None
        if strike:  # never signed before the handling deadline: a refusal strike
            await self._strike("never_signed", s.owner, f"handling{gen}",
                               "sign-for never done before the handling deadline", provisional=guessed)
        d = await self._deadlines([DeadlineItem(name="escalate_at", start=self._now(),
                                                limit=str(self.policy.overdue_escalation))],
                                  "escalation deadline after supervision")
        s.deadlines.escalate_at = d["escalate_at"]
        if self._serial:  # recorded once the escalation deadline is known, so the read model has it
            await self._step("supervision", "system", {"owner": s.owner, "escalate_at": d["escalate_at"].isoformat()})
        else:
            self._publish()
        self.timers.arm("escalation", d["escalate_at"],
                        lambda: s.stage in (Stage.replied, Stage.callback, Stage.closed),
                        self._escalate, f"still unreplied after supervision: escalate {s.owner}")

    async def _escalate(self, gen: int) -> None:
        s = self.s
        await self._notify("escalation", s.owner, f"order {s.order_no} still unreplied after supervision",
                           f"escalation{gen}", cc="HOTLINE")
        guessed = bool({"reply_by", "escalate_at"} & set(s.deadlines.provisional))
        await self._strike("overdue", s.owner, f"escalation{gen}",
                           f"still unreplied {self.policy.overdue_escalation} after the supervision notice",
                           provisional=guessed)
