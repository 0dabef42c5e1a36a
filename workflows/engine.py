"""Client-side operations on work orders for the gateway and the CLI.

The HTTP app depends on this small interface, not on Temporal; here it is implemented with
the Temporal client: start the workflow, send updates, run the `state` query.
"""
from __future__ import annotations

from datetime import datetime, timezone

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy, WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from hotline.contracts import WorkOrderInput
from hotline.engine import ActionRefused, OrderNotFound
from hotline.models import ACTION_MODELS, IntakeRequest, OrderState, mask_name
from hotline.policy import Policy
from workflows import search_attributes as sa
from workflows.supervision import DepartmentSupervisionWorkflow
from workflows.work_order import WorkOrderWorkflow

UPDATE_NAMES = {a: a.replace("-", "_") for a in ACTION_MODELS}


def order_workflow_id(order_no: str) -> str:
    return f"order-{order_no}"


def static_summary(order_no: str, req: IntakeRequest, owner: str) -> str:
    # Free text by citizens can carry names; the summary uses only the title and masks nothing
    # else because it names no petitioner data.
    return f"{order_no} [{req.category.value}/{req.urgency.value}] {req.title} → {owner}"


class TemporalEngine:
    def __init__(self, client: Client, task_queue: str, policy: Policy, search_attributes: bool = True) -> None:
        self.client = client
        self.task_queue = task_queue
        self.policy = policy
        self.search_attributes = search_attributes

    async def start_order(self, order_no: str, req: IntakeRequest, owner: str, owner_reason: str,
                          routing: list[dict], created_at: datetime | None = None) -> None:
        inp = WorkOrderInput(order_no=order_no, intake=req, owner=owner, owner_reason=owner_reason,
                             routing=routing, policy=self.policy,
                             created_at=created_at or datetime.now(timezone.utc),
                             search_attributes=self.search_attributes)
        attrs = [SearchAttributePair(sa.ORDER_NO, order_no), SearchAttributePair(sa.OWNER, owner),
                 SearchAttributePair(sa.CATEGORY, req.category.value),
                 SearchAttributePair(sa.URGENCY, req.urgency.value), SearchAttributePair(sa.STAGE, "intake"),
                 SearchAttributePair(sa.OVERDUE, False), SearchAttributePair(sa.RETURN_COUNT, 0)]
        if req.location.district:
            attrs.append(SearchAttributePair(sa.DISTRICT, req.location.district))
        await self.client.start_workflow(
            WorkOrderWorkflow.run, inp, id=order_workflow_id(order_no), task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,  # a closed order is never re-run
            search_attributes=TypedSearchAttributes(attrs) if self.search_attributes else None,
            static_summary=static_summary(order_no, req, owner),
            static_details=(f"petitioner {mask_name(req.petitioner.name)}, channel {req.channel.value}, "
                            f"district {req.location.district or '-'}"),
        )

        await self.client.get_workflow_handle(order_workflow_id(order_no)).execute_update(
            WorkOrderWorkflow.dispatched)

    async def state(self, order_no: str) -> OrderState:
        handle = self.client.get_workflow_handle(order_workflow_id(order_no))
        try:
            return await handle.query(WorkOrderWorkflow.state)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise OrderNotFound(order_no) from None
            raise

    async def act(self, order_no: str, action: str, payload) -> OrderState:
        handle = self.client.get_workflow_handle(order_workflow_id(order_no))
        try:
            return await handle.execute_update(UPDATE_NAMES[action], payload, result_type=OrderState)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError):
                raise ActionRefused(cause.message, cause.type or "InvalidAction") from None
            raise
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise OrderNotFound(order_no) from None
            if "workflow execution already completed" in str(exc).lower():
                raise ActionRefused(f"order {order_no} is closed", "InvalidAction") from None
            raise

    async def supervision(self, unit: str) -> dict | None:
        """The unit's current-year ledger from its supervision workflow, None if it has none."""
        handle = self.client.get_workflow_handle(f"supervision-{unit}")
        try:
            ledger = await handle.query(DepartmentSupervisionWorkflow.ledger_state)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return ledger.model_dump(mode="json")
