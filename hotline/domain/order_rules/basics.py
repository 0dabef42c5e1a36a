"""The small moves every rule is made of: a step, a notice, deadlines, a strike, a timer.

Each is a generator used with `yield from`, so the effect it yields lands in the rule's
sequence exactly where the rule calls it.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from hotline.domain.contracts import DeadlineItem, DeadlineValue, Strike
from hotline.domain.models import ActionRecord, Notice, OrderState, Stage
from hotline.domain.order_rules.effects import Arm, Deadlines, Disarm, Notify, OrderContext, Rule, SendStrike, Step
from hotline.domain.order_rules.kinds import StepKind

ANSWERED_STAGES = (Stage.replied, Stage.callback, Stage.closed)


def fast_model(cls, **values):
    """A pydantic model from values that are already valid (the rules' own records): what
    `model_construct` does without its per-field default handling (~10 µs a call, twenty calls
    an order, a two-year simulation of them)."""
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


def step(c: OrderContext, action: str, by: str, detail: dict[str, Any] | None = None) -> Rule:
    rec = fast_model(ActionRecord, seq=c.seq + 1, action=action, by=by, at=c.now(), detail=detail or {})
    c.s.actions.append(rec)
    yield Step(rec)


def notify(c: OrderContext, kind: str, to: str, subject: str, fact: str, **body: Any) -> Rule:
    """A notice, once per fact: its key is the order, kind, recipient and the fact it is about."""
    notice = fast_model(Notice, kind=kind, at=c.now(), to=to, reason=subject, key=f"{c.s.order_no}:{kind}:{to}:{fact}")
    c.s.notices.append(notice)
    yield Notify(notice, body)


def deadlines(c: OrderContext, items: list[DeadlineItem], summary: str) -> Rule:
    """Compute deadlines; returns {name: instant}. Each deadline keeps its recipe (the calendar
    may change later, workflows/calendar_follow.py) and whether it rests on a guessed calendar."""
    values: dict[str, DeadlineValue] = yield Deadlines(items, summary)
    for item in items:
        c.m.recipes[item.name] = [item]
    out: dict[str, datetime] = {}
    prov = c.s.deadlines.provisional
    for name, v in values.items():
        out[name] = v.at
        if v.provisional and name not in prov:
            prov.append(name)
        elif not v.provisional and name in prov:
            prov.remove(name)
    return out


def strike(c: OrderContext, kind: str, unit: str, fact: str, reason: str, provisional: bool = False) -> Rule:
    s = c.s
    yield SendStrike(Strike(key=f"{s.order_no}:{kind}:{unit}:{fact}", unit=unit, kind=kind, order_no=s.order_no,
                            at=c.now(), reason=reason, provisional=provisional))
    yield from step(c, StepKind.STRIKE, "system", {"unit": unit, "kind": kind, "reason": reason})


# ---------------------------------------------------------------- deadlines' timers

def _unsigned(s: OrderState, owner: str) -> Callable[[], bool]:
    return lambda: s.signed_at is not None or s.owner != owner


def _answered(s: OrderState, owner: str) -> Callable[[], bool]:
    return lambda: s.stage in ANSWERED_STAGES


def _contacted(s: OrderState, owner: str) -> Callable[[], bool]:
    return lambda: s.contacted_at is not None or s.owner != owner


def _planned(s: OrderState, owner: str) -> Callable[[], bool]:
    return lambda: bool(s.co_handlers) or s.owner != owner or s.stage == Stage.closed


def _rated(s: OrderState, owner: str) -> Callable[[], bool]:
    return lambda: s.callback is not None and s.callback.answered


# deadline → (its timer, what makes it moot, the follow-up when it passes, the timer's summary)
TIMERS: dict[str, tuple[str, Callable[[OrderState, str], Callable[[], bool]], str, str]] = {
    "sign_by": ("sign", _unsigned, "sign_missed", "sign-for deadline (签收时限) of {owner}"),
    "remind_at": ("reminder", _answered, "remind", "reminder (催办) to {owner}"),
    "reply_by": ("supervision", _answered, "supervise", "handling deadline (办理时限) of {owner}"),
    "contact_by": ("contact", _contacted, "contact_missed", "first contact (先行联系) by {owner}"),
    "coordinate_by": ("coordination", _planned, "coordination_closed",
                      "coordination plan window (联办方案 12h) of {owner}"),
    "callback_by": ("callback", _rated, "callback_late", "hotline callback due (回访)"),
    "answer_by": ("answer", _rated, "unrated", "petitioner answer window"),
    "escalate_at": ("escalation", _answered, "escalate", "still unreplied after supervision: escalate {owner}"),
}


def arm(c: OrderContext, deadline: str, at: datetime, note: str = "") -> Rule:
    """Wait for a deadline with its own timer and follow-up (the same whether first armed, or
    armed again because the calendar moved it)."""
    timer, moot, follow_up, summary = TIMERS[deadline]
    yield Arm(timer, at, moot(c.s, c.s.owner), follow_up, summary.format(owner=c.s.owner) + note)


def disarm(*timers: str) -> Rule:
    yield Disarm(timers)


def disarm_all() -> Rule:
    yield Disarm(every=True)


def arm_handling(c: OrderContext, remind_at: datetime, reply_by: datetime) -> Rule:
    yield from arm(c, "remind_at", remind_at)
    yield from arm(c, "reply_by", reply_by)
    yield from disarm("escalation")
