"""Recording an order's steps: the audit rows, the read model and the KPI tables.

Every write is keyed by (order_no, seq), so a retried write (after a timeout or a worker crash)
finds its own earlier write and does nothing twice. The store activities (activities/store.py)
and the simulator's exact sink (hotline/simulation/sinks.py) both record through here.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import bindparam, or_, select

from hotline.domain.models import OrderState
from hotline.domain.order_rules.kinds import StepKind
from hotline.store.tables import ActionRow, CallbackRow, DispatchRow, OrderRow, ReturnRequestRow


def state_values(st: OrderState, seq: int) -> dict:
    """The read model's columns for an order in state `st` after step `seq`."""
    return dict(
        workflow_id=st.workflow_id, stage=st.stage.value, owner=st.owner, category=st.category.value,
        urgency=st.urgency.value, channel=st.channel.value, title=st.title, district=st.location.district,
        petitioner_name=st.petitioner.name, petitioner_phone=st.petitioner.phone, created_at=st.created_at,
        dispatched_at=st.dispatched_at, signed_at=st.signed_at, replied_at=st.replied_at,
        reply_by=st.deadlines.reply_by, replied_on_time=st.replied_on_time, resolved=st.resolved,
        closed_at=st.closed_at, close_reason=st.close_reason, overdue=st.overdue, reopens=st.reopens,
        return_count=st.return_count, extension_days=st.extension_days, state=st.model_dump(mode="json"),
        last_seq=seq, updated_at=datetime.now(timezone.utc),
    )


# Prepared once, with the values passed at execution: this runs ~8 times an order, and building
# ORM objects or statements with inline values for the wide orders row cost more than the writes.
_ORDERS, _ACTIONS = OrderRow.__table__, ActionRow.__table__
_STEP_ROW = select(_ACTIONS.c.id, _ACTIONS.c.wft, _ACTIONS.c.token).where(
    _ACTIONS.c.order_no == bindparam("o"), _ACTIONS.c.seq == bindparam("q"))
_ORDER_EXISTS = select(_ORDERS.c.order_no).where(_ORDERS.c.order_no == bindparam("o"))
# Steps may be recorded out of order (retries): an older step never overwrites a newer state.
_UPDATE_ORDER = _ORDERS.update().where(_ORDERS.c.order_no == bindparam("o"),
                                       or_(_ORDERS.c.last_seq.is_(None), _ORDERS.c.last_seq <= bindparam("q")))
# Local-activity writes carry their workflow task: the latest task's write wins, even at a lower
# step. A write of an earlier task (or an earlier attempt of the same one) came from a task that
# never committed, or this one would not be running (hotline/store/commits.py).
_UPDATE_ORDER_WFT = _ORDERS.update().where(
    _ORDERS.c.order_no == bindparam("o"), or_(_ORDERS.c.last_wft.is_(None), _ORDERS.c.last_wft <= bindparam("w")))
# Steps `seq` and later written by such a task: they did not happen.
_PHANTOM_STEPS = _ACTIONS.delete().where(_ACTIONS.c.order_no == bindparam("o"), _ACTIONS.c.seq >= bindparam("q"),
                                         _ACTIONS.c.wft <= bindparam("w"))


# The KPI rows of the happy path's steps (dispatch, sign, callback), prepared the same way.
_DISPATCHES = DispatchRow.__table__
_ADD_DISPATCH = _DISPATCHES.insert()
_LAST_DISPATCH = select(_DISPATCHES.c.id, _DISPATCHES.c.sign_by).where(_DISPATCHES.c.order_no == bindparam("o")) \
    .order_by(_DISPATCHES.c.seq.desc()).limit(1)
_SIGNED = _DISPATCHES.update().where(_DISPATCHES.c.id == bindparam("i")) \
    .values(signed_at=bindparam("at"), signed_on_time=bindparam("ok"))
_ADD_CALLBACK = CallbackRow.__table__.insert()


def new_token() -> str:
    """Names one execution of a local activity; returned into the history (hotline/store/commits.py)."""
    return "tok:" + uuid.uuid4().hex


