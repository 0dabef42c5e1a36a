"""Work orders: intake (受理), one order's state and history, and the list from the read model."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from hotline.api.auth import require
from hotline.api.deps import DbDep, PrincipalDep, get_unit_router, get_work_orders
from hotline.api.errors import ApiError, reject_nul
from hotline.api.params import UNIT_CODE, District, OrderNo
from hotline.api.visibility import read_order, view
from hotline.domain.models import (
    Category,
    Channel,
    IntakeRequest,
    OrderState,
    PetitionerView,
    Stage,
    Urgency,
    mask_name,
    mask_phone,
    mask_text,
)
from hotline.domain.routing.router import Router
from hotline.services.duplicates import IntakeAnswer, for_request
from hotline.services.intake import IntakeError, intake_order
from hotline.services.port import WorkOrderPort
from hotline.store import Database
from hotline.store.apikeys import Principal
from hotline.store.order_numbers import IdempotencyConflict, scoped_key
from hotline.store.tables import OrderRow

router = APIRouter(tags=["orders"])


class OrderSummary(BaseModel):
    """One row of a list, from the database read model. The petitioner is always masked."""

    order_no: str
    workflow_id: str
    stage: Stage
    owner: str
    category: Category
    urgency: Urgency
    channel: str
    title: str
    district: str | None = None
    overdue: bool
    reopens: int
    return_count: int
    created_at: datetime
    reply_by: datetime | None = Field(default=None, description="the (extended) handling deadline")
    closed_at: datetime | None = None
    petitioner: PetitionerView


class OrderList(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[OrderSummary]


def aware(dt: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; they were written in UTC."""
    return dt.replace(tzinfo=timezone.utc) if dt is not None and dt.tzinfo is None else dt


def _summary(r: OrderRow) -> OrderSummary:
    return OrderSummary(
        order_no=r.order_no, workflow_id=r.workflow_id, stage=r.stage, owner=r.owner, category=r.category,
        urgency=r.urgency, channel=r.channel, district=r.district, overdue=bool(r.overdue),
        title=mask_text(r.title, r.petitioner_name or "", r.petitioner_phone or ""),  # lists are for every role
        reopens=r.reopens or 0, return_count=r.return_count or 0, created_at=aware(r.created_at),
        reply_by=aware(r.reply_by), closed_at=aware(r.closed_at),
        petitioner=PetitionerView(name=mask_name(r.petitioner_name or ""), phone=mask_phone(r.petitioner_phone or "")))


async def _intake(db: Database, req: IntakeRequest, p: Principal, key: str | None, work_orders: WorkOrderPort,
                  router: Router) -> OrderState:
    reject_nul(req.model_dump(mode="json"))
    if key:
        reject_nul(key, "Idempotency-Key")
    try:  # the key is this API key's own, and bound to this body (a replay: the same order)
        st = await intake_order(db, work_orders, router, req, scoped_key(f"key{p.key_id}", key))
    except IntakeError as exc:
        raise ApiError(422, str(exc)) from None
    except IdempotencyConflict as exc:
        raise ApiError(409, str(exc)) from None
    return view(p, st)


@router.post("/api/v1/orders", status_code=201, response_model=IntakeAnswer,
             summary="intake (受理): create a work order, dispatch it, start its workflow; "
                     "`duplicates`: open orders that may be the same matter (并单)")
async def intake(request: Request, req: IntakeRequest, db: DbDep, p: Principal = Depends(require("intake", "admin")),
                 idempotency_key: str | None = Header(
                     default=None, min_length=1, max_length=128,
                     description="same key → same order and no second workflow")) -> IntakeAnswer:
    if req.channel == Channel.open311:  # the route sets it: only /open311/ makes open311 orders
        raise ApiError(422, "channel: 'open311' is set by the Open311 endpoint only; "
                            "record how the citizen reached the hotline: phone, web, app or wechat")
    st = await _intake(db, req, p, idempotency_key, get_work_orders(request), get_unit_router(request))
    dups = await asyncio.to_thread(for_request, db, get_unit_router(request), req, {st.order_no})
    return IntakeAnswer.model_validate({**st.model_dump(), "duplicates": dups})


@router.get("/api/v1/orders/{order_no}", response_model=OrderState, summary="current state and history of actions")
async def get_order(order_no: OrderNo, db: DbDep, p: PrincipalDep) -> OrderState:
    return view(p, read_order(db, order_no))


@router.get("/api/v1/orders", response_model=OrderList, summary="list from the read model (petitioner masked)")
async def list_orders(db: DbDep, p: PrincipalDep,
                      owner: str | None = Query(default=None, pattern=UNIT_CODE),
                      stage: Stage | None = None, overdue: bool | None = None,
                      category: Category | None = None, urgency: Urgency | None = None,
                      district: District | None = None,
                      limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10**9)) -> OrderList:
    q = select(OrderRow)
    for col, val in ((OrderRow.owner, owner), (OrderRow.stage, stage), (OrderRow.category, category),
                     (OrderRow.urgency, urgency), (OrderRow.district, district)):
        if val is not None:
            q = q.where(col == getattr(val, "value", val))
    if overdue is not None:
        q = q.where(OrderRow.overdue.is_(overdue))
    with db.session() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = s.scalars(q.order_by(OrderRow.created_at.desc(), OrderRow.order_no.desc())
                         .limit(limit).offset(offset)).all()
    return OrderList(total=total, limit=limit, offset=offset, items=[_summary(r) for r in rows])
