"""The machinery of a work order: steps, deadlines, notices and the timers' follow-ups.

`WorkOrderWorkflow` (workflows/work_order.py) adds the entry points: run, query and updates.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from hotline import transitions
    from hotline.contracts import (
        DeadlineItem, DeadlineRequest, DeadlineResult, NotificationRequest, StaffFlag, StepRecord,
        Strike, WorkOrderInput, ReturnRecommendation, ReturnRecommendationRequest,
    )
    from hotline.models import (
        ActionRecord, CallbackAction, CallbackResult, CoHandlerDoneAction, CoHandlerState,
        ContactAction, CoordinationPlanAction, ExtensionRequestAction, ExtensionReviewAction,
        FlagStaffAction, Notice, OrderState, PendingRequest, PetitionerView, ReplyAction,
        ReturnRequestAction, ReturnReviewAction, ReviewDecision, Satisfaction, SignAction, Stage,
        Urgency,
    )
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


_UNSET = object()


def _reject(message: str, kind: str = "InvalidAction") -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def is_admin(by: str) -> bool:
    return by == "HOTLINE" or by.startswith("admin")


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
        self._seq = 0
        self._stage_before_return: Stage | None = None
        self._coordination_open = True
        self._ready = False  # intake recorded and first dispatch notified
        self._published: dict[str, Any] = {}  # search attribute values last upserted

    # ------------------------------------------------------------------ helpers

    def _now(self) -> datetime:
        return workflow.now()

    def _act(self, fn, arg, summary: str, result_type=None) -> Any:
        # Regular activities, not local ones: with local activities a timer's follow-up and an
        # update handled in the same workflow task were recorded in an order temporalio 1.35
        # does not replay, in every fault run (bench/RESULTS.md, "local activities").
        return workflow.execute_activity(fn, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY,
                                         summary=summary, result_type=result_type)

    async def _step(self, action: str, by: str, detail: dict[str, Any] | None = None) -> None:
        self._seq += 1
        rec = ActionRecord(seq=self._seq, action=action, by=by, at=self._now(), detail=detail or {})
        self.s.actions.append(rec)
        self._publish()
        await self._act("record_step", StepRecord(seq=rec.seq, action=action, by=by, at=rec.at,
                                                  detail=rec.detail, state=self.s),
                        f"record {action} by {by}")

    def _publish(self) -> None:
        """Keep search attributes and current details in step with the state."""
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
        nxt = {k: v for k, v in d.model_dump().items() if isinstance(v, datetime) and v > self._now()}
        upcoming = min(nxt.items(), key=lambda kv: kv[1]) if nxt else None
        workflow.set_current_details(
            f"**{self.s.order_no}** stage `{self.s.stage.value}`, owner `{self.s.owner}`"
            + (f", co-handlers {', '.join(c.unit for c in self.s.co_handlers)}" if self.s.co_handlers else "")
            + (f"\n\nnext deadline: {upcoming[0]} at {upcoming[1].isoformat()}" if upcoming else "")
            + ("\n\n**OVERDUE** (督办)" if self.s.overdue else "")
            + (f"\n\nnotices so far: {len(self.s.notices)}" if self.s.notices else "")
        )

    async def _deadlines(self, items: list[DeadlineItem], summary: str) -> dict[str, datetime]:
        res: DeadlineResult = await self._act("compute_deadlines",
                                              DeadlineRequest(policy=self.policy, items=items),
                                              summary, result_type=DeadlineResult)
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
        await self._act("notify", NotificationRequest(
            key=key, order_no=self.s.order_no, kind=kind, to=to, subject=subject, body=body,
            petitioner_phone=self.s.petitioner.phone if to == "petitioner" else None,
        ), f"{kind} to {to}: {subject}")

    async def _strike(self, kind: str, unit: str, fact: str, reason: str) -> None:
        strike = Strike(key=f"{self.s.order_no}:{kind}:{unit}:{fact}", unit=unit, kind=kind,
                        order_no=self.s.order_no, at=self._now(), reason=reason)
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
        await self._notify("supervision", s.owner, f"order {s.order_no} missed its handling deadline (督办)",
                           f"handling{gen}", cc="HOTLINE")
        await self._step("supervision", "system", {"owner": s.owner})
        # Before this patch the check ran after the two activities, so a unit signing in that
        # gap escaped the strike; orders already past this point replay the old way.
        if workflow.patched("strike-at-fire-time"):
            strike = never_signed
        else:
            strike = s.signed_at is None
        if strike:  # never signed before the handling deadline: a refusal strike
            await self._strike("never_signed", s.owner, f"handling{gen}",
                               "sign-for never done before the handling deadline")
        d = await self._deadlines([DeadlineItem(name="escalate_at", start=self._now(),
                                                limit=str(self.policy.overdue_escalation))],
                                  "escalation deadline after supervision")
        s.deadlines.escalate_at = d["escalate_at"]
        self._publish()
        self.timers.arm("escalation", d["escalate_at"],
                        lambda: s.stage in (Stage.replied, Stage.callback, Stage.closed),
                        self._escalate, f"still unreplied after supervision: escalate {s.owner}")

    async def _escalate(self, gen: int) -> None:
        s = self.s
        await self._notify("escalation", s.owner, f"order {s.order_no} still unreplied after supervision",
                           f"escalation{gen}", cc="HOTLINE")
        await self._strike("overdue", s.owner, f"escalation{gen}",
                           f"still unreplied {self.policy.overdue_escalation} after the supervision notice")
