"""The reply, the callback (回访) after it, and what that leads to: close, or reopen (重办).

An order with one petitioner is decided by that petitioner's answer. With co-petitioners (并单)
each answers for themselves and the outcome is decided from everyone who answered, once all
have answered or the answer window closes: resolved and satisfied by the majority (ties: not
resolved, the less satisfied), exactly as one answer decides an order with one petitioner.
"""
from __future__ import annotations

from collections import Counter

from hotline.domain.contracts import DeadlineItem
from hotline.domain.masking import mask_text
from hotline.domain.models import CallbackAction, CallbackResult, ReplyAction, Satisfaction, Stage
from hotline.domain.order_rules.basics import arm, arm_handling, deadlines, disarm, disarm_all, notify, step
from hotline.domain.order_rules.effects import OrderContext, Rule
from hotline.domain.order_rules.handling import stop_handling_timers
from hotline.domain.order_rules.kinds import NoticeKind, StepKind

SURVEY = "请评价工单{order}的办理：是否解决？是否满意？"
SURVEY_MERGED = "请评价您反映的问题（{request}，已并入工单{order}）的办理：是否解决？是否满意？"


def tell_petitioners(c: OrderContext, kind: str, fact: str, own: str, merged: str, **body) -> Rule:
    """One notice to the order's own petitioner (`own`, formatted with the order number) and one
    to each co-petitioner (`merged`, formatted with their request number too)."""
    s = c.s
    yield from notify(c, kind, "petitioner", own.format(order=s.order_no), fact, **body)
    for co in list(s.co_petitioners):
        yield from notify(c, kind, f"petitioner:{co.request_no}",
                          merged.format(order=s.order_no, request=co.request_no), fact, **body)


def reply(c: OrderContext, a: ReplyAction) -> Rule:
    s = c.s
    s.stage, s.replied_at = Stage.replied, c.now()
    s.replied_on_time = bool(s.deadlines.reply_by is None or s.replied_at <= s.deadlines.reply_by)
    s.resolved, s.reply_result = a.resolved, a.result
    yield from stop_handling_timers()
    yield from step(c, StepKind.REPLY, a.by, {"result": a.result, "resolved": a.resolved,
                                             "on_time": s.replied_on_time})
    yield from notify(c, NoticeKind.REPLY, "HOTLINE", f"{a.by} replied on {s.order_no}", f"reply{c.seq}",
                      resolved=a.resolved)
    yield from notify(c, NoticeKind.REPLY, "petitioner", f"您的工单{s.order_no}已办结答复：{a.result}", f"reply{c.seq}")
    # co-petitioners get the reply without the order's own petitioner's data (masked only when
    # there are any: the mask compiles patterns of that petitioner's name and phone)
    shown = mask_text(a.result, s.petitioner.name, s.petitioner.phone) if s.co_petitioners else a.result
    for co in list(s.co_petitioners):
        yield from notify(c, NoticeKind.REPLY, f"petitioner:{co.request_no}",
                          f"您反映的问题（{co.request_no}，已并入工单{s.order_no}）已办结答复：{shown}",
                          f"reply{c.seq}")
    yield from start_callback(c)


def start_callback(c: OrderContext) -> Rule:
    s, p = c.s, c.policy
    d = yield from deadlines(c, [
        DeadlineItem(name="callback_by", start=s.replied_at, limit=str(p.callback_call)),
        DeadlineItem(name="answer_by", start=s.replied_at, limit=str(p.callback_answer)),
    ], "callback window (回访)")
    s.deadlines.callback_by, s.deadlines.answer_by = d["callback_by"], d["answer_by"]
    s.stage, s.callback = Stage.callback, None
    reset_answers(c)
    yield from arm(c, "callback_by", d["callback_by"])
    yield from arm(c, "answer_by", d["answer_by"])
    yield from step(c, StepKind.CALLBACK_START, "hotline", {"callback_by": d["callback_by"].isoformat()})
    yield from tell_petitioners(c, NoticeKind.SURVEY, f"survey{c.seq}", SURVEY, SURVEY_MERGED)


def callback_late(c: OrderContext, gen: int) -> Rule:
    yield from notify(c, NoticeKind.REMINDER, "HOTLINE", f"callback on {c.s.order_no} is due", f"callback{gen}")
    yield from step(c, StepKind.CALLBACK_OVERDUE, "system", {})


def unrated(c: OrderContext, gen: int) -> Rule:
    s = c.s
    if s.co_petitioners and answers(c):  # some answered: they decide
        yield from decide_callback(c)
        return
    s.callback = CallbackResult(answered=False, unrated=True, at=c.now())
    yield from step(c, StepKind.UNRATED, "system", {"answered": False})
    yield from close(c, "unrated")


