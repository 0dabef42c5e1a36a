"""并单: requests about the same matter merged into one order, and their petitioners.

A merged request keeps its own number and petitioner (a co-petitioner of the order). The order
arms no new deadline for it; every co-petitioner is told what the order's own petitioner is
told (contact, reply, survey), and asked for a callback of their own (workflows/callbacks.py).
"""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from hotline.contracts import ActionAnswer
    from hotline.models import CoPetitioner, MergeAction, Stage, UnmergeAction
    from workflows.order_core import _reject

# A bound on the order's state (every co-petitioner is in it): a matter reported more often
# than this is a public incident, handled by the hotline office outside one order.
MAX_CO_PETITIONERS = 200


class Merging:
    """Mixed into WorkOrderWorkflow (needs OrderCore's state and helpers, and Callbacks')."""

    # ------------------------------------------------------------------ merge, unmerge

    @workflow.update
    async def merge(self, a: MergeAction) -> ActionAnswer:
        async with self._exclusive(self._v_merge, a):
            s = self.s
            co = CoPetitioner(request_no=a.request_no, name=a.petitioner.name, phone=a.petitioner.phone,
                              channel=a.channel, merged_at=self._now())
            s.co_petitioners.append(co)
            await self._step("merge", a.by, {"request_no": a.request_no, "note": a.note, "operator": a.operator,
                                             "co_petitioners": len(s.co_petitioners)})
            await self._notify("merge", s.owner, f"request {a.request_no} merged into order {s.order_no} (并单): "
                               "the same matter, no new deadline", f"merge:{a.request_no}", request_no=a.request_no)
            await self._notify("merged", f"petitioner:{a.request_no}",
                               f"您反映的问题（{a.request_no}）与工单{s.order_no}为同一事项，已并入统一办理；"
                               f"可凭{a.request_no}和手机号后四位查询进展", f"merge:{a.request_no}")
            return await self._answer()

    @merge.validator
    def _v_merge(self, a: MergeAction) -> None:
        self._check("merge", a.by)
        s = self.s
        if a.request_no == s.order_no or any(c.request_no == a.request_no for c in s.co_petitioners):
            raise _reject(f"request {a.request_no} is already part of order {s.order_no}")
        if len(s.co_petitioners) >= MAX_CO_PETITIONERS:
            raise _reject(f"order {s.order_no} already has {MAX_CO_PETITIONERS} merged requests")

    @workflow.update
    async def unmerge(self, a: UnmergeAction) -> ActionAnswer:
        async with self._exclusive(self._v_unmerge, a):
            s = self.s
            s.co_petitioners = [c for c in s.co_petitioners if c.request_no != a.request_no]
            await self._step("unmerge", a.by, {"request_no": a.request_no, "reason": a.reason,
                                               "co_petitioners": len(s.co_petitioners)})
            await self._notify("unmerge", s.owner, f"request {a.request_no} taken out of order {s.order_no} "
                               f"(取消并单): {a.reason}", f"unmerge:{a.request_no}:{self._seq}", request_no=a.request_no)
            if s.stage == Stage.callback and self._all_answered():
                await self._decide_callback()  # the one still to answer has left the order
            return await self._answer()

    @unmerge.validator
    def _v_unmerge(self, a: UnmergeAction) -> None:
        self._check("unmerge", a.by)
        if not any(c.request_no == a.request_no for c in self.s.co_petitioners):
            raise _reject(f"request {a.request_no} is not merged into order {self.s.order_no}")

    # ------------------------------------------------------------------ petitioners' notices

    async def _tell_petitioners(self, kind: str, fact: str, own: str, merged: str, **body) -> None:
        """One notice to the order's own petitioner (`own`, formatted with the order number) and
        one to each co-petitioner (`merged`, formatted with their request number too)."""
        s = self.s
        await self._notify(kind, "petitioner", own.format(order=s.order_no), fact, **body)
        for c in list(s.co_petitioners):
            await self._notify(kind, f"petitioner:{c.request_no}",
                               merged.format(order=s.order_no, request=c.request_no), fact, **body)

    def _phone_of(self, to: str) -> str | None:
        if to == "petitioner":
            return self.s.petitioner.phone
        if to.startswith("petitioner:"):
            no = to.split(":", 1)[1]
            return next((c.phone for c in self.s.co_petitioners if c.request_no == no), None)
        return None
