"""The callback (回访) after a reply, and what it leads to: close, or reopen (重办).

An order with one petitioner is decided by that petitioner's answer. With co-petitioners (并单,
workflows/merging.py) each answers for themselves and the outcome is decided from everyone who
answered, once all have answered or the answer window closes: resolved and dissatisfied by the
majority, exactly as one answer decides an order with one petitioner (whose path, and commands,
are unchanged).
"""
from __future__ import annotations

from collections import Counter

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from hotline.contracts import ActionAnswer, DeadlineItem
    from hotline.models import CallbackAction, CallbackResult, Satisfaction, Stage
    from workflows.order_core import _reject


class Callbacks:
    """Mixed into WorkOrderWorkflow (needs OrderCore's state and helpers)."""

    _own_answer: CallbackResult | None = None  # the order's own petitioner, with co-petitioners

    async def _start_callback(self) -> None:
        s, p = self.s, self.policy
        d = await self._deadlines([
            DeadlineItem(name="callback_by", start=s.replied_at, limit=str(p.callback_call)),
            DeadlineItem(name="answer_by", start=s.replied_at, limit=str(p.callback_answer)),
        ], "callback window (回访)")
        s.deadlines.callback_by, s.deadlines.answer_by = d["callback_by"], d["answer_by"]
        s.stage, s.callback = Stage.callback, None
        self._reset_answers()
        rated = lambda: s.callback is not None and s.callback.answered  # noqa: E731
        self.timers.arm("callback", d["callback_by"], rated, self._callback_late, "hotline callback due (回访)")
        self.timers.arm("answer", d["answer_by"], rated, self._unrated, "petitioner answer window")
        await self._step("callback-start", "hotline", {"callback_by": d["callback_by"].isoformat()})
        await self._tell_petitioners("survey", f"survey{self._seq}", "请评价工单{order}的办理：是否解决？是否满意？",
                                     "请评价您反映的问题（{request}，已并入工单{order}）的办理：是否解决？是否满意？")

    async def _callback_late(self, gen: int) -> None:
        await self._notify("reminder", "HOTLINE", f"callback on {self.s.order_no} is due", f"callback{gen}")
        await self._step("callback-overdue", "system", {})

    async def _unrated(self, gen: int) -> None:
        s = self.s
        if s.co_petitioners and self._answers():  # some answered: they decide
            await self._decide_callback()
            return
        s.callback = CallbackResult(answered=False, unrated=True, at=self._now())
        await self._step("unrated", "system", {"answered": False})
        await self._close("unrated")

    @workflow.update
    async def callback(self, a: CallbackAction) -> ActionAnswer:
        async with self._exclusive(self._v_callback, a):
            s = self.s
            if s.co_petitioners or a.request_no is not None:  # 并单: one answer per petitioner
                await self._petitioner_callback(a)
                return await self._answer()
            if not a.answered:
                await self._step("callback", a.by, {"answered": False})
                return await self._answer()
            s.callback = CallbackResult(answered=True, resolved=a.resolved, satisfaction=a.satisfaction, at=self._now())
            self.timers.disarm("callback")
            self.timers.disarm("answer")
            await self._step("callback", a.by, {"answered": True, "resolved": a.resolved,
                                                "satisfaction": a.satisfaction.value})
            await self._after_callback(a.resolved, a.satisfaction)
            return await self._answer()

    async def _after_callback(self, resolved: bool | None, satisfaction: Satisfaction | None) -> None:
        s = self.s
        # Dissatisfied and unresolved → back to the same owner (重办), at most max_reopens times.
        if resolved is False and satisfaction == Satisfaction.dissatisfied:
            if s.reopens < self.policy.max_reopens:
                await self._reopen()
            else:
                await self._notify("supervision", s.owner, f"{s.order_no} closed unresolved after "
                                   f"{s.reopens} reopens", "reopens", cc="HOTLINE")
                await self._close("escalated")
        else:
            await self._close("resolved" if resolved else "unresolved")

    @callback.validator
    def _v_callback(self, a: CallbackAction) -> None:
        self._check("callback", a.by)
        if a.answered and (a.resolved is None or a.satisfaction is None):
            raise _reject("an answered callback needs resolved and satisfaction")
        self._v_co_callback(a)

    async def _reopen(self) -> None:
        s, p = self.s, self.policy
        s.reopens += 1
        s.stage, s.replied_at, s.replied_on_time, s.overdue = Stage.reopened, None, None, False
        now = self._now()
        handling = p.handling_limit(s.category.value, s.urgency.value)
        d = await self._deadlines([
            DeadlineItem(name="reply_by", start=now, limit=str(handling)),
            DeadlineItem(name="remind_at", start=now, limit=str(handling), fraction=p.reminder_fraction),
        ], f"fresh handling deadline for reopen {s.reopens}")
        s.deadlines.reply_by, s.deadlines.remind_at = d["reply_by"], d["remind_at"]
        s.deadlines.callback_by = s.deadlines.answer_by = s.deadlines.escalate_at = None
        self._arm_handling(d["remind_at"], d["reply_by"])
        await self._step("reopen", "hotline", {"reopens": s.reopens, "reply_by": d["reply_by"].isoformat()})
        await self._notify("reopen", s.owner, f"order {s.order_no} reopened (重办) after callback",
                           f"reopen{s.reopens}", reply_by=d["reply_by"].isoformat())

    async def _close(self, reason: str) -> None:
        s = self.s
        s.stage, s.closed_at, s.close_reason = Stage.closed, self._now(), reason
        self.timers.disarm_all()
        await self._step("close", "hotline", {"reason": reason})

    # ------------------------------------------------------------------ callback per petitioner

    def _v_co_callback(self, a: CallbackAction) -> None:
        if a.request_no is None:
            if self.s.co_petitioners and self._own_answer is not None:
                raise _reject(f"the petitioner of {self.s.order_no} has already answered the callback")
            return
        co = next((c for c in self.s.co_petitioners if c.request_no == a.request_no), None)
        if co is None:
            raise _reject(f"request {a.request_no} is not merged into order {self.s.order_no}")
        if co.callback is not None and co.callback.answered:
            raise _reject(f"the petitioner of {a.request_no} has already answered the callback")

    async def _petitioner_callback(self, a: CallbackAction) -> None:
        """A callback on an order with co-petitioners: recorded per petitioner; decided once all
        have answered."""
        result = CallbackResult(answered=a.answered, resolved=a.resolved, satisfaction=a.satisfaction,
                                at=self._now())
        if a.request_no is None:
            self._own_answer = result if a.answered else self._own_answer
        else:
            co = next(c for c in self.s.co_petitioners if c.request_no == a.request_no)
            co.callback = result if a.answered else co.callback
        await self._step("petitioner-callback", a.by, {
            "request_no": a.request_no, "answered": a.answered, "resolved": a.resolved,
            "satisfaction": a.satisfaction.value if a.satisfaction else None})
        if a.answered and self._all_answered():
            await self._decide_callback()

    def _answers(self) -> list[CallbackResult]:
        own = [self._own_answer] if self._own_answer is not None and self._own_answer.answered else []
        return own + [c.callback for c in self.s.co_petitioners if c.callback is not None and c.callback.answered]

    def _all_answered(self) -> bool:
        return len(self._answers()) == 1 + len(self.s.co_petitioners)

    def _reset_answers(self) -> None:
        """A new callback round (after a reopen): everyone is asked again."""
        self._own_answer = None
        for c in self.s.co_petitioners:
            c.callback = None

    async def _decide_callback(self) -> None:
        """The order's callback outcome from everyone who answered: the majority's resolved and
        satisfaction (ties: not resolved, the less satisfied), then close or reopen as for one."""
        s, answers = self.s, self._answers()
        n = len(answers)
        resolved = sum(1 for r in answers if r.resolved) * 2 > n
        order = [Satisfaction.dissatisfied, Satisfaction.basically_satisfied, Satisfaction.satisfied]
        counts = Counter(r.satisfaction for r in answers)
        satisfaction = max(order, key=lambda v: (counts[v], -order.index(v)))
        s.callback = CallbackResult(answered=True, resolved=resolved, satisfaction=satisfaction, at=self._now())
        self.timers.disarm("callback")
        self.timers.disarm("answer")
        await self._step("callback", "hotline", {
            "answered": True, "resolved": resolved, "satisfaction": satisfaction.value, "petitioners": 1 + len(
                s.co_petitioners), "answers": n,
            "satisfied": counts[Satisfaction.satisfied] + counts[Satisfaction.basically_satisfied]})
        await self._after_callback(resolved, satisfaction)
