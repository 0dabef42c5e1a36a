"""Running orders follow the calendar: when the hotline office enters a year's official schedule
(holidays and 调休 working days), an open order recomputes the deadlines it is still waiting on
that were provisional or fall in that year, and arms their timers again.

Every deadline keeps its recipe (start, limit, fraction; an extension adds a link to the chain,
requests.py), so the recomputation is the same computation on the new calendar, not a shift of
the old instant. One audit step (old → new) when something moved; the owner is told when the
sign-for or handling deadline moved.
"""
from __future__ import annotations

from zoneinfo import ZoneInfo

from hotline.domain.contracts import CalendarChange, DeadlineValue
from hotline.domain.models import Stage
from hotline.domain.order_rules.basics import TIMERS, arm, notify, step
from hotline.domain.order_rules.effects import Deadlines, OrderContext, Rule
from hotline.domain.order_rules.kinds import NoticeKind, StepKind

RETURNABLE = {Stage.dispatched, Stage.signed, Stage.handling}


def waiting_deadlines(c: OrderContext, waiting_timers: set[str]) -> list[str]:
    """The deadlines the order still waits on: those whose timer is waiting, and the return
    window while a return may still be asked (it has no timer: the check reads it)."""
    names = [n for n, (timer, *_rest) in TIMERS.items() if timer in waiting_timers]
    d = c.s.deadlines
    if c.s.stage in RETURNABLE and d.return_until and d.return_until > c.now():
        names.append("return_until")
    return names


def follow_calendar(c: OrderContext, change: CalendarChange, waiting: list[str]) -> Rule:
    s, d = c.s, c.s.deadlines
    tz = ZoneInfo(c.policy.timezone)
    recipes = c.m.recipes
    touched = [n for n in waiting if n in recipes and getattr(d, n) is not None
               and (n in d.provisional or getattr(d, n).astimezone(tz).year in change.years
                    or any(i.start.astimezone(tz).year in change.years for i in recipes[n]))]
    if not touched or s.stage == Stage.closed:
        return
    items, last = [], {}
    for n in touched:
        chain = recipes[n]
        for i, item in enumerate(chain):
            items.append(item.model_copy(update={"name": f"{n}#{i}", "after": f"{n}#{i - 1}" if i else None}))
        last[n] = f"{n}#{len(chain) - 1}"
    values: dict[str, DeadlineValue] = yield Deadlines(
        items, f"deadlines on the calendar entered for {', '.join(map(str, change.years))}", reload_calendar=True)
    changes: dict[str, dict] = {}
    for n in touched:
        v, old = values[last[n]], getattr(d, n)
        was = n in d.provisional
        if v.provisional and not was:
            d.provisional.append(n)
        elif was and not v.provisional:
            d.provisional.remove(n)
        if v.at != old:
            setattr(d, n, v.at)
            if n in TIMERS:  # the same wait and follow-up as before, at the new instant
                yield from arm(c, n, v.at, " (calendar updated)")
        if v.at != old or was != v.provisional:
            changes[n] = {"old": old.isoformat(), "new": v.at.isoformat(), "provisional": v.provisional}
    if not changes:
        return
    yield from step(c, StepKind.DEADLINES_RECOMPUTED, change.by, {"years": change.years, "notice": change.notice,
                                                          "changes": changes})
    moved = {n: x for n, x in changes.items() if x["old"] != x["new"] and n in ("sign_by", "reply_by")}
    if moved:
        text = "；".join(f"{n} {x['old']} → {x['new']}" for n, x in moved.items())
        yield from notify(c, NoticeKind.DEADLINE_CHANGE, s.owner,
                          f"工单{s.order_no}按新公布的节假日安排调整期限：{text}", f"calendar{c.seq}")
