"""DepartmentSupervisionWorkflow (id `supervision-<unit>`): one unit's escalation ledger.

Strikes and staff flags arrive as signals (signal-with-start). The ladder is pure domain
code (hotline.domain.supervision); this workflow orders the facts and records each through an
activity. It continues as new at the turn of the year (fresh tallies; the database keeps
last year's) and whenever the SDK suggests it, after draining its handlers and queue.
"""
from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

# Workflow code of our own is imported normally, so the SDK's sandbox (when on) checks it too;
# only deterministic libraries, the domain and activity references are passed through.
from workflows.order_core import ACTIVITY_TIMEOUT, RETRY

with workflow.unsafe.imports_passed_through():
    from activities.supervision import SupervisionActivities
    from hotline.domain.contracts import StaffFlag, Strike, StrikeReview
    from hotline.domain.supervision import (
        Ledger,
        LedgerEvent,
        SupervisionInput,
        apply_staff_flag,
        apply_strike,
        local_year,
        next_year_start,
        review_strike,
    )



@workflow.defn
class DepartmentSupervisionWorkflow:
    @workflow.init
    def __init__(self, inp: SupervisionInput) -> None:
        self.inp = inp
        year = local_year(workflow.now(), inp.policy.timezone)
        self.ledger = inp.ledger if inp.ledger and inp.ledger.year == year else Ledger(unit=inp.unit, year=year)
        self.queue: list[Strike | StaffFlag | StrikeReview] = []

    @workflow.signal
    def strike(self, s: Strike) -> None:
        self.queue.append(s)

    @workflow.signal
    def staff_flag(self, f: StaffFlag) -> None:
        self.queue.append(f)

    @workflow.signal
    def review_strike(self, r: StrikeReview) -> None:
        """The hotline office confirms or voids a strike held because its deadline was provisional."""
        self.queue.append(r)

    @workflow.query
    def ledger_state(self) -> Ledger:
        return self.ledger

    @workflow.query
    def tallies(self) -> dict:
        return self.ledger.tallies()

    async def _record(self, ev: LedgerEvent) -> None:
        await workflow.execute_activity_method(SupervisionActivities.record_ledger_event, ev,
                                               start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY,
                                               summary=f"{ev.kind}: {ev.title}"[:200])

    def _details(self) -> None:
        t = self.ledger.tallies()
        workflow.set_current_details(
            f"**{t['unit']}** {t['year']}: {t['strikes']} strikes, {t['criticisms']} criticisms"
            + (", **referred to the discipline commission**" if t["referred"] else ""))

    @workflow.run
    async def run(self, inp: SupervisionInput) -> None:
        tz = inp.policy.timezone
        self._details()
        while True:
            new_year = next_year_start(self.ledger.year, tz)
            wait = max((new_year - workflow.now()).total_seconds(), 0)
            try:
                await workflow.wait_condition(lambda: bool(self.queue)
                                              or workflow.info().is_continue_as_new_suggested(),
                                              timeout=timedelta(seconds=wait) if wait else 0.001,
                                              timeout_summary=f"new year {self.ledger.year + 1}: ledger starts at zero")
            except TimeoutError:
                pass
            while self.queue:
                item = self.queue.pop(0)
                now = workflow.now()
                if isinstance(item, Strike):
                    events = apply_strike(self.ledger, item, inp.policy, now)
                elif isinstance(item, StrikeReview):
                    events = review_strike(self.ledger, item, inp.policy, now)
                else:
                    events = apply_staff_flag(self.ledger, item)
                for ev in events:
                    await self._record(ev)
                self._details()
            year_over = local_year(workflow.now(), tz) > self.ledger.year
            if year_over or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self.queue:
                    continue  # drain late signals before handing over
                carry = None if year_over else self.ledger
                workflow.continue_as_new(SupervisionInput(unit=inp.unit, policy=inp.policy, ledger=carry))
