"""Deadline computation on the official calendar, as an activity.

The result is recorded in history, so a later change of the calendar (an entered schedule,
the override table) cannot change a running order's deadlines on replay (which would break
determinism); a running order follows a new schedule only when its workflow asks again.
The computation itself is `hotline.services.deadlines.DeadlineCalculator`, which the gateway
uses too (intake answers with the deadlines before the workflow runs).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from temporalio import activity

from hotline.domain.contracts import DeadlineRequest, DeadlineResult
from hotline.services.calendar_admin import CalendarSource
from hotline.services.deadlines import DeadlineCalculator


class DeadlineActivities:
    def __init__(self, overrides: Mapping[date, bool] | CalendarSource | None = None) -> None:
        self.calculator = DeadlineCalculator(overrides)

    @activity.defn(name="compute_deadlines")
    def compute_deadlines(self, req: DeadlineRequest) -> DeadlineResult:
        return self.calculator.compute(req)
