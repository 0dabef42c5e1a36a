"""WorkOrderWorkflow (id `order-<order_no>`): one work order from intake to close (SPEC §3).

Department and hotline actions are updates. Each validator checks the transition table, the
actor and the deadlines, and raises without touching state, so a refused action never enters
history. Every handler then runs whole under the order's lock and re-runs its validator once it
holds it (`_exclusive`): of two clerks clicking at the same moment exactly one action applies,
the other gets the validator's refusal (409), and no workflow task fails on the race. Deadline
follow-ups take the same lock (workflows/timers.py).

Nothing on a product path queries this workflow: the gateway and the CLI read the read model
that every step writes, and the answer of the update they sent.
"""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from hotline import transitions
    from hotline.actor import ActorError, parse_actor
    from hotline.contracts import (
        ActionAnswer, DeadlineItem, ReturnRecommendation, ReturnRecommendationRequest, StaffFlag, WorkOrderInput,
    )
    from hotline.models import (
        CoHandlerDoneAction, CoHandlerState, ContactAction, CoordinationPlanAction, ExtensionRequestAction,
        ExtensionReviewAction, FlagStaffAction, OrderState, PendingRequest, ReplyAction, ReturnRequestAction,
        ReturnReviewAction, ReviewDecision, SignAction, Stage,
    )
    from hotline.masking import mask_text
    from workflows.calendar_follow import CalendarFollow
    from workflows.callbacks import Callbacks
    from workflows.merging import Merging
    from workflows.order_core import OrderCore, _reject, is_admin


