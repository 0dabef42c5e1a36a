"""The citizens' progress lookup (自助查询, issue 18): POST /api/v1/track, no API key.

A public door to personal orders must not be an oracle: every request takes a token of its
address's bucket and one of the order number's (from any address, so a botnet cannot walk one
order's 10,000 digit combinations), and "no such order" and "wrong digits" get the very same
404. The proof travels in the body, never in the URL, so it stays out of access logs.

A request merged into an order (并单) is looked up by its own number and its own phone's digits:
the answer is the progress of the order it joined, with `request_no` and `merged_into` set.
"""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from hotline.api.errors import ApiError
from hotline.api.guard import retry_after
from hotline.domain.codes import ORDER_NO
from hotline.runtime.ratelimit import Buckets
from hotline.runtime.settings import Limits
from hotline.services.progress import NOT_FOUND, Progress, progress

router = APIRouter(tags=["public"])


class TrackQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_no: str = Field(pattern=ORDER_NO,
                          description="the number the hotline gave: an order's, or a merged request's (并单)")
    phone_last4: str = Field(pattern=r"^[0-9]{4}$",
                             description="last four digits of the phone given with that order or request")


class TrackLimits:
    """The lookup's own buckets (per address, per order number): `app.state.track_limits`."""

    def __init__(self, limits: Limits) -> None:
        self.per_ip = Buckets(limits.track_per_ip) if limits.track_per_ip else None
        self.per_order = Buckets(limits.track_per_order) if limits.track_per_order else None


@router.post("/api/v1/track", response_model=Progress,
             summary="progress of one's own order (自助查询): order number + last 4 digits of the phone",
             description="The stage, owner unit, dates and next deadline; once replied, the department's "
                         "reply and its time, with phone numbers, ID numbers, e-mail addresses and the "
                         "petitioners' names in it masked. For a request merged into an order (并单), the "
                         "order's progress, with `request_no` (the number asked about) and `merged_into` "
                         "(the order's number).",
             responses={404: {"description": "no order matches both (the same answer whatever is wrong)"},
                        429: {"description": "too many lookups from this address or for this order number"}})
async def track(q: TrackQuery, request: Request) -> Progress:
    t: TrackLimits = request.app.state.track_limits
    ip = request.client.host if request.client else "unknown"
    for buckets, key, what in ((t.per_ip, ip, "来自本地址的查询"), (t.per_order, q.order_no, "该工单号的查询")):
        wait = buckets.take(key) if buckets else 0.0
        if wait:
            raise ApiError(429, f"{what}过于频繁，请稍后再试。", headers=retry_after(wait))
    found = await asyncio.to_thread(progress, request.app.state.db, q.order_no, q.phone_last4)
    if found is None:
        raise ApiError(404, NOT_FOUND)
    return found
