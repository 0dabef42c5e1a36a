"""The citizens' progress page (自助查询, issue 18): /console/track, no sign-in.

The same lookup, limits and one-answer-for-every-wrong-try as POST /api/v1/track
(hotline/api/routes/track.py), as a plain form a citizen can use from a phone's browser. A
merged request's number (并单) shows the progress of the order it joined, saying so.
"""
from __future__ import annotations

import asyncio
import math
import re

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hotline.api.guard import retry_after
from hotline.console import web
from hotline.domain.codes import ORDER_NO_RE
from hotline.services.progress import NOT_FOUND, progress

router = APIRouter(prefix="/console", include_in_schema=False)
_LAST4 = re.compile(r"^[0-9]{4}$")


def _throttled(what: str, wait: float) -> str:
    # Say which limit and how long, so a citizen who mistyped waits instead of retrying blindly.
    when = f"{math.ceil(wait)}秒" if wait < 90 else f"{math.ceil(wait / 60)}分钟"
    return f"{what}过于频繁。为保护诉求人的信息，查询次数有限制，请约{when}后再试。"


@router.get("/track")
async def track_form(request: Request) -> Response:
    return web.page(request, "track.html", values={})


@router.post("/track")
async def track(request: Request) -> Response:
    f = await web.form(request)
    values = {"order_no": f.get("order_no", "").strip()[:40], "phone_last4": f.get("phone_last4", "").strip()[:8]}
    if not ORDER_NO_RE.match(values["order_no"]) or not _LAST4.match(values["phone_last4"]):
        return web.page(request, "track.html", status=422, values=values,
                        error="请填写工单号（SY开头）和受理时所留手机号的后四位。")
    limits = request.app.state.track_limits
    ip = request.client.host if request.client else "unknown"
    for buckets, key, what in ((limits.per_ip, ip, "来自本网络地址的查询"),
                               (limits.per_order, values["order_no"], "该工单号的查询")):
        wait = buckets.take(key) if buckets else 0.0
        if wait:
            r = web.page(request, "track.html", status=429, values=values, error=_throttled(what, wait))
            r.headers.update(retry_after(wait))
            return r
    found = await asyncio.to_thread(progress, request.app.state.db, values["order_no"], values["phone_last4"])
    if found is None:
        return web.page(request, "track.html", status=404, values=values, error=NOT_FOUND)
    return web.page(request, "track.html", values={"order_no": values["order_no"]}, p=found)