def write_state(s, st: OrderState, seq: int, wft: int | None = None, token: str | None = None) -> None:
    """The order's read-model row as of step `seq`, unless a later step is already recorded."""
    values = {**state_values(st, seq), "last_wft": wft, "last_token": token, "o": st.order_no, "q": seq}
    s.execute(_UPDATE_ORDER if wft is None else _UPDATE_ORDER_WFT, {**values, "w": wft})


WRITTEN = object()


def insert_step(s, st: OrderState, rec, w: int | None, token: str | None):
    """The audit row of step `rec` (a StepRecord or StepEntry). `WRITTEN` once inserted; else
    the token of the write that stands instead (an earlier attempt of a regular activity, or a
    later task's write: this one is stale)."""
    done = s.execute(_STEP_ROW, {"o": st.order_no, "q": rec.seq}).first()
    if done is not None and (w is None or done.wft is None or done.wft > w):
        return done.token
    if w is not None and s.execute(_PHANTOM_STEPS, {"o": st.order_no, "q": rec.seq, "w": w}).rowcount:
        for t in (DispatchRow, ReturnRequestRow, CallbackRow):  # their KPI rows went with them
            s.execute(t.__table__.delete().where(t.order_no == st.order_no, t.seq >= rec.seq))
    s.execute(_ACTIONS.insert(), {"order_no": st.order_no, "seq": rec.seq, "action": rec.action,
                                  "actor": rec.by, "at": rec.at, "detail": rec.detail,
                                  "wft": w, "token": token, "confirmed": w is None})
    return WRITTEN


def write_order(s, st: OrderState, seq: int, w: int | None, token: str | None) -> None:
    """The read-model row as of step `seq` (created with the order's first step)."""
    values = {**state_values(st, seq), "last_wft": w, "last_token": token}
    upd = _UPDATE_ORDER if w is None else _UPDATE_ORDER_WFT
    if not s.execute(upd, {**values, "o": st.order_no, "q": seq, "w": w}).rowcount \
            and s.execute(_ORDER_EXISTS, {"o": st.order_no}).first() is None:
        s.execute(_ORDERS.insert(), {"order_no": st.order_no, **values})


def kpi_rows(s, rec, st: OrderState) -> None:
    """KPI rows of step `rec` (a StepRecord or StepEntry) of the order in state `st`."""
    d = rec.detail
    if rec.action in (StepKind.DISPATCH, StepKind.REDISPATCH):
        s.execute(_ADD_DISPATCH, {"order_no": st.order_no, "seq": rec.seq, "unit_code": st.owner,
                                  "dispatched_at": rec.at, "sign_by": st.deadlines.sign_by})
    elif rec.action == StepKind.SIGN:
        disp = s.execute(_LAST_DISPATCH, {"o": st.order_no}).first()
        if disp is not None:
            s.execute(_SIGNED, {"i": disp.id, "at": rec.at,
                                "ok": bool(disp.sign_by is None or rec.at <= disp.sign_by)})
    elif rec.action == StepKind.RETURN_REQUEST:
        s.add(ReturnRequestRow(order_no=st.order_no, seq=rec.seq, unit_code=rec.by,
                               claimed_unit=d["claimed_unit"], reason=d["reason"], basis=d["basis"],
                               requested_at=rec.at, recommendation=d.get("recommendation") or {}))
    elif rec.action == StepKind.RETURN_REVIEW:
        req = s.scalars(
            select(ReturnRequestRow).where(ReturnRequestRow.order_no == st.order_no)
            .order_by(ReturnRequestRow.seq.desc()).limit(1)
        ).first()
        if req is not None:
            req.decision, req.reviewer = d["decision"], rec.by
            req.review_reason, req.reviewed_at = d.get("reason"), rec.at
    elif rec.action in (StepKind.CALLBACK, StepKind.UNRATED):
        s.execute(_ADD_CALLBACK, {"order_no": st.order_no, "seq": rec.seq, "unit_code": st.owner, "at": rec.at,
                                  "answered": bool(d.get("answered")), "resolved": d.get("resolved"),
                                  "satisfaction": d.get("satisfaction"), "unrated": rec.action == StepKind.UNRATED})
