"""Running orders follow the calendar: when the hotline office enters a year's official schedule
(holidays and 调休 working days), each open order recomputes the deadlines it is still waiting on
that were provisional or fall in that year, and re-arms their timers.

Every deadline an order computes keeps its recipe (start, limit, fraction; an extension adds a
link to the chain), so the recomputation is the same computation on the new calendar, not a
shift of the old instant. The `calendar_changed` signal is new: no history recorded before it
contains one, so orders already running replay unchanged; it takes the order's lock like any
action, and writes one audit step (old → new) when something moved.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from hotline.contracts import CalendarChange, DeadlineItem, DeadlineRequest, DeadlineResult
    from hotline.models import Stage

# deadline → the timer that waits for it (return_until has no timer: the validator reads it)
TIMER_OF = {"sign_by": "sign", "remind_at": "reminder", "reply_by": "supervision", "contact_by": "contact",
            "coordinate_by": "coordination", "callback_by": "callback", "answer_by": "answer",
            "escalate_at": "escalation"}
RETURNABLE = {Stage.dispatched, Stage.signed, Stage.handling}


class CalendarFollow:
    """Mixed into WorkOrderWorkflow (needs OrderCore's state, lock, timers and helpers)."""

    def _remember(self, items: list[DeadlineItem]) -> None:
        for item in items:
            self._recipes[item.name] = [item]

    def _extend_recipes(self, base: list[DeadlineItem], old_reply_by: datetime, limit: str,
                        fraction: float) -> None:
        if not base:
            return
        self._recipes["reply_by"] = base + [DeadlineItem(name="reply_by", start=old_reply_by, limit=limit)]
        self._recipes["remind_at"] = base + [DeadlineItem(name="remind_at", start=old_reply_by, limit=limit,
                                                          fraction=fraction)]

    def _waiting_on(self) -> list[str]:
        names = [n for n, t in TIMER_OF.items() if self.timers.waiting(t)]
        if self.s.stage in RETURNABLE and self.s.deadlines.return_until and \
                self.s.deadlines.return_until > workflow.now():
            names.append("return_until")
        return names

    @workflow.signal
    async def calendar_changed(self, change: CalendarChange) -> None:
        async with self._turn():
            await self._follow_calendar(change)

    async def _follow_calendar(self, change: CalendarChange) -> None:
        s, d = self.s, self.s.deadlines
        tz = ZoneInfo(self.policy.timezone)
        touched = [n for n in self._waiting_on() if n in self._recipes and getattr(d, n) is not None
                   and (n in d.provisional or getattr(d, n).astimezone(tz).year in change.years
                        or any(i.start.astimezone(tz).year in change.years for i in self._recipes[n]))]
        if not touched or s.stage == Stage.closed:
            return
        items, last = [], {}
        for n in touched:
            chain = self._recipes[n]
            for i, item in enumerate(chain):
                link = f"{n}#{i}"
                items.append(item.model_copy(update={"name": link, "after": f"{n}#{i - 1}" if i else None}))
            last[n] = f"{n}#{len(chain) - 1}"
        res: DeadlineResult = await self._act(
            "compute_deadlines", DeadlineRequest(policy=self.policy, items=items, reload_calendar=True),
            f"deadlines on the calendar entered for {', '.join(map(str, change.years))}", result_type=DeadlineResult)
        changes: dict[str, dict] = {}
        for n in touched:
            v, old = res.values[last[n]], getattr(d, n)
            was = n in d.provisional
            if v.provisional and not was:
                d.provisional.append(n)
            elif was and not v.provisional:
                d.provisional.remove(n)
            if v.at != old:
                setattr(d, n, v.at)
                if n in TIMER_OF:
                    self._rearm(n, v.at)
            if v.at != old or was != v.provisional:
                changes[n] = {"old": old.isoformat(), "new": v.at.isoformat(), "provisional": v.provisional}
        if not changes:
            return
        await self._step("deadlines-recomputed", change.by, {"years": change.years, "notice": change.notice,
                                                             "changes": changes})
        moved = {n: c for n, c in changes.items() if c["old"] != c["new"] and n in ("sign_by", "reply_by")}
        if moved:
            text = "；".join(f"{n} {c['old']} → {c['new']}" for n, c in moved.items())
            await self._notify("deadline-change", s.owner, f"工单{s.order_no}按新公布的节假日安排调整期限：{text}",
                               f"calendar{self._seq}")

    def _rearm(self, name: str, at: datetime) -> None:
        """Arm the deadline's timer again at its new instant, with the same follow-up as before."""
        s, owner = self.s, self.s.owner
        replied = lambda: s.stage in (Stage.replied, Stage.callback, Stage.closed)  # noqa: E731
        rated = lambda: s.callback is not None and s.callback.answered  # noqa: E731
        arms = {
            "sign_by": (lambda: s.signed_at is not None or s.owner != owner, self._sign_missed,
                        f"sign-for deadline (签收时限) of {owner}"),
            "remind_at": (replied, self._remind, f"reminder (催办) to {owner}"),
            "reply_by": (replied, self._supervise, f"handling deadline (办理时限) of {owner}"),
            "contact_by": (lambda: s.contacted_at is not None or s.owner != owner, self._contact_missed,
                           f"first contact (先行联系) by {owner}"),
            "coordinate_by": (lambda: bool(s.co_handlers) or s.owner != owner or s.stage == Stage.closed,
                              self._coordination_closed, f"coordination plan window (联办方案 12h) of {owner}"),
            "callback_by": (rated, self._callback_late, "hotline callback due (回访)"),
            "answer_by": (rated, self._unrated, "petitioner answer window"),
            "escalate_at": (replied, self._escalate, f"still unreplied after supervision: escalate {owner}"),
        }
        done, fire, summary = arms[name]
        self.timers.arm(TIMER_OF[name], at, done, fire, summary + " (calendar updated)")
