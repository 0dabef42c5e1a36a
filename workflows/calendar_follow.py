"""The `calendar_changed` signal: a year's official schedule was entered, and the order follows
it (the rule: hotline/domain/order_rules/calendar.py).

The signal is newer than the first orders: no history recorded before it contains one, so
orders already running replay unchanged. It takes the order's lock like any action.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from hotline.domain.contracts import CalendarChange
    from hotline.domain.order_rules import TIMERS
    from hotline.domain.order_rules.calendar import follow_calendar, waiting_deadlines

if TYPE_CHECKING:
    from collections.abc import Generator
    from contextlib import AbstractAsyncContextManager
    from datetime import datetime
    from typing import Any

    from hotline.domain import order_rules as rules
    from workflows.timers import DeadlineTimers


class CalendarFollow:
    """Mixed into WorkOrderWorkflow (needs OrderCore's state, lock, timers and rule driver)."""

    if TYPE_CHECKING:  # what it uses of OrderCore, declared for the type checker only
        timers: DeadlineTimers

        def _turn(self) -> AbstractAsyncContextManager[None]: ...
        def _at_once(self, at: datetime | None = None) -> rules.OrderContext: ...
        async def _drive(self, rule: Generator) -> Any: ...

    @workflow.signal
    async def calendar_changed(self, change: CalendarChange) -> None:
        async with self._turn():
            waiting = {timer for timer, *_rest in TIMERS.values() if self.timers.waiting(timer)}
            c = self._at_once()
            await self._drive(follow_calendar(c, change, waiting_deadlines(c, waiting)))