@workflow.defn
class WorkOrderWorkflow(OrderCore, CalendarFollow, Merging, Callbacks):
    @workflow.init
    def __init__(self, inp: WorkOrderInput) -> None:
        self._setup(inp)

    @workflow.run
    async def run(self, inp: WorkOrderInput) -> OrderState:
        self._begin()
        async with self._exclusive(lambda _: None, None):  # no action before the first dispatch is recorded
            await self._step("intake", "hotline", {"channel": inp.intake.channel.value,
                                                   "category": inp.intake.category.value,
                                                   "urgency": inp.intake.urgency.value})
            await self._dispatch("dispatch", {"reason": inp.owner_reason})
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

    # ------------------------------------------------------------------ validation

    def _check(self, action: str, by: str) -> None:
        try:
            t = transitions.check(action, self.s.stage)
        except transitions.TransitionError as exc:
            raise _reject(str(exc)) from None
        try:  # typed: a unit acts as owner or co-handler, an admin only as the hotline office
            unit = parse_actor(by).unit
        except ActorError as exc:
            raise _reject(str(exc), "Forbidden") from None
        if t.actor == "owner" and unit != self.s.owner:
            raise _reject(f"only the owner {self.s.owner} may {action} order {self.s.order_no}; "
                          f"{by} may not", "Forbidden")
        if t.actor == "admin" and not is_admin(by):
            raise _reject(f"only the hotline office may {action}; {by} may not", "Forbidden")
        if t.actor == "co_handler" and unit not in {c.unit for c in self.s.co_handlers}:
            raise _reject(f"{by} is not a co-handler of order {self.s.order_no}", "Forbidden")

    # ------------------------------------------------------------------ sign, contact

    @workflow.update
    async def sign(self, a: SignAction) -> ActionAnswer:
        async with self._exclusive(self._v_sign, a):
            s = self.s
            s.stage, s.signed_at = Stage.signed, self._now()
            s.signed_late = bool(s.deadlines.sign_by and s.signed_at > s.deadlines.sign_by)
            d = await self._deadlines([
                DeadlineItem(name="contact_by", start=s.signed_at, limit=str(self.policy.contact_limit(s.urgency.value))),
                DeadlineItem(name="coordinate_by", start=s.signed_at, limit=str(self.policy.coordination_plan)),
            ], "contact and coordination deadlines after signing")
            s.deadlines.contact_by, s.deadlines.coordinate_by = d["contact_by"], d["coordinate_by"]
            owner = s.owner
            self.timers.arm("contact", d["contact_by"], lambda: s.contacted_at is not None or s.owner != owner,
                            self._contact_missed, f"first contact (先行联系) by {owner}")
            self.timers.arm("coordination", d["coordinate_by"],
                            lambda: bool(s.co_handlers) or s.owner != owner or s.stage == Stage.closed,
                            self._coordination_closed, f"coordination plan window (联办方案 12h) of {owner}")
            await self._step("sign", a.by, {"late": s.signed_late})
            return await self._answer()

    @sign.validator
    def _v_sign(self, a: SignAction) -> None:
        self._check("sign", a.by)

    async def _contact_missed(self, gen: int) -> None:
        s = self.s
        await self._notify("supervision", s.owner, f"petitioner of {s.order_no} not contacted in time",
                           f"contact{gen}", cc="HOTLINE")
        await self._step("contact-overdue", "system", {"owner": s.owner})

    async def _coordination_closed(self, gen: int) -> None:
        self._coordination_open = False
        await self._step("coordination-window-closed", "system", {"owner": self.s.owner})

    @workflow.update
    async def contact(self, a: ContactAction) -> ActionAnswer:
        async with self._exclusive(self._v_contact, a):
            s = self.s
            s.contacted_at, s.stage = self._now(), Stage.handling if s.stage == Stage.signed else s.stage
            await self._step("contact", a.by, {"note": a.note})
            await self._notify("contact", "petitioner", f"您的工单{s.order_no}已由承办单位受理并联系您",
                               f"contact{self._seq}", note=a.note)
            for c in list(s.co_petitioners):  # told that the unit is on it; the note was for another
                await self._notify("contact", f"petitioner:{c.request_no}",
                                   f"您反映的问题（{c.request_no}）已并入工单{s.order_no}，承办单位已受理办理", f"contact{self._seq}")
            return await self._answer()

    @contact.validator
    def _v_contact(self, a: ContactAction) -> None:
        self._check("contact", a.by)

    # ------------------------------------------------------------------ co-handling (联办)

    @workflow.update
    async def coordination_plan(self, a: CoordinationPlanAction) -> ActionAnswer:
        async with self._exclusive(self._v_plan, a):
            s = self.s
            s.co_handlers = [CoHandlerState(unit=c.unit, task=c.task, due=c.due) for c in a.co_handlers]
            await self._step("coordination-plan", a.by, {"plan": a.plan, "co_handlers": [
                {"unit": c.unit, "task": c.task, "due": c.due.isoformat()} for c in a.co_handlers]})
            for c in s.co_handlers:
                unit = c.unit
                self.timers.arm(f"co:{unit}", c.due, lambda u=unit: self._co(u).done or s.stage == Stage.closed,
                                lambda gen, u=unit: self._co_missed(u, gen), f"co-handler {unit} promised by")
                await self._notify("co-handling", unit, f"co-handle order {s.order_no} for {s.owner}: {c.task}",
                                   f"plan{self._seq}", due=c.due.isoformat(), owner=s.owner)
            return await self._answer()

    @coordination_plan.validator
    def _v_plan(self, a: CoordinationPlanAction) -> None:
        self._check("coordination-plan", a.by)
        s = self.s
        if s.co_handlers:
            raise _reject(f"order {s.order_no} already has a coordination plan")
        if not self._coordination_open or (s.deadlines.coordinate_by and self._now() > s.deadlines.coordinate_by):
            raise _reject(f"the coordination plan was due by {s.deadlines.coordinate_by.isoformat()} "
                          "(12h after signing); coordinate directly and reply as owner")
        units = [c.unit for c in a.co_handlers]
        if len(set(units)) != len(units):
            raise _reject("each co-handler may appear once in the plan")
        for c in a.co_handlers:
            if c.unit in (s.owner, "HOTLINE"):
                raise _reject(f"{c.unit} cannot be a co-handler of this order")
            if c.due <= self._now():
                raise _reject(f"the promised completion time for {c.unit} is already past")

    def _co(self, unit: str) -> CoHandlerState:
        return next(c for c in self.s.co_handlers if c.unit == unit)

    async def _co_missed(self, unit: str, gen: int) -> None:
        c = self._co(unit)
        c.supervised = True
        await self._notify("supervision", unit, f"co-handling task on {self.s.order_no} missed its promise",
                           f"co{gen}", owner=self.s.owner)
        await self._notify("co-handler-overdue", self.s.owner, f"co-handler {unit} missed its promise",
                           f"co:{unit}:{gen}")
        await self._step("co-handler-overdue", "system", {"unit": unit})

    @workflow.update
    async def co_handler_done(self, a: CoHandlerDoneAction) -> ActionAnswer:
        async with self._exclusive(self._v_co_done, a):
            c = self._co(a.by)
            c.done, c.done_at = True, self._now()
            await self._step("co-handler-done", a.by, {"note": a.note, "late": c.done_at > c.due})
            await self._notify("co-handler-done", self.s.owner, f"{a.by} reports its task done", f"done{self._seq}",
                               note=a.note)
            return await self._answer()

    @co_handler_done.validator
    def _v_co_done(self, a: CoHandlerDoneAction) -> None:
        self._check("co-handler-done", a.by)
        if self._co(a.by).done:
            raise _reject(f"{a.by} already reported its task done")

    # ------------------------------------------------------------------ extension (延期)

    @workflow.update
    async def extension_request(self, a: ExtensionRequestAction) -> ActionAnswer:
        async with self._exclusive(self._v_ext, a):
            s = self.s
            s.pending = PendingRequest(kind="extension", by=a.by, at=self._now(), payload=a.model_dump(mode="json"))
            await self._step("extension-request", a.by, {"days": a.days, "reason": a.reason})
            await self._notify("extension-request", "HOTLINE", f"{a.by} asks {a.days}wd more on {s.order_no}",
                               f"ext{self._seq}", reason=a.reason)
            return await self._answer()

    @extension_request.validator
    def _v_ext(self, a: ExtensionRequestAction) -> None:
        self._check("extension-request", a.by)
        s, cap = self.s, self.policy.max_extension_days
        if s.pending is not None:
            raise _reject(f"a {s.pending.kind} request is already waiting for review")
        if s.deadlines.reply_by and self._now() >= s.deadlines.reply_by:
            raise _reject("an extension must be requested before the handling deadline")
        if s.extension_days + a.days > cap:
            raise _reject(f"extension of {a.days}wd would exceed the {cap}wd allowed per order "
                          f"({s.extension_days}wd already granted)")

    @workflow.update
    async def extension_review(self, a: ExtensionReviewAction) -> ActionAnswer:
        async with self._exclusive(self._v_ext_review, a):
            s = self.s
            req, s.pending = s.pending, None
            days = int(req.payload["days"])
            if a.decision == ReviewDecision.approve:
                s.extension_days += days
                old = s.deadlines.reply_by
                ext = str(self.policy.extension_for(days))
                base = list(self._recipes.get("reply_by", []))  # the chain before this extension
                d = await self._deadlines([
                    DeadlineItem(name="reply_by", start=old, limit=ext),
                    DeadlineItem(name="remind_at", start=old, limit=ext, fraction=self.policy.reminder_fraction),
                ], f"handling deadline extended by {days}wd")
                s.deadlines.reply_by, s.deadlines.remind_at = d["reply_by"], d["remind_at"]
                self._extend_recipes(base, old, ext, self.policy.reminder_fraction)
                self._arm_handling(d["remind_at"], d["reply_by"])
            await self._step("extension-review", a.by, {"decision": a.decision.value, "reason": a.reason,
                                                        "days": days, "reply_by": s.deadlines.reply_by.isoformat()})
            await self._notify("extension-review", s.owner, f"extension {a.decision.value}d: {a.reason}",
                               f"extrev{self._seq}", reply_by=s.deadlines.reply_by.isoformat())
            return await self._answer()

    @extension_review.validator
    def _v_ext_review(self, a: ExtensionReviewAction) -> None:
        self._check("extension-review", a.by)
        if self.s.pending is None or self.s.pending.kind != "extension":
            raise _reject("no extension request is waiting for review")

    # ------------------------------------------------------------------ return (退单)

    @workflow.update
    async def return_request(self, a: ReturnRequestAction) -> ActionAnswer:
        async with self._exclusive(self._v_return, a):
            s = self.s
            self._stage_before_return = s.stage
            s.stage, s.return_count = Stage.return_review, s.return_count + 1
            s.pending = PendingRequest(kind="return", by=a.by, at=self._now(), payload=a.model_dump(mode="json"))
            rec: ReturnRecommendation = await self._act("recommend_return", ReturnRecommendationRequest(
                order_no=s.order_no, requesting_unit=a.by, claimed_unit=a.claimed_unit,
                text=f"{s.title} {s.description}", category=s.category.value, district=s.location.district,
            ), f"recommendation on {a.by}'s return request", result_type=ReturnRecommendation)
            s.pending.payload["recommendation"] = rec.model_dump(mode="json")
            await self._step("return-request", a.by, {"reason": a.reason, "claimed_unit": a.claimed_unit,
                                                      "basis": a.basis, "recommendation": rec.model_dump(mode="json")})
            await self._notify("return-request", "HOTLINE", f"{a.by} asks to return {s.order_no} to "
                               f"{a.claimed_unit}; recommendation: {rec.decision}", f"ret{self._seq}")
            return await self._answer()

    @return_request.validator
    def _v_return(self, a: ReturnRequestAction) -> None:
        self._check("return-request", a.by)
        s = self.s
        if s.pending is not None:
            raise _reject(f"a {s.pending.kind} request is already waiting for review")
        if s.deadlines.return_until and self._now() > s.deadlines.return_until:
            raise _reject(f"the return window closed at {s.deadlines.return_until.isoformat()}; "
                          "under first-contact responsibility the owner keeps the order")
        if a.claimed_unit in (s.owner, "HOTLINE"):
            raise _reject(f"{a.claimed_unit} cannot be the unit claimed responsible")

    @workflow.update
    async def return_review(self, a: ReturnReviewAction) -> ActionAnswer:
        async with self._exclusive(self._v_return_review, a):
            s = self.s
            req, s.pending = s.pending, None
            requester = req.by
            if a.decision == ReviewDecision.approve:
                new_owner = a.new_owner or req.payload["claimed_unit"]
                s.previous_owners.append(s.owner)
                s.owner = new_owner
                self.timers.disarm_all()
                await self._step("return-review", a.by, {"decision": "approve", "reason": a.reason,
                                                         "new_owner": new_owner, "released": requester})
                await self._notify("return-approved", requester, f"return of {s.order_no} approved; released",
                                   f"retrev{self._seq}")
                await self._dispatch("redispatch", {"reason": "return approved", "from": requester})
            else:
                s.stage = self._stage_before_return or Stage.dispatched
                await self._step("return-review", a.by, {"decision": "reject", "reason": a.reason})
                await self._notify("return-rejected", requester, f"return of {s.order_no} rejected (无效退单): {a.reason}",
                                   f"retrev{self._seq}")
                await self._strike("invalid_return", requester, f"return{self._seq}", a.reason)
            return await self._answer()

    @return_review.validator
    def _v_return_review(self, a: ReturnReviewAction) -> None:
        self._check("return-review", a.by)
        if self.s.pending is None or self.s.pending.kind != "return":
            raise _reject("no return request is waiting for review")
        if a.decision == ReviewDecision.approve and a.new_owner in (self.s.owner, "HOTLINE"):
            raise _reject(f"{a.new_owner} cannot become the new owner")

    # ------------------------------------------------------------------ reply (then the callback: workflows/callbacks.py)

    @workflow.update
    async def reply(self, a: ReplyAction) -> ActionAnswer:
        async with self._exclusive(self._v_reply, a):
            s = self.s
            s.stage, s.replied_at = Stage.replied, self._now()
            s.replied_on_time = bool(s.deadlines.reply_by is None or s.replied_at <= s.deadlines.reply_by)
            s.resolved, s.reply_result = a.resolved, a.result
            for name in ("reminder", "supervision", "escalation", "contact", "coordination"):
                self.timers.disarm(name)
            await self._step("reply", a.by, {"result": a.result, "resolved": a.resolved,
                                             "on_time": s.replied_on_time})
            await self._notify("reply", "HOTLINE", f"{a.by} replied on {s.order_no}", f"reply{self._seq}",
                               resolved=a.resolved)
            await self._notify("reply", "petitioner", f"您的工单{s.order_no}已办结答复：{a.result}", f"reply{self._seq}")
            shown = mask_text(a.result, s.petitioner.name, s.petitioner.phone)  # not the other petitioner's data
            for c in list(s.co_petitioners):
                await self._notify("reply", f"petitioner:{c.request_no}",
                                   f"您反映的问题（{c.request_no}，已并入工单{s.order_no}）已办结答复：{shown}", f"reply{self._seq}")
            await self._start_callback()
            return await self._answer()

    @reply.validator
    def _v_reply(self, a: ReplyAction) -> None:
        self._check("reply", a.by)
        if self.s.pending is not None:
            raise _reject(f"a {self.s.pending.kind} request is waiting for review")

    # ------------------------------------------------------------------ staff referral

    @workflow.update
    async def flag_staff(self, a: FlagStaffAction) -> ActionAnswer:
        async with self._exclusive(self._v_flag, a):
            s = self.s
            await self._step("flag-staff", a.by, {"staff": a.staff, "reason": a.reason})
            await self._write()  # the step stands before the referral leaves the order
            await self._act("flag_staff", StaffFlag(
                key=f"{s.order_no}:staff:{a.staff}:{self._seq}", unit=s.owner, staff=a.staff, order_no=s.order_no,
                at=self._now(), reason=a.reason, flagged_by=a.by,
                evidence={"actions": [x.model_dump(mode="json") for x in s.actions],
                          "notices": [n.model_dump(mode="json") for n in s.notices]},
            ), f"staff referral of {a.staff}")
            return await self._answer()

    @flag_staff.validator
    def _v_flag(self, a: FlagStaffAction) -> None:
        self._check("flag-staff", a.by)
