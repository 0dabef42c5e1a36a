"""Activities of the escalation ladder: deliver strikes, record ledger facts, issue documents.

`send_strike` uses signal-with-start, so the unit's supervision workflow exists on demand.
Ledger writes are keyed; a retried or replayed activity finds its key and writes nothing.
"""
from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from hotline.domain.contracts import StaffFlag, Strike
from hotline.domain.policy import Policy
from hotline.domain.supervision import LedgerEvent, SupervisionInput, supervision_workflow_id
from hotline.runtime.faults import crash_point
from hotline.store import Database
from hotline.store.ledger import record_event


class SupervisionActivities:
    def __init__(self, db: Database, client: Client | None, task_queue: str, policy: Policy) -> None:
        self.db = db
        self.client = client
        self.task_queue = task_queue
        self.policy = policy

    async def _signal(self, unit: str, signal: str, arg) -> None:
        assert self.client is not None, "the worker runs supervision activities with its client"
        await self.client.start_workflow(
            "DepartmentSupervisionWorkflow", SupervisionInput(unit=unit, policy=self.policy),
            id=supervision_workflow_id(unit), task_queue=self.task_queue,
            start_signal=signal, start_signal_args=[arg],
            static_summary=f"supervision ledger of {unit} (督办台账)",
        )

    @activity.defn(name="send_strike")
    async def send_strike(self, strike: Strike) -> None:
        await self._signal(strike.unit, "strike", strike)

    @activity.defn(name="flag_staff")
    async def flag_staff(self, flag: StaffFlag) -> None:
        await self._signal(flag.unit, "staff_flag", flag)

    @activity.defn(name="record_ledger_event")
    def record_ledger_event(self, ev: LedgerEvent) -> bool:
        """Record a strike, criticism, referral or appendix once; send its documents once."""
        crash_point(f"ledger:{ev.kind}:before")
        if not record_event(self.db, ev):
            return False
        crash_point(f"ledger:{ev.kind}")  # recorded, but the completion never reaches the server
        return True
