"""The machinery of a work order: carrying out what the order rules decide.

The rules (hotline/domain/order_rules) change the order's state and yield effects; this class
turns each into Temporal commands in the order yielded: steps and notices into local-activity
writes, deadlines into `compute_deadlines`, waits into durable timers, strikes and referrals
into activities. `WorkOrderWorkflow` (workflows/work_order.py) adds the entry points.
"""
from __future__ import annotations

import asyncio
import dataclasses
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator, Callable, Generator

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

# Workflow code of our own is imported normally, so the SDK's sandbox (when on) checks it too;
# only deterministic libraries, the domain and activity references are passed through.
from workflows import search_attributes as sa
from workflows.timers import DeadlineTimers

with workflow.unsafe.imports_passed_through():
    from activities.deadlines import DeadlineActivities
    from activities.notify import NotifyActivities
    from activities.routing import RoutingActivities
    from activities.store import StoreActivities
    from activities.supervision import SupervisionActivities
    from hotline.domain import order_rules as rules
    from hotline.domain.contracts import (
        ActionAnswer,
        ActionWrite,
        DeadlineRequest,
        DeadlineResult,
        NotificationRequest,
        StepEntry,
        StepRecord,
        WorkOrderInput,
    )
    from hotline.domain.models import Stage

# Every activity is a short database write or computation; a lost worker is noticed this fast.
ACTIVITY_TIMEOUT = timedelta(seconds=10)
# Retry until the database or gateway is back: a step is never dropped during an outage.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=30))
WORKING = {Stage.signed, Stage.handling, Stage.reopened}  # the order's next deadline is its reply
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
LOCAL_ACTIVITIES = frozenset({StoreActivities.record_step, StoreActivities.record_action,
                              StoreActivities.sync_read_model, NotifyActivities.notify,
                              DeadlineActivities.compute_deadlines, RoutingActivities.recommend_return})
# Orders started from this release on write each action once: its steps, notices and read-model
# row in one local activity (`record_action`) when the action lets go of the order, instead of
# one local activity per step and per notice (16 on the happy path, now 8).
ONE_WRITE = "one-write-per-action"
# Orders whose input carries intake's deadlines (computed by the gateway, which answers the
# caller as soon as the start is persisted) take them instead of running `compute_deadlines`,
# and date intake at the input's `created_at`, the instant the gateway answered for: the
# first workflow task runs one local activity (the write), after the caller has the number.
GIVEN_DEADLINES = "intake-deadlines-from-start"


_UNSET = object()


def _reject(message: str, kind: str = "InvalidAction") -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)



