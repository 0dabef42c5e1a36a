"""并单 over HTTP: merge a new request into an open order, list an order's merged requests, and
undo a wrong merge. The operations themselves are hotline/services/merging.py (shared with the CLI and
the web console, which answers refusals through `refused` too)."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Header, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from hotline.api.auth import require
from hotline.api.deps import get_unit_router, get_work_orders
from hotline.api.errors import ApiError, reject_nul
from hotline.api.params import UNIT_CODE, OrderNo
from hotline.api.visibility import read_order, view
from hotline.domain.masking import mask_name, mask_phone
from hotline.domain.models import REQUEST_NO, Channel, IntakeRequest, OrderState
from hotline.services.intake import IntakeError
from hotline.services.merging import MergeAnswer, merge_request, unmerge_request
from hotline.services.port import ActionRefused, OrderNotFound
from hotline.store import merges
from hotline.store.apikeys import Principal
from hotline.store.order_numbers import IdempotencyConflict, scoped_key

router = APIRouter(tags=["merging (并单)"])
# What a merge or unmerge may be refused with; anything else is a fault, not an answer.
REFUSALS = (ActionRefused, OrderNotFound, merges.MergeError, IdempotencyConflict, IntakeError)


class MergeIn(IntakeRequest):
    """The new request, as at intake, and why it is the same matter as the order."""

    note: str = Field(default="", max_length=500, description="why it is the same matter (evidence)")


class UnmergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(min_length=1, max_length=2000)
    owner: str | None = Field(default=None, pattern=UNIT_CODE,
                              description="the new order's owner; without it, routing suggests one")


class MergedRequestOut(BaseModel):
    request_no: str
    merged_into: str
    title: str
    channel: str
    petitioner_name: str
    petitioner_phone: str
    merged_at: str
    merged_by: str
    unmerged_at: str | None = None


def refused(exc: Exception) -> ApiError:
    if isinstance(exc, ActionRefused):
        return ApiError(403 if exc.kind == "Forbidden" else 409, exc.message)
    if isinstance(exc, OrderNotFound):
        return ApiError(404, f"order {exc} not found")
    if isinstance(exc, IntakeError):
        return ApiError(422, str(exc))
    return ApiError(409, str(exc))  # MergeError, IdempotencyConflict


@router.post("/api/v1/orders/{order_no}/merged-requests", status_code=201, response_model=MergeAnswer,
             summary="merge a new request into this open order (并单) instead of dispatching it",
             description="The request is recorded with its own number and petitioner; the order gains a "
                         "co-petitioner, its owner is told, no new deadline is armed. Before the order's reply "
                         "only. Same Idempotency-Key and body → the same request.")
async def merge(request: Request, body: MergeIn, order_no: OrderNo, p: Principal = Depends(require("intake", "admin")),
                idempotency_key: str | None = Header(default=None, min_length=1, max_length=128)) -> MergeAnswer:
    reject_nul(body.model_dump(mode="json"))
    if body.channel == Channel.open311:
        raise ApiError(422, "channel: 'open311' is set by the Open311 endpoint only")
    read_order(request.app.state.db, order_no)  # 404 for an unknown order
    req = IntakeRequest.model_validate(body.model_dump(exclude={"note"}))
    try:
        ans = await merge_request(request.app.state.db, get_work_orders(request), order_no, req, p.actor,
                                  scoped_key(f"key{p.key_id}", idempotency_key), body.note)
    except REFUSALS as exc:
        raise refused(exc) from None
    return ans.model_copy(update={"order": view(p, ans.order)})


@router.get("/api/v1/orders/{order_no}/merged-requests", response_model=list[MergedRequestOut],
            summary="the requests merged into this order (petitioners masked but for owner and admins)")
async def merged(request: Request, order_no: OrderNo, include_unmerged: bool = False,
                 p: Principal = Depends(require("intake", "admin", "department"))) -> list[MergedRequestOut]:
    db = request.app.state.db
    st = read_order(db, order_no)
    full = view(p, st) is st
    rows = await asyncio.to_thread(merges.requests_of, db, order_no, include_unmerged)
    return [MergedRequestOut(
        request_no=r.request_no, merged_into=r.parent_order_no, channel=r.channel, merged_by=r.merged_by,
        title=r.title if full else "（仅承办单位与热线可见）",
        petitioner_name=r.petitioner_name if full else mask_name(r.petitioner_name),
        petitioner_phone=r.petitioner_phone if full else mask_phone(r.petitioner_phone),
        merged_at=r.merged_at.isoformat(), unmerged_at=r.unmerged_at.isoformat() if r.unmerged_at else None,
    ) for r in rows]


@router.post("/api/v1/orders/{order_no}/merged-requests/{request_no}/unmerge", status_code=201,
             response_model=OrderState,
             summary="undo a wrong merge: the request becomes an order of its own, with fresh deadlines")
async def unmerge(request: Request, body: UnmergeIn, order_no: OrderNo,
                  request_no: str = Path(pattern=REQUEST_NO), p: Principal = Depends(require("admin"))) -> OrderState:
    reject_nul(body.model_dump(mode="json"))
    try:
        st = await unmerge_request(request.app.state.db, get_work_orders(request), get_unit_router(request), order_no,
                                   request_no, p.actor, body.reason, body.owner)
    except REFUSALS as exc:
        raise refused(exc) from None
    return view(p, st)
