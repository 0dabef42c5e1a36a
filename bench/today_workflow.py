""""Ours today": the work order as it ran before one-action-at-a-time and local activities, for
bench/lifecycle.py to measure against in the same run.

`TodayWorkOrderWorkflow` is WorkOrderWorkflow with the `serial-local-activities` patch off:
regular activities and no lock, exactly the commands an order started before that release
records. `today_order` drives it the way the gateway did then: start, the `dispatched` update,
a `state` query after intake and before every action (the gateway read the running workflow).
"""
from __future__ import annotations

from datetime import datetime, timezone

from temporalio import workflow
from temporalio.common import WorkflowIDConflictPolicy

with workflow.unsafe.imports_passed_through():
    from hotline.domain.codes import order_workflow_id
    from hotline.domain.contracts import ActionAnswer, WorkOrderInput
    from hotline.domain.models import IntakeRequest, OrderState
    from workflows.client import start_attributes, static_summary
    from workflows.work_order import WorkOrderWorkflow


@workflow.defn(name="TodayWorkOrderWorkflow")
class TodayWorkOrderWorkflow(WorkOrderWorkflow):
    @workflow.run
    async def run(self, inp: WorkOrderInput) -> OrderState:
        return await super().run(inp)

    def _begin(self) -> None:
        self._serial = False  # the patch never applies: regular activities, no lock


async def today_start(client, queue: str, policy, order_no: str, req: IntakeRequest, owner: str):
    inp = WorkOrderInput(order_no=order_no, intake=req, owner=owner, owner_reason="operator", routing=[],
                         policy=policy, created_at=datetime.now(timezone.utc), search_attributes=True)
    h = await client.start_workflow(TodayWorkOrderWorkflow.run, inp, id=order_workflow_id(order_no), task_queue=queue,
                                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                                    search_attributes=start_attributes(order_no, req, owner),
                                    static_summary=static_summary(order_no, req, owner))
    await h.execute_update(TodayWorkOrderWorkflow.dispatched)
    await h.query(TodayWorkOrderWorkflow.state)  # the intake answer came from a query
    return h


async def today_act(h, update: str, payload) -> OrderState:
    await h.query(TodayWorkOrderWorkflow.state)  # the owner check read the running workflow
    return (await h.execute_update(update, payload, result_type=ActionAnswer)).state
