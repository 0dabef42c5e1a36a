"""The weekly routing-model retrain (issue 19): one activity, started by a Temporal Schedule.

The activity does all the I/O (corpus, corrections, training, the model directory); this
workflow only refers to it (its module is passed through, never run in workflow code). Retries are few: a retrain that
fails twice waits for next week (or `starter.py routing retrain`), the promoted model stays.
"""
from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.routing_retrain import RoutingRetrainActivities
SCHEDULE_ID = "routing-retrain-weekly"
# Sunday 03:00 Sanya time: the hotline is quietest and the week's reviewed returns are in.
SCHEDULE_CRON = "0 3 * * 0"
SCHEDULE_TIME_ZONE = "Asia/Shanghai"


@workflow.defn(name="RoutingRetrain")
class RoutingRetrainWorkflow:
    @workflow.run
    async def run(self) -> dict:
        return await workflow.execute_activity_method(
            RoutingRetrainActivities.retrain_routing_model, start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RetryPolicy(maximum_attempts=2, initial_interval=timedelta(minutes=1)))
