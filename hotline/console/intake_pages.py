"""The operator's intake form (话务员): the routing suggestion follows the typing (htmx), and a
submitted order shows its number, owner and deadlines at once.

Intake is the same operation the API and the CLI use (hotline.services.intake.intake_order); a hidden
per-form key makes a double submit land on the same order. Before creating, "查重" lists the
open orders that may be the same matter, and "并入此工单" merges the request into one of them
(并单, hotline.services.merging.merge_request, as the API's merge route) instead of dispatching it.
"""
from __future__ import annotations

import asyncio
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from hotline.api.deps import get_unit_router, get_work_orders
from hotline.api.errors import ApiError
from hotline.api.routes.merges import REFUSALS, refused
from hotline.api.visibility import view
from hotline.console import web
from hotline.domain import transitions
from hotline.domain.codes import ORDER_NO_RE
from hotline.domain.models import DISTRICTS, Category, IntakeRequest
from hotline.services.intake import IntakeError, intake_order
from hotline.services.merging import merge_request
from hotline.store.order_numbers import IdempotencyConflict, scoped_key
from hotline.store.readmodel import load_order

router = APIRouter(prefix="/console", include_in_schema=False)
CHANNELS = ("phone", "web", "app", "wechat")
ROLES = ("intake", "admin")
MAX_NOTE = 500  # as the API's MergeIn.note
# stages an order takes a merge in (before its reply); the workflow still has the last word
MERGEABLE = frozenset(s.value for s in transitions.TABLE["merge"].from_stages)


def _suggest(request: Request, f: dict[str, str]):
    text = f"{f.get('title', '')} {f.get('description', '')}".strip()
    if not text or request.app.state.unit_router is None:
        return None
    category = f.get("category") if f.get("category") in Category.__members__ else None
    district = f.get("district") if f.get("district") in DISTRICTS else None
    return request.app.state.unit_router.route(text[:5000], category, district)


def _form_page(request: Request, who: web.Viewer, status: int = 200, error: str = "", values: dict | None = None,
               dups: list | None = None):
    """The form; `dups` (after 查重) are the open orders that may be the same matter, None before."""
    values = values or {}
    return web.page(request, "intake.html", status=status, who=who, error=error, values=values,
                    channels=CHANNELS, districts=DISTRICTS, categories=[c.value for c in Category],
                    form_key=values.get("form_key") or secrets.token_urlsafe(12), routing=_suggest(request, values),
                    dups=dups, mergeable=MERGEABLE)


@router.get("/intake")
async def intake_form(request: Request) -> Response:
    who = web.signed_in(request, *ROLES)
    return who if not isinstance(who, web.Viewer) else _form_page(request, who)


@router.get("/intake/suggest")
async def suggest(request: Request) -> Response:
    who = web.signed_in(request, *ROLES)
    if not isinstance(who, web.Viewer):
        return who
    f = {k: v[:5000] for k, v in request.query_params.items()}
    return web.page(request, "_routing.html", who=who, routing=_suggest(request, f))


def _request(f: dict[str, str]) -> IntakeRequest:
    location = {"district": f.get("district") or None, "address": f.get("address") or None}
    return IntakeRequest.model_validate({
        "channel": f.get("channel") or "phone", "category": f.get("category", ""),
        "urgency": "urgent" if f.get("urgency") == "urgent" else "normal",
        "title": f.get("title", ""), "description": f.get("description", ""),
        "petitioner": {"name": f.get("name", ""), "phone": f.get("phone", "")},
        "location": location, "owner": f.get("owner") or None})


def _invalid(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])


async def _duplicates(request: Request, req: IntakeRequest, exclude: set[str]) -> list:
    from hotline.services.duplicates import for_request  # open orders that may be the same matter (issue 18)
    return await asyncio.to_thread(for_request, request.app.state.db, get_unit_router(request), req, exclude)


@router.post("/intake/check")
async def check_duplicates(request: Request) -> Response:
    """查重: the form again, with the open orders that may be the same matter; nothing is written."""
    who, f = await web.posted(request, *ROLES)
    if not isinstance(who, web.Viewer):
        return who
    if f.get("channel") not in CHANNELS:
        return _form_page(request, who, 422, "来源渠道: 请选择电话、网站、App 或微信", f)
    try:
        req = _request(f)
        dups = await _duplicates(request, req, set())
    except ValidationError as exc:
        return _form_page(request, who, 422, _invalid(exc), f)
    except ApiError as exc:
        return _form_page(request, who, exc.status, exc.message, f)
    return _form_page(request, who, 200, "", f, dups)


@router.post("/intake/merge")
async def merge(request: Request) -> Response:
    """并入此工单: the request joins the chosen open order as a co-petitioner's request (its own
    number, no new deadline). A refusal comes back on the form with the candidates; nothing changed."""
    who, f = await web.posted(request, *ROLES)
    if not isinstance(who, web.Viewer):
        return who
    parent, note = f.get("parent", "").strip().upper(), f.get("note", "").strip()
    db = request.app.state.db
    dups = None
    try:
        req = _request(f)
        dups = await _duplicates(request, req, set())
        if f.get("channel") not in CHANNELS:
            return _form_page(request, who, 422, "来源渠道: 请选择电话、网站、App 或微信", f, dups)
        if len(note) > MAX_NOTE:
            return _form_page(request, who, 422, f"并单说明: 不超过 {MAX_NOTE} 字", f, dups)
        if not ORDER_NO_RE.match(parent) or await asyncio.to_thread(load_order, db, parent) is None:
            return _form_page(request, who, 404, f"工单 {parent or '（未选择）'} 不存在，未并单。", f, dups)
        key = scoped_key(f"console{who.account.id}", f.get("form_key") or None)
        ans = await merge_request(db, get_work_orders(request), parent, req, who.principal.actor, key, note)
    except ValidationError as exc:
        return _form_page(request, who, 422, _invalid(exc), f, dups)
    except REFUSALS as exc:  # the API's answer to the same refusal: 409, 422, 403 or 404
        err = refused(exc)
        return _form_page(request, who, err.status, f"未能并入工单 {parent}：{err.message}", f, dups)
    except ApiError as exc:
        return _form_page(request, who, exc.status, exc.message, f, dups)
    return web.page(request, "intake_merged.html", status=201, who=who, ans=ans, st=view(who.principal, ans.order))


@router.post("/intake")
async def intake(request: Request) -> Response:
    who, f = await web.posted(request, *ROLES)
    if not isinstance(who, web.Viewer):
        return who
    if f.get("channel") not in CHANNELS:
        return _form_page(request, who, 422, "来源渠道: 请选择电话、网站、App 或微信", f)
    try:
        req = _request(f)
        key = scoped_key(f"console{who.account.id}", f.get("form_key") or None)
        st = await intake_order(request.app.state.db, get_work_orders(request), get_unit_router(request), req, key)
    except ValidationError as exc:
        return _form_page(request, who, 422, _invalid(exc), f)
    except (IntakeError, IdempotencyConflict) as exc:
        return _form_page(request, who, 422 if isinstance(exc, IntakeError) else 409, str(exc), f)
    except ApiError as exc:
        return _form_page(request, who, exc.status, exc.message, f)
    dups = await _duplicates(request, req, {st.order_no})
    return web.page(request, "intake_done.html", status=201, who=who, st=view(who.principal, st), dups=dups)
