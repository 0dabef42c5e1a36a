"""The department clerk's inbox and every role's order page with its action forms.

Reads come from the read model (hotline.store.readmodel, the orders table), never from a workflow;
actions go through the JSON API's own action path (`app.state.act`: the same checks, the same
update, the same refusals), and a refusal is shown beside the form that caused it. Undoing a
merge (取消并单) is the API's unmerge use case (hotline.services.merging.unmerge_request), the office's only.
"""
from __future__ import annotations

import re
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import String, cast, func, select

from hotline.api.deps import get_unit_router, get_work_orders
from hotline.api.errors import ApiError
from hotline.api.params import UNIT_CODE
from hotline.api.routes.merges import REFUSALS, refused
from hotline.api.visibility import view
from hotline.console import web
from hotline.console.actions import MAX_CO_HANDLERS, FormError, allowed, body_from_form, callback_targets
from hotline.domain.codes import ORDER_NO_RE
from hotline.domain.models import ACTION_MODELS, REQUEST_NO, OrderState, Stage
from hotline.services.merging import unmerge_request
from hotline.store.readmodel import load_order
from hotline.store.tables import OrderRow, UnitRow

router = APIRouter(prefix="/console", include_in_schema=False)
PAGE_SIZE = 50
# which deadline a clerk races against, by stage
NEXT_DEADLINE = {"dispatched": "sign_by", "signed": "contact_by", "handling": "reply_by", "reopened": "reply_by",
                 "return_review": "reply_by", "replied": "callback_by", "callback": "callback_by"}
SECTIONS = [("待签收", {"dispatched"}), ("办理中", {"signed", "handling", "reopened"}),
            ("退单审核中", {"return_review"}), ("已答复、待回访", {"replied", "callback"})]


def inbox_rows(db, unit: str, offset: int, limit: int = PAGE_SIZE) -> tuple[int, list[dict]]:
    """The unit's open orders, the most urgent first; petitioner never shown in lists."""
    q = select(OrderRow.order_no, OrderRow.stage, OrderRow.title, OrderRow.category, OrderRow.urgency,
               OrderRow.overdue, OrderRow.created_at, OrderRow.state).where(
        OrderRow.owner == unit, OrderRow.stage != Stage.closed.value)
    with db.session() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = s.execute(q.order_by(OrderRow.overdue.desc(), OrderRow.reply_by.asc(), OrderRow.order_no)
                         .limit(limit).offset(offset)).all()
    out = []
    for r in rows:
        st = r.state or {}
        which = NEXT_DEADLINE.get(r.stage)
        due = (st.get("deadlines") or {}).get(which) if which else None
        out.append({"order_no": r.order_no, "stage": r.stage, "category": r.category, "urgency": r.urgency,
                    "overdue": r.overdue, "created_at": r.created_at, "deadline_name": which,
                    "due": datetime.fromisoformat(due) if due else None,
                    "supervised": any(n.get("kind") in ("supervision", "escalation") for n in st.get("notices") or []),
                    "title": _masked_title(r.title, st)})
    return total, out


def _masked_title(title: str, st: dict) -> str:
    from hotline.domain.models import mask_text
    p = st.get("petitioner") or {}
    return mask_text(title, p.get("name", ""), p.get("phone", ""))


def co_tasks(db, unit: str) -> list[dict]:
    """Orders where the unit is a co-handler (联办单位) with its task still open."""
    with db.session() as s:
        rows = s.execute(select(OrderRow.order_no, OrderRow.owner, OrderRow.state).where(
            OrderRow.stage != Stage.closed.value, OrderRow.owner != unit,
            cast(OrderRow.state, String).like(f'%"{unit}"%'))).all()
    out = []
    for r in rows:
        for c in (r.state or {}).get("co_handlers") or []:
            if c.get("unit") == unit:
                out.append({"order_no": r.order_no, "owner": r.owner, "task": c.get("task", ""), "done": c.get("done"),
                            "due": datetime.fromisoformat(c["due"]) if c.get("due") else None})
    return out