def callback(c: OrderContext, a: CallbackAction) -> Rule:
    s = c.s
    if s.co_petitioners or a.request_no is not None:  # 并单: one answer per petitioner
        yield from petitioner_callback(c, a)
        return
    if not a.answered:
        yield from step(c, StepKind.CALLBACK, a.by, {"answered": False})
        return
    assert a.satisfaction is not None, "checks.callback: an answered callback has a satisfaction"
    s.callback = CallbackResult(answered=True, resolved=a.resolved, satisfaction=a.satisfaction, at=c.now())
    yield from disarm("callback")
    yield from disarm("answer")
    yield from step(c, StepKind.CALLBACK, a.by, {"answered": True, "resolved": a.resolved,
                                          "satisfaction": a.satisfaction.value})
    yield from after_callback(c, a.resolved, a.satisfaction)


def after_callback(c: OrderContext, resolved: bool | None, satisfaction: Satisfaction | None) -> Rule:
    s = c.s
    # Dissatisfied and unresolved → back to the same owner (重办), at most max_reopens times.
    if resolved is False and satisfaction == Satisfaction.dissatisfied:
        if s.reopens < c.policy.max_reopens:
            yield from reopen(c)
        else:
            yield from notify(c, NoticeKind.SUPERVISION, s.owner, f"{s.order_no} closed unresolved after "
                              f"{s.reopens} reopens", "reopens", cc="HOTLINE")
            yield from close(c, "escalated")
    else:
        yield from close(c, "resolved" if resolved else "unresolved")


def reopen(c: OrderContext) -> Rule:
    s, p = c.s, c.policy
    s.reopens += 1
    s.stage, s.replied_at, s.replied_on_time, s.overdue = Stage.reopened, None, None, False
    now = c.now()
    handling = p.handling_limit(s.category.value, s.urgency.value)
    d = yield from deadlines(c, [
        DeadlineItem(name="reply_by", start=now, limit=str(handling)),
        DeadlineItem(name="remind_at", start=now, limit=str(handling), fraction=p.reminder_fraction),
    ], f"fresh handling deadline for reopen {s.reopens}")
    s.deadlines.reply_by, s.deadlines.remind_at = d["reply_by"], d["remind_at"]
    s.deadlines.callback_by = s.deadlines.answer_by = s.deadlines.escalate_at = None
    yield from arm_handling(c, d["remind_at"], d["reply_by"])
    yield from step(c, StepKind.REOPEN, "hotline", {"reopens": s.reopens, "reply_by": d["reply_by"].isoformat()})
    yield from notify(c, NoticeKind.REOPEN, s.owner, f"order {s.order_no} reopened (重办) after callback",
                      f"reopen{s.reopens}", reply_by=d["reply_by"].isoformat())


def close(c: OrderContext, reason: str) -> Rule:
    s = c.s
    s.stage, s.closed_at, s.close_reason = Stage.closed, c.now(), reason
    yield from disarm_all()
    yield from step(c, StepKind.CLOSE, "hotline", {"reason": reason})


# ---------------------------------------------------------------- callback per petitioner (并单)

def petitioner_callback(c: OrderContext, a: CallbackAction) -> Rule:
    """Recorded per petitioner; decided once all have answered."""
    result = CallbackResult(answered=a.answered, resolved=a.resolved, satisfaction=a.satisfaction, at=c.now())
    if a.request_no is None:
        c.m.own_answer = result if a.answered else c.m.own_answer
    else:
        co = next(x for x in c.s.co_petitioners if x.request_no == a.request_no)
        co.callback = result if a.answered else co.callback
    yield from step(c, StepKind.PETITIONER_CALLBACK, a.by, {
        "request_no": a.request_no, "answered": a.answered, "resolved": a.resolved,
        "satisfaction": a.satisfaction.value if a.satisfaction else None})
    if a.answered and all_answered(c):
        yield from decide_callback(c)


def answers(c: OrderContext) -> list[CallbackResult]:
    own = [c.m.own_answer] if c.m.own_answer is not None and c.m.own_answer.answered else []
    return own + [x.callback for x in c.s.co_petitioners if x.callback is not None and x.callback.answered]


def all_answered(c: OrderContext) -> bool:
    return len(answers(c)) == 1 + len(c.s.co_petitioners)


def reset_answers(c: OrderContext) -> None:
    """A new callback round (after a reopen): everyone is asked again."""
    c.m.own_answer = None
    for co in c.s.co_petitioners:
        co.callback = None


def decide_callback(c: OrderContext) -> Rule:
    """The order's callback outcome from everyone who answered, then close or reopen as for one."""
    s, given = c.s, answers(c)
    n = len(given)
    resolved = sum(1 for r in given if r.resolved) * 2 > n
    order = [Satisfaction.dissatisfied, Satisfaction.basically_satisfied, Satisfaction.satisfied]
    counts = Counter(r.satisfaction for r in given)
    satisfaction = max(order, key=lambda v: (counts[v], -order.index(v)))
    s.callback = CallbackResult(answered=True, resolved=resolved, satisfaction=satisfaction, at=c.now())
    yield from disarm("callback")
    yield from disarm("answer")
    yield from step(c, StepKind.CALLBACK, "hotline", {
        "answered": True, "resolved": resolved, "satisfaction": satisfaction.value,
        "petitioners": 1 + len(s.co_petitioners), "answers": n,
        "satisfied": counts[Satisfaction.satisfied] + counts[Satisfaction.basically_satisfied]})
    yield from after_callback(c, resolved, satisfaction)
