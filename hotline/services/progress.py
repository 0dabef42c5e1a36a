"""Self-service progress (自助查询, issue 18): what a citizen may learn of their own order.

国办发〔2020〕53号 asks for progress queries citizens can make themselves. The citizen proves the
order is theirs with the last four digits of the phone they gave; the answer is the stage in
plain words, the owner unit's name, the dates of the steps, the next deadline and, once the
department has replied, its reply and when it came, and nothing else: no notes, no internal
opinions. The proof is weak (four digits anyone holding the caller's receipt may know), so the
reply is shown as to any reader not entitled to the petitioner's identity: phone numbers, ID
numbers, e-mail addresses and the petitioner's name in it masked (OrderState.masked). It is read
from the read model, never from a running workflow (README, "Known SDK race").

A request merged into an order (并单) has its own number and its own petitioner: with the last
four digits of *that request's* phone, its number answers with the progress of the order it was
merged into, exactly as the order's own petitioner sees it, plus the request's number and the
order's. Nothing of the order's petitioner or of the other co-petitioners is in it: the reply
is masked for each of them too. An unmerged request's number is an order of its own.

Whatever is wrong (no such order, wrong digits, an order not yet recorded, a merge the order's
workflow has not taken) the answer is the same None: the caller cannot tell an order number
that exists from one that does not.
"""
from __future__ import annotations

import hmac
import re
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select

from hotline.domain.masking import fold
from hotline.domain.models import OrderState, Stage
from hotline.store import Database
from hotline.store.readmodel import load_order
from hotline.store.tables import MergedRequestRow, UnitRow

STAGE_TEXT = {
    Stage.intake: "已受理，正在转交承办单位",
    Stage.dispatched: "已转交承办单位，等待签收",
    Stage.signed: "承办单位已签收，正在办理",
    Stage.handling: "承办单位正在办理",
    Stage.return_review: "正在核定承办单位",
    Stage.replied: "承办单位已答复，等待回访",
    Stage.callback: "正在回访",
    Stage.reopened: "重新办理中",
    Stage.closed: "已办结",
}
NOT_FOUND = "没有找到与该工单号和手机号后四位都相符的工单，请核对后再试。"


class ProgressStep(BaseModel):
    step: str = Field(description="受理, 转办, 签收, 联系, 答复 or 办结")
    at: datetime | None = Field(description="when it happened; null: not yet")


class NextDeadline(BaseModel):
    what: str
    by: datetime


class ProgressReply(BaseModel):
    text: str = Field(description="the department's reply to the petitioner, phone numbers, ID numbers, "
                                  "e-mail addresses and names masked")
    at: datetime = Field(description="when the department replied")


class Progress(BaseModel):
    order_no: str = Field(description="the work order handling it (for a merged request: the order it joined)")
    stage: str = Field(description="the stage in plain Chinese")
    owner: str = Field(description="the name of the unit handling it")
    steps: list[ProgressStep]
    next_deadline: NextDeadline | None = None
    reply: ProgressReply | None = Field(default=None, description="null until the department has replied")
    request_no: str | None = Field(default=None, description="the number asked about, when it is a request "
                                                             "merged into the order (并单); else null")
    merged_into: str | None = Field(default=None, description="the order a merged request joined; else null")


def _last4(phone: str) -> str:
    return re.sub(r"[^0-9]", "", fold(phone or ""))[-4:]


def _next_deadline(st: OrderState) -> NextDeadline | None:
    d = st.deadlines
    if st.stage == Stage.closed:
        return None
    if st.stage in (Stage.intake, Stage.dispatched):
        pick = [("签收期限", d.sign_by), ("答复期限", d.reply_by)]
    elif st.stage in (Stage.replied, Stage.callback):
        pick = [("回访期限", d.callback_by)]
    elif st.contacted_at is None and st.stage != Stage.return_review:
        pick = [("与您联系的期限", d.contact_by), ("答复期限", d.reply_by)]
    else:
        pick = [("答复期限", d.reply_by)]
    return next((NextDeadline(what=w, by=by) for w, by in pick if by is not None), None)


def _reply(st: OrderState) -> ProgressReply | None:
    # A reopened order's replied_at is cleared: the reply found wanting is not the answer any more.
    if st.replied_at is None or not st.reply_result:
        return None
    # masked() masks the co-petitioners' names too: each of them reads what the others said
    return ProgressReply(text=st.masked().reply_result, at=st.replied_at)


def _asked(db: Database, number: str) -> tuple[OrderState | None, str, str | None]:
    """(the order to answer with, the phone that proves it, the merged request's number or None)."""
    st = load_order(db, number)
    if st is not None:
        return st, st.petitioner.phone, None
    with db.session() as s:
        parent_no = s.scalar(select(MergedRequestRow.parent_order_no).where(
            MergedRequestRow.request_no == number, MergedRequestRow.unmerged_at.is_(None)))
    parent = load_order(db, parent_no) if parent_no else None
    # only once the order's workflow has taken it: a merge it refused is no one's progress
    co = next((c for c in parent.co_petitioners if c.request_no == number), None) if parent else None
    return (parent, co.phone, number) if co is not None else (None, "", None)


def progress(db: Database, order_no: str, last4: str) -> Progress | None:
    """The order's progress if `last4` are the last four digits of its petitioner's phone; for a
    merged request's number, the progress of the order it joined if they are those of the
    request's own phone."""
    st, phone, request_no = _asked(db, order_no)
    expected = _last4(phone) if st is not None else "\0\0\0\0"  # compare either way
    if not hmac.compare_digest(expected.encode(), last4.encode()) or st is None:
        return None
    with db.session() as s:
        unit = s.get(UnitRow, st.owner)
    steps = [("受理", st.created_at), ("转办", st.dispatched_at), ("签收", st.signed_at),
             ("联系", st.contacted_at), ("答复", st.replied_at), ("办结", st.closed_at)]
    return Progress(order_no=st.order_no, stage=STAGE_TEXT[st.stage], owner=unit.name if unit else st.owner,
                    steps=[ProgressStep(step=n, at=at) for n, at in steps], next_deadline=_next_deadline(st),
                    reply=_reply(st), request_no=request_no, merged_into=st.order_no if request_no else None)
