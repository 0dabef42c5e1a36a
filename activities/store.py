"""Activities that record steps: audit log, read model and the KPI tables (the writes
themselves: hotline/store/recording.py)."""
from __future__ import annotations

from temporalio import activity

from hotline.domain.contracts import ActionWrite, StepRecord
from hotline.runtime.faults import crash_point
from hotline.store import Database
from hotline.store.outbox import enqueue
from hotline.store.recording import WRITTEN, insert_step, kpi_rows, new_token, write_order, write_state

__all__ = ["StoreActivities", "new_token", "write_state"]


class StoreActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name="record_step")
    def record_step(self, rec: StepRecord) -> str | None:
        """Returns the token of the execution whose write stands (local activities, see
        hotline/store/commits.py); None for a regular activity."""
        st, w = rec.state, rec.wft
        token = new_token() if w is not None else None
        with self.db.writer() as s:
            stale = insert_step(s, st, rec, w, token)
            if stale is not WRITTEN:
                return stale
            write_order(s, st, rec.seq, w, token)
            kpi_rows(s, rec, st)
        return token

    @activity.defn(name="record_action")
    def record_action(self, act: ActionWrite) -> str:
        """One action's steps, notices and read-model row in one transaction (the
        `one-write-per-action` patch): one local activity instead of one per step and notice.
        Returns the token of this execution, held until the history records it."""
        st, w = act.state, act.wft
        token = new_token()
        with self.db.writer() as s:
            for entry in act.steps:
                stale = insert_step(s, st, entry, w, token)
                if stale is not WRITTEN:  # a later task already wrote this order: not ours to write
                    s.rollback()
                    return stale
                kpi_rows(s, entry, st)
            for req in act.notices:
                enqueue(s, req.model_copy(update={"wft": w}), token)
            write_order(s, st, act.seq, w, token)
        # written, but the completion never reaches the server (the points of `notify` too)
        for point in ["record_action"] + [f"notify:{n.kind}" for n in act.notices]:
            crash_point(point)
        return token

    @activity.defn(name="sync_read_model")
    def sync_read_model(self, rec: StepRecord) -> str:
        """The read model from the order's own state, after a write of a task that never
        committed was found (hotline/store/commits.py): no audit step, no KPI row."""
        token = new_token()
        with self.db.writer() as s:
            write_state(s, rec.state, rec.seq, rec.wft, token)
        return token