class OrderCore:
    """State and helpers shared by the workflow's run loop, updates and timer follow-ups."""

    def _setup(self, inp: WorkOrderInput) -> None:
        self.inp = inp
        self.policy = inp.policy
        self.s = rules.new_order_state(inp.order_no, workflow.info().workflow_id, inp.intake, inp.owner,
                                       inp.created_at, inp.policy, inp.routing)
        self.timers = DeadlineTimers()
        self._lock = asyncio.Lock()  # one action at a time (SERIAL_LOCAL orders)
        self._serial = False  # decided in _begin, at the order's first workflow task
        self._one_write = False  # ONE_WRITE, decided in _begin too
        self._given: DeadlineResult | None = None  # GIVEN_DEADLINES: intake's, until intake takes them
        self._pending_steps: list[StepEntry] = []  # written with the action (ONE_WRITE)
        self._pending_notices: list[NotificationRequest] = []
        self.m = rules.OrderMemory()  # what the rules remember beyond the state
        self.c = rules.OrderContext(self.s, self.policy, workflow.now, self.m, serial=False, patched=workflow.patched)
        self._ready = False  # intake recorded and first dispatch notified
        self._published: dict[str, Any] = {}  # search attribute values last upserted
        self._memo: dict[str, Any] = {}  # memo values last upserted
        self._writes: list[str] = []  # tokens of local-activity writes not yet handed to a caller
        self._dirty = False  # attributes/memo to publish when the action lets go (SERIAL_LOCAL)

    @workflow.signal
    async def resync_read_model(self) -> None:
        """The read model's last write came from a workflow task that never committed
        (hotline/store/commits.py): write the order's state again, as it is. No audit step."""
        async with self._turn():
            await self._act(StoreActivities.sync_read_model, StepRecord(
                seq=self.c.seq, action="sync", by="system", at=self._now(), state=self.s, wft=self._wft()),
                "read model written again (a task had not committed)")

    # ------------------------------------------------------------------ helpers

    def _begin(self) -> None:
        """First thing the run does: fix, for the order's whole life, how it works."""
        self._serial = self.c.serial = workflow.patched(SERIAL_LOCAL)
        if self._serial:
            self.timers.guard = self._turn
            self._one_write = workflow.patched(ONE_WRITE)
            # asked only of orders that carry deadlines: the others' commands never depend on it
            if self._one_write and self.inp.deadlines is not None and workflow.patched(GIVEN_DEADLINES):
                self._given = self.inp.deadlines

    def _intake_at(self) -> datetime | None:
        """When intake happened: the gateway's instant when it gave the deadlines, else now."""
        return self.inp.created_at if self._given is not None else None

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
        write counts once that task is seen completed (hotline/store/commits.py). Regular activities
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
        wft = self._wft()
        assert wft is not None, "ONE_WRITE orders are serial orders: their writes are local activities"
        self._wrote(await self._act(StoreActivities.record_action, ActionWrite.model_construct(
            steps=steps, notices=notices, state=self.s, seq=self.c.seq, wft=wft), f"record {what}"))

    def _act(self, fn: Callable, arg, summary: str) -> Any:
        """An activity by its typed method (its name, argument and result types come with it)."""
        if self._serial and fn in LOCAL_ACTIVITIES:
            # No query ever reaches a worker (the namespace refuses queries, README "Known SDK
            # race"), which is what made local activities record unreplayable orders before.
            return workflow.execute_local_activity_method(fn, arg, start_to_close_timeout=ACTIVITY_TIMEOUT,
                                                          retry_policy=RETRY, summary=summary)
        return workflow.execute_activity_method(fn, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY,
                                                summary=summary)

    # ------------------------------------------------------------------ the rules' effects

    def _check(self, action: str, arg: Any) -> None:
        """An update's validator: the rules' check, its refusal as the update's failure."""
        c = self.c
        if self.s.stage == Stage.intake and self.inp.deadlines is not None:
            c = self._as_answered()
        try:
            rules.ACTIONS[action][0](c, arg)
        except rules.RuleRefused as exc:
            raise _reject(str(exc), exc.kind) from None

    def _as_answered(self) -> rules.OrderContext:
        """The order as intake answered it (GIVEN_DEADLINES), for an action that reaches the
        order in its first workflow task, before the run carried intake out: the caller was told
        the order is dispatched, so the action is checked against that order. Nothing is
        changed; the handler checks again once it holds the lock, after intake."""
        assert self.inp.deadlines is not None
        given = self.inp.deadlines.values
        c, _ = rules.dispatched_context(
            self.inp.order_no, workflow.info().workflow_id, self.inp.intake, self.inp.owner, self.inp.owner_reason,
            self.inp.routing, self.inp.created_at.astimezone(timezone.utc), self.policy, lambda items: given)
        return dataclasses.replace(c, now=self.c.now, serial=self.c.serial, patched=self.c.patched)

    def _at_once(self, at: datetime | None = None) -> rules.OrderContext:
        """The order's context with the time fixed: an action, and all it leads to (its steps,
        notices, strikes), happens at the instant its rule begins, however long the activities
        it waits on take; a deadline's follow-up, at the deadline, however late its timer's task
        runs (a worker down, the order's lock held). The simulator dates them the same way."""
        now = workflow.now() if at is None else at.astimezone(timezone.utc)
        return dataclasses.replace(self.c, now=lambda: now)

    async def _perform(self, action: str, arg: Any) -> ActionAnswer:
        """An update's body: under the order's lock, checked again, the rule carried out."""
        # An action that came with the order's first task runs after intake (the SDK starts
        # update handlers before the run): intake answered from the start let it in (`_check`).
        # Any other action finds intake done and goes on without yielding, as it always did.
        if not self._ready:
            await workflow.wait_condition(lambda: self._ready)
        async with self._exclusive(lambda x: self._check(action, x), arg):
            await self._drive(rules.ACTIONS[action][1](self._at_once(), arg))
            return await self._answer()

    async def _drive(self, rule: Generator) -> Any:
        """Carry out a rule's effects in the order it yields them (what each returns goes back in)."""
        result: Any = None
        while True:
            try:
                fx = rule.send(result)
            except StopIteration as stop:
                return stop.value
            result = await self._effect(fx)

    async def _follow_up(self, name: str, gen: int, args: tuple, at: datetime) -> None:
        await self._drive(rules.FOLLOW_UPS[name](self._at_once(at), gen, *args))

    async def _effect(self, fx: Any) -> Any:
        if isinstance(fx, rules.Step):
            await self._step(fx.record)
        elif isinstance(fx, rules.Notify):
            await self._notify(fx.notice, fx.body)
        elif isinstance(fx, rules.Arm):
            name, args, at = fx.follow_up, fx.args, fx.at
            self.timers.arm(fx.timer, at, fx.done, lambda gen: self._follow_up(name, gen, args, at), fx.summary)
        elif isinstance(fx, rules.Disarm):
            if fx.every:
                self.timers.disarm_all()
            for timer in fx.timers:
                self.timers.disarm(timer)
        elif isinstance(fx, rules.Deadlines):
            if self._given is not None:  # intake's, computed before the start (GIVEN_DEADLINES)
                given, self._given = self._given, None
                return given.values
            res: DeadlineResult = await self._act(
                DeadlineActivities.compute_deadlines, DeadlineRequest(policy=self.policy, items=fx.items,
                                                                      reload_calendar=fx.reload_calendar),
                fx.summary)
            return res.values
        elif isinstance(fx, rules.Recommend):
            return await self._act(RoutingActivities.recommend_return, fx.request, fx.summary)
        elif isinstance(fx, rules.SendStrike):
            await self._write()  # what led to the strike is written first, as before ONE_WRITE
            await self._act(SupervisionActivities.send_strike, fx.strike,
                            f"strike {fx.strike.kind} against {fx.strike.unit}")
        elif isinstance(fx, rules.Refer):
            await self._write()  # the step stands before the referral leaves the order
            await self._act(SupervisionActivities.flag_staff, fx.flag, f"staff referral of {fx.flag.staff}")
        elif isinstance(fx, rules.Publish):
            self._publish()
        else:  # a new kind of effect that this executor does not know yet
            raise TypeError(f"unknown effect {fx!r}")
        return None

    async def _step(self, rec: Any) -> None:
        self._publish()
        if self._one_write:
            self._pending_steps.append(StepEntry.model_construct(seq=rec.seq, action=rec.action, by=rec.by,
                                                                 at=rec.at, detail=rec.detail))
            return
        self._wrote(await self._act(StoreActivities.record_step,
                                    StepRecord(seq=rec.seq, action=rec.action, by=rec.by, at=rec.at,
                                               detail=rec.detail, state=self.s, wft=self._wft()),
                                    f"record {rec.action} by {rec.by}"))

    async def _notify(self, notice: Any, body: dict[str, Any]) -> None:
        req = dict(key=notice.key, order_no=self.s.order_no, kind=notice.kind, to=notice.to, subject=notice.reason,
                   body=body, petitioner_phone=rules.phone_of(self.s, notice.to))
        if self._one_write:
            self._pending_notices.append(NotificationRequest(**req))
            return
        self._wrote(await self._act(NotifyActivities.notify, NotificationRequest(
            **req, **({"state": self.s, "seq": self.c.seq, "wft": self._wft()} if self._serial else {}),
        ), f"{notice.kind} to {notice.to}: {notice.reason}"))

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
        updates: list[SearchAttributeUpdate[Any]] = [
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
