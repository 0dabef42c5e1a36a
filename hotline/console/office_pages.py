"""The hotline office's queues (热线办): return requests with the routing recommendation,
extension requests, callbacks due, the overdue board, each unit's ledger and the KPI report.

Every queue is read from the read model; the review and callback forms post to the order's
action route (hotline/console/order_pages.py), i.e. through the API's own action path.
"""
from __future__ import annotations

import asyncio
from datetime import date, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import String, cast, func, select

from hotline.console import web
from hotline.console.actions import callback_tally, callback_targets
from hotline.console.order_pages import _units
from hotline.domain.models import OrderState, Stage
from hotline.reporting.kpi import KpiError, build_report
from hotline.store.ledger import ledger_view
from hotline.store.tables import OrderRow

router = APIRouter(prefix="/console/office", include_in_schema=False)
LIMIT = 100  # a queue shows its oldest 100; the office works them in order
WORKING = (Stage.signed.value, Stage.handling.value, Stage.reopened.value)


def _orders(db, *where, order_by=OrderRow.created_at) -> list[OrderState]:
    with db.session() as s:
        states = s.scalars(select(OrderRow.state).where(*where).order_by(order_by).limit(LIMIT)).all()
    return [OrderState.model_validate(st) for st in states if st]


def _count(db, *where) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(OrderRow).where(*where)) or 0


def _extension_where():
    return (OrderRow.stage.in_(WORKING), cast(OrderRow.state, String).like('%"extension"%'))


def _queues(db) -> dict[str, int]:
    return {"returns": _count(db, OrderRow.stage == Stage.return_review.value),
            "extensions": sum(1 for st in _orders(db, *_extension_where())
                              if st.pending and st.pending.kind == "extension"),
            "callbacks": _count(db, OrderRow.stage == Stage.callback.value),
            "overdue": _count(db, OrderRow.overdue.is_(True), OrderRow.stage != Stage.closed.value)}


def _admin(request: Request):
    return web.signed_in(request, "admin")


@router.get("")
async def office(request: Request) -> Response:
    who = _admin(request)
    if not isinstance(who, web.Viewer):
        return who
    db = request.app.state.db
    return web.page(request, "office.html", who=who, counts=_queues(db), units=_units(db))


@router.get("/returns")
async def returns(request: Request) -> Response:
    who = _admin(request)
    if not isinstance(who, web.Viewer):
        return who
    db = request.app.state.db
    orders = _orders(db, OrderRow.stage == Stage.return_review.value)
    return web.page(request, "office_returns.html", who=who, orders=orders, units=_units(db))


@router.get("/extensions")
async def extensions(request: Request) -> Response:
    who = _admin(request)
    if not isinstance(who, web.Viewer):
        return who
    orders = [st for st in _orders(request.app.state.db, *_extension_where())
              if st.pending and st.pending.kind == "extension"]
    return web.page(request, "office_extensions.html", who=who, orders=orders)


@router.get("/callbacks")
async def callbacks(request: Request) -> Response:
    who = _admin(request)
    if not isinstance(who, web.Viewer):
        return who
    orders = _orders(request.app.state.db, OrderRow.stage == Stage.callback.value, order_by=OrderRow.replied_at)
    return web.page(request, "office_callbacks.html", who=who, orders=orders, callback_targets=callback_targets,
                    callback_tally=callback_tally)


@router.get("/overdue")
async def overdue(request: Request) -> Response:
    who = _admin(request)
    if not isinstance(who, web.Viewer):
        return who
    orders = _orders(request.app.state.db, OrderRow.overdue.is_(True), OrderRow.stage != Stage.closed.value,
                     order_by=OrderRow.reply_by)
    return web.page(request, "office_overdue.html", who=who, orders=orders)


@router.get("/ledger")
async def ledger(request: Request, unit: str = "", year: int | None = None) -> Response:
    who = _admin(request)
    if not isinstance(who, web.Viewer):
        return who
    db = request.app.state.db
    units = _units(db)
    view = ledger_view(db, unit, year) if unit in {c for c, _ in units} else None
    return web.page(request, "office_ledger.html", who=who, units=units, unit=unit, ledger=view)


def _period(request: Request) -> tuple[str, str, str | None]:
    today = date.today()
    q = request.query_params
    return (q.get("from") or today.replace(day=1).isoformat(),
            q.get("to") or (today + timedelta(days=1)).isoformat(), q.get("unit") or None)


@router.get("/kpi")
async def kpi(request: Request) -> Response:
    who = _admin(request)
    if not isinstance(who, web.Viewer):
        return who
    frm, to, unit = _period(request)
    error = None
    try:
        report = await asyncio.to_thread(build_report, request.app.state.db, frm, to, unit)
    except KpiError as exc:
        report, error = None, str(exc)
    return web.page(request, "office_kpi.html", status=422 if error else 200, who=who, report=report,
                    error=error, frm=frm, to=to, unit=unit or "", units=_units(request.app.state.db))


@router.get("/kpi/report")
async def kpi_report(request: Request) -> Response:
    """The briefing's own page (charts as inline SVG, inline styles, no script), framed by the KPI page."""
    who = _admin(request)
    if not isinstance(who, web.Viewer):
        return who
    from hotline.reporting.report import render_html
    frm, to, unit = _period(request)
    try:
        report = await asyncio.to_thread(build_report, request.app.state.db, frm, to, unit)
    except KpiError as exc:
        return web.error_page(request, 422, str(exc), who)
    headers = {**web.HEADERS, "X-Frame-Options": "SAMEORIGIN",
               "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"}
    return HTMLResponse(render_html(report), headers=headers)
