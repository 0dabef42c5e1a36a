"""Dispatch, signing, first contact and co-handling (联办), and the follow-ups of their deadlines
(SPEC §3-§5): what happens, in what order, when an action is taken or a deadline passes."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from hotline.domain.contracts import DeadlineItem
from hotline.domain.models import (
    CoHandlerDoneAction,
    CoHandlerState,
    ContactAction,
    CoordinationPlanAction,
    IntakeRequest,
    OrderState,
    PetitionerView,
    SignAction,
    Stage,
)
from hotline.domain.order_rules.basics import arm, arm_handling, deadlines, disarm, notify, step, strike
from hotline.domain.order_rules.effects import Arm, OrderContext, Publish, Rule
from hotline.domain.order_rules.kinds import NoticeKind, StepKind
from hotline.domain.policy import Policy

# Before this change the never-signed check ran after the supervision notices, so a unit signing
# in that gap escaped the strike; orders already past that point replay the old way.
STRIKE_AT_FIRE_TIME = "strike-at-fire-time"


def new_order_state(order_no: str, workflow_id: str, req: IntakeRequest, owner: str, created_at: datetime,
                    policy: Policy, routing: list[dict] | None = None) -> OrderState:
    """An order as it is received (受理), before its first step."""
    return OrderState(
        order_no=order_no, workflow_id=workflow_id, stage=Stage.intake, owner=owner, category=req.category,
        urgency=req.urgency, channel=req.channel, title=req.title, description=req.description,
        petitioner=PetitionerView(name=req.petitioner.name, phone=req.petitioner.phone), location=req.location,
        created_at=created_at, routing=routing or [], policy=f"{policy.name}@{policy.version}")


def intake(c: OrderContext, owner_reason: str) -> Rule:
    s = c.s
    yield from step(c, StepKind.INTAKE, "hotline", {"channel": s.channel.value, "category": s.category.value,
                                             "urgency": s.urgency.value})
    yield from dispatch(c, StepKind.DISPATCH, {"reason": owner_reason})


def dispatch(c: OrderContext, action: str, detail: dict[str, Any]) -> Rule:
    """To the owner (first dispatch, or after an approved return): fresh deadlines, fresh timers."""
    now, p, s = c.now(), c.policy, c.s
    urgency = s.urgency.value
    handling = p.handling_limit(s.category.value, urgency)
    d = yield from deadlines(c, [
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
    c.m.coordination_open = True
    owner = s.owner
    yield from arm(c, "sign_by", d["sign_by"])
    yield from arm_handling(c, d["remind_at"], d["reply_by"])
    yield from step(c, action, "hotline", {"owner": owner, **detail})
    yield from notify(c, NoticeKind.DISPATCH, owner, f"new work order {s.order_no}: {s.title}", f"{action}{c.seq}",
                      sign_by=d["sign_by"].isoformat(), reply_by=d["reply_by"].isoformat())


def sign_missed(c: OrderContext, gen: int) -> Rule:
    s = c.s
    yield from notify(c, NoticeKind.REMINDER, s.owner, f"sign for order {s.order_no} (签收超时)", f"sign{gen}")
    yield from notify(c, NoticeKind.SUPERVISION, s.owner, f"sign-for deadline missed on {s.order_no}", f"sign{gen}",
                      cc="HOTLINE")
    yield from step(c, StepKind.SIGN_OVERDUE, "system", {"owner": s.owner})


def remind(c: OrderContext, gen: int) -> Rule:
    s = c.s
    reply_by = s.deadlines.reply_by
    assert reply_by is not None, "the reminder is armed with the handling deadline, at dispatch"
    yield from notify(c, NoticeKind.REMINDER, s.owner, f"order {s.order_no} is due at "
                      f"{reply_by.isoformat()} (催办)", f"handling{gen}")
    yield from step(c, StepKind.REMINDER, "system", {"owner": s.owner})


def supervise(c: OrderContext, gen: int) -> Rule:
    """The handling deadline passed unreplied: supervision (督办); never signed is a refusal strike."""
    s = c.s
    s.overdue = True
    never_signed = s.signed_at is None  # judged at the deadline, not after the notices below
    guessed = "reply_by" in s.deadlines.provisional  # a deadline on a guessed calendar: held
    yield from notify(c, NoticeKind.SUPERVISION, s.owner, f"order {s.order_no} missed its handling deadline (督办)",
                      f"handling{gen}", cc="HOTLINE")
    if not c.serial:
        yield from step(c, StepKind.SUPERVISION, "system", {"owner": s.owner})
    if never_signed if c.patched(STRIKE_AT_FIRE_TIME) else s.signed_at is None:
        yield from strike(c, "never_signed", s.owner, f"handling{gen}",
                          "sign-for never done before the handling deadline", provisional=guessed)
    d = yield from deadlines(c, [DeadlineItem(name="escalate_at", start=c.now(),
                                              limit=str(c.policy.overdue_escalation))],
                             "escalation deadline after supervision")
    s.deadlines.escalate_at = d["escalate_at"]
    if c.serial:  # recorded once the escalation deadline is known, so the read model has it
        yield from step(c, StepKind.SUPERVISION, "system",
                        {"owner": s.owner, "escalate_at": d["escalate_at"].isoformat()})
    else:
        yield Publish()
    yield from arm(c, "escalate_at", d["escalate_at"])


def escalate(c: OrderContext, gen: int) -> Rule:
    s = c.s
    yield from notify(c, NoticeKind.ESCALATION, s.owner, f"order {s.order_no} still unreplied after supervision",
                      f"escalation{gen}", cc="HOTLINE")
    guessed = bool({"reply_by", "escalate_at"} & set(s.deadlines.provisional))
    yield from strike(c, "overdue", s.owner, f"escalation{gen}",
                      f"still unreplied {c.policy.overdue_escalation} after the supervision notice",
                      provisional=guessed)


# ---------------------------------------------------------------- sign, contact

def sign(c: OrderContext, a: SignAction) -> Rule:
    s, p = c.s, c.policy
    s.stage, s.signed_at = Stage.signed, c.now()
    s.signed_late = bool(s.deadlines.sign_by and s.signed_at > s.deadlines.sign_by)
    d = yield from deadlines(c, [
        DeadlineItem(name="contact_by", start=s.signed_at, limit=str(p.contact_limit(s.urgency.value))),
        DeadlineItem(name="coordinate_by", start=s.signed_at, limit=str(p.coordination_plan)),
    ], "contact and coordination deadlines after signing")
    s.deadlines.contact_by, s.deadlines.coordinate_by = d["contact_by"], d["coordinate_by"]
    yield from arm(c, "contact_by", d["contact_by"])
    yield from arm(c, "coordinate_by", d["coordinate_by"])
    yield from step(c, StepKind.SIGN, a.by, {"late": s.signed_late})


def contact_missed(c: OrderContext, gen: int) -> Rule:
    s = c.s
    yield from notify(c, NoticeKind.SUPERVISION, s.owner, f"petitioner of {s.order_no} not contacted in time",
                      f"contact{gen}", cc="HOTLINE")
    yield from step(c, StepKind.CONTACT_OVERDUE, "system", {"owner": s.owner})


def coordination_closed(c: OrderContext, gen: int) -> Rule:
    c.m.coordination_open = False
    yield from step(c, StepKind.COORDINATION_WINDOW_CLOSED, "system", {"owner": c.s.owner})


def contact(c: OrderContext, a: ContactAction) -> Rule:
    s = c.s
    s.contacted_at, s.stage = c.now(), Stage.handling if s.stage == Stage.signed else s.stage
    yield from step(c, StepKind.CONTACT, a.by, {"note": a.note})
    yield from notify(c, NoticeKind.CONTACT, "petitioner", f"您的工单{s.order_no}已由承办单位受理并联系您",
                      f"contact{c.seq}", note=a.note)
    for co in list(s.co_petitioners):  # told that the unit is on it; the note was for another
        yield from notify(c, NoticeKind.CONTACT, f"petitioner:{co.request_no}",
                          f"您反映的问题（{co.request_no}）已并入工单{s.order_no}，承办单位已受理办理",
                          f"contact{c.seq}")


# ---------------------------------------------------------------- co-handling (联办)

def co_handler(c: OrderContext, unit: str) -> CoHandlerState:
    return next(x for x in c.s.co_handlers if x.unit == unit)


def coordination_plan(c: OrderContext, a: CoordinationPlanAction) -> Rule:
    s = c.s
    s.co_handlers = [CoHandlerState(unit=x.unit, task=x.task, due=x.due) for x in a.co_handlers]
    yield from step(c, StepKind.COORDINATION_PLAN, a.by, {"plan": a.plan, "co_handlers": [
        {"unit": x.unit, "task": x.task, "due": x.due.isoformat()} for x in a.co_handlers]})
    for co in s.co_handlers:
        unit = co.unit

        def settled(u: str = unit) -> bool:
            return co_handler(c, u).done or s.stage == Stage.closed

        yield Arm(f"co:{unit}", co.due, settled, "co_missed", f"co-handler {unit} promised by", (unit,))
        yield from notify(c, NoticeKind.CO_HANDLING, unit, f"co-handle order {s.order_no} for {s.owner}: {co.task}",
                          f"plan{c.seq}", due=co.due.isoformat(), owner=s.owner)


def co_missed(c: OrderContext, gen: int, unit: str) -> Rule:
    co = co_handler(c, unit)
    co.supervised = True
    yield from notify(c, NoticeKind.SUPERVISION, unit, f"co-handling task on {c.s.order_no} missed its promise",
                      f"co{gen}", owner=c.s.owner)
    yield from notify(c, NoticeKind.CO_HANDLER_OVERDUE, c.s.owner, f"co-handler {unit} missed its promise",
                      f"co:{unit}:{gen}")
    yield from step(c, StepKind.CO_HANDLER_OVERDUE, "system", {"unit": unit})


def co_handler_done(c: OrderContext, a: CoHandlerDoneAction) -> Rule:
    co = co_handler(c, a.by)
    co.done, co.done_at = True, c.now()
    yield from step(c, StepKind.CO_HANDLER_DONE, a.by, {"note": a.note, "late": co.done_at > co.due})
    yield from notify(c, NoticeKind.CO_HANDLER_DONE, c.s.owner, f"{a.by} reports its task done", f"done{c.seq}",
                      note=a.note)


def stop_handling_timers() -> Rule:
    """A reply ends the waits of the handling stage."""
    yield from disarm("reminder", "supervision", "escalation", "contact", "coordination")