@router.get("/inbox")
async def inbox(request: Request, page: int = 1, partial: int = 0) -> Response:
    who = web.signed_in(request, "department")
    if not isinstance(who, web.Viewer):
        return who
    unit = who.unit
    assert unit is not None  # a department account's role names its unit (accounts.role_for)
    db = request.app.state.db
    page = max(1, min(page, 10**6))
    total, rows = inbox_rows(db, unit, (page - 1) * PAGE_SIZE)
    return web.page(request, "_inbox_body.html" if partial else "inbox.html", who=who, rows=rows, total=total,
                    page=page, pages=max(1, -(-total // PAGE_SIZE)), sections=SECTIONS, tasks=co_tasks(db, unit))


def _may_open(who: web.Viewer, st: OrderState) -> bool:
    if who.role in ("admin", "intake"):
        return True
    return who.unit == st.owner or who.unit in {c.unit for c in st.co_handlers}


def _units(db) -> list[tuple[str, str]]:
    with db.session() as s:
        return [(c, n) for c, n in s.execute(select(UnitRow.code, UnitRow.name).where(UnitRow.type != "hotline")
                                             .order_by(UnitRow.code)).all()]


def _timeline(st: OrderState) -> list[dict]:
    items = [{"at": a.at, "kind": "action", "what": a.action, "by": a.by, "detail": a.detail} for a in st.actions]
    items += [{"at": n.at, "kind": "notice", "what": n.kind, "by": n.to, "detail": {"reason": n.reason}}
              for n in st.notices]
    return sorted(items, key=lambda i: i["at"])


def render_order(request: Request, who: web.Viewer, st: OrderState, status: int = 200,
                 failed: str | None = None, error: str | None = None, values: dict | None = None) -> Response:
    db = request.app.state.db
    shown = view(who.principal, st)
    return web.page(request, "order.html", status=status, who=who, st=shown, actions=allowed(who.principal, st),
                    timeline=_timeline(shown), units=_units(db), failed=failed, error=error, values=values or {},
                    co_rows=range(MAX_CO_HANDLERS), done=request.query_params.get("done"),
                    temporal_ui=request.app.state.console.temporal_ui, callback_targets=callback_targets,
                    may_unmerge=who.role == "admin" and st.stage != Stage.closed)


def _load(request: Request, who: web.Viewer, order_no: str) -> OrderState | Response:
    st = load_order(request.app.state.db, order_no) if ORDER_NO_RE.match(order_no) else None
    if st is None:
        return web.error_page(request, 404, f"工单 {order_no} 不存在。", who)
    if not _may_open(who, st):
        return web.error_page(request, 403, f"工单 {order_no} 不属于{who.unit}，无权查看。", who)
    return st


@router.get("/orders/{order_no}")
async def order_page(request: Request, order_no: str) -> Response:
    who = web.signed_in(request)
    if not isinstance(who, web.Viewer):
        return who
    st = _load(request, who, order_no)
    return st if isinstance(st, Response) else render_order(request, who, st)


@router.post("/orders/{order_no}/{action}")
async def act(request: Request, order_no: str, action: str) -> Response:
    who, data = await web.posted(request, "department", "admin")
    if not isinstance(who, web.Viewer):
        return who
    if action not in ACTION_MODELS:
        return web.error_page(request, 404, f"未知的操作 {action}。", who)
    st = _load(request, who, order_no)
    if isinstance(st, Response):
        return st
    try:
        body = body_from_form(action, data)
        await request.app.state.act(order_no, action, body, who.principal, request)
    except FormError as exc:
        return render_order(request, who, st, 422, action, str(exc), data)
    except ApiError as exc:  # the API's refusal, the workflow's reason included: nothing changed
        current = load_order(request.app.state.db, order_no) or st
        return render_order(request, who, current, exc.status, action, exc.message, data)
    back = data.get("back", "")
    return web.redirect(back if back.startswith("/console/office") else f"/console/orders/{order_no}?done={action}")


@router.post("/orders/{order_no}/merged-requests/{request_no}/unmerge")
async def unmerge(request: Request, order_no: str, request_no: str) -> Response:
    """取消并单: the request leaves the order and becomes an order of its own; its page follows."""
    who, data = await web.posted(request, "department", "admin", "intake")
    if not isinstance(who, web.Viewer):
        return who
    st = _load(request, who, order_no)
    if isinstance(st, Response):
        return st
    reason, owner = data.get("reason", "").strip(), data.get("owner", "").strip().upper() or None
    if who.role != "admin":  # as the API: only the hotline office undoes a merge
        return render_order(request, who, st, 403, "unmerge", "只有热线办可以取消并单。", data)
    if not re.fullmatch(REQUEST_NO, request_no) or request_no not in {c.request_no for c in st.co_petitioners}:
        return render_order(request, who, st, 404, "unmerge", f"{request_no} 不是并入本工单的诉求。", data)
    if not reason or len(reason) > 2000:
        return render_order(request, who, st, 422, "unmerge", "取消理由: 请填写（不超过 2000 字）", data)
    if owner is not None and not re.fullmatch(UNIT_CODE, owner):
        return render_order(request, who, st, 422, "unmerge", f"承办单位: {owner} 不是单位代码", data)
    try:
        new = await unmerge_request(request.app.state.db, get_work_orders(request), get_unit_router(request), order_no,
                                    request_no, who.principal.actor, reason, owner)
    except REFUSALS as exc:
        err = refused(exc)
        current = load_order(request.app.state.db, order_no) or st
        return render_order(request, who, current, err.status, "unmerge", err.message, data)
    except ApiError as exc:
        return render_order(request, who, st, exc.status, "unmerge", exc.message, data)
    return web.redirect(f"/console/orders/{new.order_no}?done=unmerge")


@router.get("/orders")
async def find_order(request: Request, no: str = "") -> Response:
    who = web.signed_in(request)
    if not isinstance(who, web.Viewer):
        return who
    no = no.strip().upper()
    if not ORDER_NO_RE.match(no):
        return web.error_page(request, 404, "请输入正确的工单编号（SY 开头）。", who)
    return web.redirect(f"/console/orders/{no}")
