"""Activities that record steps: audit log, read model and the KPI tables.

Every write is keyed by (order_no, seq), so a retried activity (after a timeout or a worker
crash) finds its own earlier write and does nothing twice.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from temporalio import activity

from hotline.contracts import StepRecord
from hotline.models import OrderState
from hotline.store import Database
from hotline.store.tables import (
    ActionRow, CallbackRow, DispatchRow, OrderRow, ReturnRequestRow,
)


def _apply_state(row: OrderRow, st: OrderState, seq: int) -> None:
    row.workflow_id = st.workflow_id
    row.stage = st.stage.value
    row.owner = st.owner
    row.category = st.category.value
    row.urgency = st.urgency.value
    row.channel = st.channel.value
    row.title = st.title
    row.district = st.location.district
    row.petitioner_name = st.petitioner.name
    row.petitioner_phone = st.petitioner.phone
    row.created_at = st.created_at
    row.dispatched_at = st.dispatched_at
    row.signed_at = st.signed_at
    row.replied_at = st.replied_at
    row.reply_by = st.deadlines.reply_by
    row.replied_on_time = st.replied_on_time
    row.resolved = st.resolved
    row.closed_at = st.closed_at
    row.close_reason = st.close_reason
    row.overdue = st.overdue
    row.reopens = st.reopens
    row.return_count = st.return_count
    row.extension_days = st.extension_days
    row.state = st.model_dump(mode="json")
    row.last_seq = seq
    row.updated_at = datetime.now(timezone.utc)


class StoreActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name="record_step")
    def record_step(self, rec: StepRecord) -> None:
        st = rec.state
        with self.db.session() as s:
            done = s.scalar(
                select(ActionRow.id).where(ActionRow.order_no == st.order_no, ActionRow.seq == rec.seq)
            )
            if done is not None:
                return  # this step was recorded by an earlier attempt
            s.add(ActionRow(order_no=st.order_no, seq=rec.seq, action=rec.action, actor=rec.by,
                            at=rec.at, detail=rec.detail))
            row = s.get(OrderRow, st.order_no)
            if row is None:
                row = OrderRow(order_no=st.order_no)
                s.add(row)
            if (row.last_seq or 0) <= rec.seq:
                _apply_state(row, st, rec.seq)
            self._kpi_rows(s, rec)

    def _kpi_rows(self, s, rec: StepRecord) -> None:
        st, d = rec.state, rec.detail
        if rec.action in ("dispatch", "redispatch"):
            s.add(DispatchRow(order_no=st.order_no, seq=rec.seq, unit_code=st.owner,
                              dispatched_at=rec.at, sign_by=st.deadlines.sign_by))
        elif rec.action == "sign":
            disp = s.scalars(
                select(DispatchRow).where(DispatchRow.order_no == st.order_no)
                .order_by(DispatchRow.seq.desc()).limit(1)
            ).first()
            if disp is not None:
                disp.signed_at = rec.at
                disp.signed_on_time = bool(disp.sign_by is None or rec.at <= disp.sign_by)
        elif rec.action == "return-request":
            s.add(ReturnRequestRow(order_no=st.order_no, seq=rec.seq, unit_code=rec.by,
                                   claimed_unit=d["claimed_unit"], reason=d["reason"], basis=d["basis"],
                                   requested_at=rec.at, recommendation=d.get("recommendation") or {}))
        elif rec.action == "return-review":
            req = s.scalars(
                select(ReturnRequestRow).where(ReturnRequestRow.order_no == st.order_no)
                .order_by(ReturnRequestRow.seq.desc()).limit(1)
            ).first()
            if req is not None:
                req.decision, req.reviewer = d["decision"], rec.by
                req.review_reason, req.reviewed_at = d.get("reason"), rec.at
        elif rec.action in ("callback", "unrated"):
            s.add(CallbackRow(order_no=st.order_no, seq=rec.seq, unit_code=st.owner, at=rec.at,
                              answered=bool(d.get("answered")), resolved=d.get("resolved"),
                              satisfaction=d.get("satisfaction"), unrated=rec.action == "unrated"))

