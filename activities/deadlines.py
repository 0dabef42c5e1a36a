"""Deadline computation on the official calendar, as an activity.

The result is recorded in history, so a later change of the calendar override table cannot
change a running order's deadlines on replay (which would break determinism).
"""
from __future__ import annotations

from temporalio import activity

from hotline.contracts import DeadlineRequest, DeadlineResult, DeadlineValue
from hotline.policy import Duration
from hotline.workcal import WorkCalendar


class DeadlineActivities:
    def __init__(self, overrides: dict | None = None) -> None:
        self.overrides = overrides
        self._calendars: dict[str, WorkCalendar] = {}

    def _calendar(self, policy) -> WorkCalendar:
        key = f"{policy.name}:{policy.version}:{policy.timezone}:{policy.working_hours}"
        cal = self._calendars.get(key)
        if cal is None:
            cal = self._calendars[key] = WorkCalendar(policy, overrides=self.overrides)
        return cal

    @activity.defn(name="compute_deadlines")
    def compute_deadlines(self, req: DeadlineRequest) -> DeadlineResult:
        cal = self._calendar(req.policy)
        out: dict[str, DeadlineValue] = {}
        for item in req.items:
            limit = Duration.parse(item.limit)
            d = cal.fraction(item.start, limit, item.fraction) if item.fraction else cal.add(item.start, limit)
            out[item.name] = DeadlineValue(at=d.at, provisional=d.provisional)
        return DeadlineResult(values=out)
