"""WorkOrderWorkflow (id `order-<order_no>`): one work order from intake to close (SPEC §3).

Department and hotline actions are updates. What each one may do and what it does are the
order rules' (hotline/domain/order_rules): the validator runs the rule's check, which raises
without touching state, so a refused action never enters history. Every handler then runs
whole under the order's lock and re-runs its check once it holds it (`_exclusive`): of two
clerks clicking at the same moment exactly one action applies, the other gets the check's
refusal (409), and no workflow task fails on the race. Deadline follow-ups take the same lock
(workflows/timers.py).

Nothing on a product path queries this workflow: the gateway and the CLI read the read model
that every step writes, and the answer of the update they sent.
"""
from __future__ import annotations

from temporalio import workflow

# Workflow code of our own is imported normally, so the SDK's sandbox (when on) checks it too;
# only deterministic libraries, the domain and activity references are passed through.
from workflows.calendar_follow import CalendarFollow
from workflows.order_core import OrderCore

with workflow.unsafe.imports_passed_through():
    from hotline.domain import order_rules as rules
    from hotline.domain.contracts import ActionAnswer, WorkOrderInput
    from hotline.domain.models import (
        CallbackAction,
        CoHandlerDoneAction,
        ContactAction,
        CoordinationPlanAction,
        ExtensionRequestAction,
        ExtensionReviewAction,
        FlagStaffAction,
        MergeAction,
        OrderState,
        ReplyAction,
        ReturnRequestAction,
        ReturnReviewAction,
        SignAction,
        Stage,
        UnmergeAction,
    )


@workflow.defn
class WorkOrderWorkflow(OrderCore, CalendarFollow):
    @workflow.init
    def __init__(self, inp: WorkOrderInput) -> None:
        self._setup(inp)

    @workflow.run
    async def run(self, inp: WorkOrderInput) -> OrderState:
        self._begin()
        async with self._exclusive(lambda _: None, None):  # no action before the first dispatch is recorded
            await self._drive(rules.intake(self._at_once(self._intake_at()), inp.owner_reason))
        self._ready = True  # once the action let go: its write is made (ONE_WRITE) and published
        await workflow.wait_condition(
            lambda: self.s.stage == Stage.closed and not self.timers.busy()
            and workflow.all_handlers_finished()
        )
        self.timers.disarm_all()
        return self.s

    @workflow.query
    def state(self) -> OrderState:
        """For debugging only: products read the read model (the namespace refuses queries)."""
        return self.s

    @workflow.update
    async def dispatched(self) -> ActionAnswer:
        """Returns once the order has been dispatched (so intake can answer with its deadlines)."""
        await workflow.wait_condition(lambda: self._ready)
        return self._answer_now()  # outside the order's lock: writes nothing of an action under way

    # ------------------------------------------------------------------ the actions (one per rule)

    @workflow.update
    async def sign(self, a: SignAction) -> ActionAnswer:
        return await self._perform("sign", a)

    @sign.validator
    def _v_sign(self, a: SignAction) -> None:
        self._check("sign", a)

    @workflow.update
    async def contact(self, a: ContactAction) -> ActionAnswer:
        return await self._perform("contact", a)

    @contact.validator
    def _v_contact(self, a: ContactAction) -> None:
        self._check("contact", a)

    @workflow.update
    async def coordination_plan(self, a: CoordinationPlanAction) -> ActionAnswer:
        return await self._perform("coordination-plan", a)

    @coordination_plan.validator
    def _v_plan(self, a: CoordinationPlanAction) -> None:
        self._check("coordination-plan", a)

    @workflow.update
    async def co_handler_done(self, a: CoHandlerDoneAction) -> ActionAnswer:
        return await self._perform("co-handler-done", a)

    @co_handler_done.validator
    def _v_co_done(self, a: CoHandlerDoneAction) -> None:
        self._check("co-handler-done", a)

    @workflow.update
    async def extension_request(self, a: ExtensionRequestAction) -> ActionAnswer:
        return await self._perform("extension-request", a)

    @extension_request.validator
    def _v_ext(self, a: ExtensionRequestAction) -> None:
        self._check("extension-request", a)

    @workflow.update
    async def extension_review(self, a: ExtensionReviewAction) -> ActionAnswer:
        return await self._perform("extension-review", a)

    @extension_review.validator
    def _v_ext_review(self, a: ExtensionReviewAction) -> None:
        self._check("extension-review", a)

    @workflow.update
    async def return_request(self, a: ReturnRequestAction) -> ActionAnswer:
        return await self._perform("return-request", a)

    @return_request.validator
    def _v_return(self, a: ReturnRequestAction) -> None:
        self._check("return-request", a)

    @workflow.update
    async def return_review(self, a: ReturnReviewAction) -> ActionAnswer:
        return await self._perform("return-review", a)

    @return_review.validator
    def _v_return_review(self, a: ReturnReviewAction) -> None:
        self._check("return-review", a)

    @workflow.update
    async def reply(self, a: ReplyAction) -> ActionAnswer:
        return await self._perform("reply", a)

    @reply.validator
    def _v_reply(self, a: ReplyAction) -> None:
        self._check("reply", a)

    @workflow.update
    async def callback(self, a: CallbackAction) -> ActionAnswer:
        return await self._perform("callback", a)

    @callback.validator
    def _v_callback(self, a: CallbackAction) -> None:
        self._check("callback", a)

    @workflow.update
    async def flag_staff(self, a: FlagStaffAction) -> ActionAnswer:
        return await self._perform("flag-staff", a)

    @flag_staff.validator
    def _v_flag(self, a: FlagStaffAction) -> None:
        self._check("flag-staff", a)

    @workflow.update
    async def merge(self, a: MergeAction) -> ActionAnswer:
        """并单: a request about the same matter joins the order, before its reply; no new deadline."""
        return await self._perform("merge", a)

    @merge.validator
    def _v_merge(self, a: MergeAction) -> None:
        self._check("merge", a)

    @workflow.update
    async def unmerge(self, a: UnmergeAction) -> ActionAnswer:
        """A wrong merge undone: the request leaves the order (it becomes an order of its own)."""
        return await self._perform("unmerge", a)

    @unmerge.validator
    def _v_unmerge(self, a: UnmergeAction) -> None:
        self._check("unmerge", a)
