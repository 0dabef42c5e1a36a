"""Client-side operations on work orders for the gateway and the CLI.

The HTTP app depends on this small interface, not on Temporal; here it is implemented with
the Temporal client: start the workflow and send updates. Intake, given the calendar
(`deadlines`), computes the dispatched order itself (the intake rule, the gateway's deadlines)
and answers once the start is persisted; the deadlines travel in the input, so the workflow
reaches the same state after the answer. Without it, or when the order was already started
(a retried intake), one update-with-start answers with the workflow's own dispatched order.
An action's answer is its update's result. Nothing here queries
a running order on a product path (README, "Known SDK race"): `query_state` is for debugging
and tests only, and the namespace refuses queries in the shipped deployments.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from typing import Any

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from hotline.domain import order_rules as rules
from hotline.domain.codes import order_workflow_id
from hotline.domain.contracts import (
    ActionAnswer,
    CalendarChange,
    DeadlineRequest,
    DeadlineResult,
    StrikeReview,
    WorkOrderInput,
)
from hotline.domain.models import ACTION_MODELS, MERGE_ACTIONS, IntakeRequest, OrderState
from hotline.domain.policy import Policy
from hotline.domain.supervision import SupervisionInput, supervision_workflow_id
from hotline.services.calendar_admin import CalendarSource
from hotline.services.deadlines import DeadlineCalculator
from hotline.services.port import ActionRefused, OrderNotFound
from hotline.store import Database
from hotline.store.commits import confirm
from hotline.store.readmodel import remember_dispatch
from workflows import search_attributes as sa
from workflows.work_order import WorkOrderWorkflow

UPDATE_NAMES = {a: a.replace("-", "_") for a in [*ACTION_MODELS, *MERGE_ACTIONS]}


def static_summary(order_no: str, req: IntakeRequest, owner: str) -> str:
    """What the Temporal UI lists for the order: number, category, urgency and owner. Never the
    title or any other free text: citizens' own words routinely carry names and phone numbers."""
    return f"{order_no} [{req.category.value}/{req.urgency.value}] → {owner}"


def static_details(req: IntakeRequest) -> str:
    """The order's details in the Temporal UI: coded fields only, nothing about the petitioner."""
    return f"channel {req.channel.value}, district {req.location.district or '-'}"


def start_attributes(order_no: str, req: IntakeRequest, owner: str) -> TypedSearchAttributes:
    """The order's search attributes at start (no personal data: the Temporal UI filters on them)."""
    attrs: list[SearchAttributePair[Any]] = [  # one type per attribute: Any for the list
        SearchAttributePair(sa.ORDER_NO, order_no), SearchAttributePair(sa.OWNER, owner),
        SearchAttributePair(sa.CATEGORY, req.category.value),
        SearchAttributePair(sa.URGENCY, req.urgency.value), SearchAttributePair(sa.STAGE, "intake"),
        SearchAttributePair(sa.OVERDUE, False), SearchAttributePair(sa.RETURN_COUNT, 0)]
    if req.location.district:
        attrs.append(SearchAttributePair(sa.DISTRICT, req.location.district))
    return TypedSearchAttributes(attrs)


log = logging.getLogger("hotline.services.port")


