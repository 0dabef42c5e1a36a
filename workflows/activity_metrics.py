"""Counts every activity this worker finishes, local ones included, by type and outcome
(`hotline_activities_total`): the SDK's own activity metrics name local and regular
activities apart; this one answers "how many steps did the orders take" in one series family.
"""
from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from hotline.runtime.metrics import ACTIVITIES


class _Counting(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        outcome = "failed"
        try:
            result = await super().execute_activity(input)
            outcome = "completed"
            return result
        finally:
            ACTIVITIES.labels(info.activity_type, "true" if info.is_local else "false", outcome).inc()


class ActivityMetrics(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Counting(next)
