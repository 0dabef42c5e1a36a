"""Deadlines on the official calendar, for whoever must know them: the worker's activity and
the gateway, which answers intake with the deadlines before the order's workflow has run.

The calendar comes from a `CalendarSource` (the shipped table merged with the schedules the
hotline office entered in the database, re-read every minute or at once after an import in
this process), or from a fixed mapping that tests pass. Both callers hold the same source, so
the deadlines intake reads back to the citizen are the ones the order keeps.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from hotline.domain.contracts import DeadlineRequest, DeadlineResult, DeadlineValue
from hotline.domain.policy import Duration
from hotline.domain.workcal import WorkCalendar
from hotline.services.calendar_admin import CalendarSource


class DeadlineCalculator:
    def __init__(self, overrides: Mapping[date, bool] | CalendarSource | None = None) -> None:
        # None: the shipped table only; a mapping: exactly that (tests); a source: the database's too
        self.source = overrides if isinstance(overrides, CalendarSource) else None
        self.overrides = None if isinstance(overrides, CalendarSource) else overrides
        self._calendars: dict[str, WorkCalendar] = {}
        self._version: str | None = None

    def _calendar(self, policy) -> WorkCalendar:
        overrides = self.overrides
        if self.source is not None:
            overrides = self.source.overrides()
            if overrides.version != self._version:  # a schedule was entered: rebuild the day caches
                self._calendars, self._version = {}, overrides.version
        key = f"{policy.name}:{policy.version}:{policy.timezone}:{policy.working_hours}"
        cal = self._calendars.get(key)
        if cal is None:
            cal = self._calendars[key] = WorkCalendar(policy, overrides=overrides)
        return cal

    def compute(self, req: DeadlineRequest) -> DeadlineResult:
        if req.reload_calendar and self.source is not None:
            self.source.invalidate()  # a schedule was just entered, perhaps by another process
        cal = self._calendar(req.policy)
        out: dict[str, DeadlineValue] = {}
        for item in req.items:
            limit = Duration.parse(item.limit)
            start, guessed = item.start, False
            if item.after is not None:  # a link of a chain: from where the previous link ends
                start, guessed = out[item.after].at, out[item.after].provisional
            d = cal.fraction(start, limit, item.fraction) if item.fraction else cal.add(start, limit)
            out[item.name] = DeadlineValue(at=d.at, provisional=d.provisional or guessed)
        return DeadlineResult(values=out)
