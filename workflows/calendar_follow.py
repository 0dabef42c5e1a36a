"""The `calendar_changed` signal: a year's official schedule was entered, and the order follows
it (the rule: hotline/domain/order_rules/calendar.py).

The signal is newer than the first orders: no history recorded before it contains one, so
orders already running replay unchanged. It takes the order's lock like any action.
"""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from hotline.domain.contracts import CalendarChange
    from hotline.domain.order_rules import TIMERS
    from hotline.domain.order_rules.calendar import follow_calendar, waiting_deadlines


class CalendarFollow:
    """Mixed into WorkOrderWorkflow (needs OrderCore's state, lock, timers and rule driver)."""

    @workflow.signal
    async def calendar_changed(self, change: CalendarChange) -> None:
        async with self._turn():
            waiting = {timer for timer, *_rest in TIMERS.values() if self.timers.waiting(timer)}
            c = self._at_once()
            await self._drive(follow_calendar(c, change, waiting_deadlines(c, waiting)))