class TemporalWorkOrders:
    """`confirm(order_no, tokens)`, when given, marks the local-activity writes an answer names
    as standing (hotline/store/commits.py `confirm`): the answer arrived, so their task committed, and
    the notices they hold go out now instead of after the commit watcher read the history."""

    def __init__(self, client: Client, task_queue: str, policy: Policy, search_attributes: bool = True,
                 confirm: Callable[[str, list[str]], None] | None = None,
                 deadlines: Callable[[DeadlineRequest], DeadlineResult] | None = None,
                 remember: Callable[[OrderState], Any] | None = None) -> None:
        """`deadlines` (the calendar, hotline/services/deadlines.py) lets intake answer from the
        start; `remember` then puts that answer in the read model until the order's first write."""
        self.client = client
        self.confirm = confirm
        self.deadlines = deadlines
        self.remember = remember
        self.task_queue = task_queue
        self.policy = policy
        self.search_attributes = search_attributes

    async def start_order(self, order_no: str, req: IntakeRequest, owner: str, owner_reason: str,
                          routing: list[dict], created_at: datetime | None = None) -> OrderState:
        """Start the order's workflow and return it as dispatched (owner, deadlines)."""
        created_at = (created_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
        inp = WorkOrderInput(order_no=order_no, intake=req, owner=owner, owner_reason=owner_reason,
                             routing=routing, policy=self.policy, created_at=created_at,
                             search_attributes=self.search_attributes)
        if self.deadlines is not None:
            answered = await self._start_answered(inp)
            if answered is not None:
                return answered
        start = WithStartWorkflowOperation(WorkOrderWorkflow.run, inp, **self._start_options(inp),
                                           id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
        # One round trip: the server starts the order and holds the answer until it is dispatched.
        try:
            answer = await self.client.execute_update_with_start_workflow(
                WorkOrderWorkflow.dispatched, start_workflow_operation=start)
        except BaseException:
            # The start operation then carries the same error: read it, so it is not reported
            # again as an exception nobody retrieved. The caller gets the one raised here.
            fut = start._workflow_handle
            if fut.done() and not fut.cancelled():
                fut.exception()
            raise
        return await self._confirmed(order_no, answer)

    @classmethod
    def on_store(cls, client: Client, task_queue: str, policy: Policy, db: Database,
                 search_attributes: bool = True) -> TemporalWorkOrders:
        """As the gateway and the CLI run it: an answer's writes confirmed at once, intake
        answered from the start on the calendar the worker uses (the database's schedules)."""
        return cls(client, task_queue, policy, search_attributes, confirm=partial(confirm, db),
                   deadlines=DeadlineCalculator(CalendarSource(db)).compute, remember=partial(remember_dispatch, db))

    def _start_options(self, inp: WorkOrderInput) -> dict[str, Any]:
        order_no, req, owner = inp.order_no, inp.intake, inp.owner
        return dict(
            id=order_workflow_id(order_no), task_queue=self.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,  # a closed order is never re-run
            search_attributes=start_attributes(order_no, req, owner) if self.search_attributes else None,
            memo={"stage": "intake", "owner": owner},
            static_summary=static_summary(order_no, req, owner),
            static_details=static_details(req),
        )

    async def _start_answered(self, inp: WorkOrderInput) -> OrderState | None:
        """Intake answered from the start: the dispatched order computed here with the calendar's
        deadlines, which the input carries, so the workflow reaches the same state (its first
        task writes it after this answer). None when the order was started before (a retried
        intake): the caller asks the workflow itself."""
        deadlines = self.deadlines
        assert deadlines is not None

        def dispatched() -> tuple[OrderState, DeadlineResult]:  # the calendar may read the database
            return rules.dispatched_order(
                inp.order_no, order_workflow_id(inp.order_no), inp.intake, inp.owner, inp.owner_reason, inp.routing,
                inp.created_at, self.policy, lambda items: deadlines(DeadlineRequest(policy=self.policy,
                                                                                     items=items)).values)

        state, given = await asyncio.to_thread(dispatched)
        inp = inp.model_copy(update={"deadlines": given})
        try:  # answered once the server has persisted the start: the order exists and will run
            await self.client.start_workflow(WorkOrderWorkflow.run, inp, **self._start_options(inp))
        except WorkflowAlreadyStartedError:
            return None
        if self.remember is not None:
            try:
                await asyncio.to_thread(self.remember, state)
            except Exception as exc:  # the order stands; its first write fills the read model
                log.warning("order %s: intake's answer not kept in the read model (%s)", inp.order_no,
                            type(exc).__name__)
        return state

    async def _confirmed(self, order_no: str, answer: ActionAnswer) -> OrderState:
        if self.confirm is not None and answer.writes:
            try:
                await asyncio.to_thread(self.confirm, order_no, answer.writes)
            except Exception as exc:  # the commit watcher confirms them later; the action stands
                log.warning("order %s: writes not confirmed at once (%s); the commit watcher will",
                            order_no, type(exc).__name__)
        return answer.state

    async def query_state(self, order_no: str) -> OrderState:
        """The running workflow's own state, by query: for debugging and tests only."""
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
            answer = await handle.execute_update(UPDATE_NAMES[action], payload, result_type=ActionAnswer)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError):
                raise ActionRefused(cause.message, cause.type or "InvalidAction") from None
            raise
        except RPCError as exc:
            # An action that lost the race to the one closing the order finds it completed, or
            # is aborted by the close (the server says NOT_FOUND for both): a refusal, not an
            # unknown order.
            msg = str(exc).lower()
            if "already completed" in msg or "aborted by closing workflow" in msg:
                raise ActionRefused(f"order {order_no} is closed; it takes no more actions", "InvalidAction") from None
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise OrderNotFound(order_no) from None
            raise
        return await self._confirmed(order_no, answer)

    async def review_strike(self, unit: str, review: StrikeReview) -> None:
        """Hand the hotline office's decision on a held strike to the unit's supervision workflow."""
        await self.client.start_workflow(
            "DepartmentSupervisionWorkflow", SupervisionInput(unit=unit, policy=self.policy),
            id=supervision_workflow_id(unit), task_queue=self.task_queue,
            start_signal="review_strike", start_signal_args=[review],
            static_summary=f"supervision ledger of {unit} (督办台账)")

    async def calendar_changed(self, order_no: str, change: CalendarChange) -> None:
        """A year's schedule was entered: the order recomputes the deadlines it touches."""
        try:
            await self.client.get_workflow_handle(order_workflow_id(order_no)).signal(
                WorkOrderWorkflow.calendar_changed, change)
        except RPCError as exc:
            if "already completed" not in str(exc).lower():
                raise  # a closed order has no deadline left to follow
