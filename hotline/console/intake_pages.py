"""The operator's intake form (话务员): the routing suggestion follows the typing (htmx), and a
submitted order shows its number, owner and deadlines at once.

Intake is the same operation the API and the CLI use (hotline.orders.intake_order); a hidden
per-form key makes a double submit land on the same order.
"""
from __future__ import annotations

import asyncio
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from hotline.api.app import _engine, _router, view
from hotline.api.errors import ApiError
from hotline.console import web
from hotline.intake import IdempotencyConflict, scoped_key
from hotline.models import DISTRICTS, Category, IntakeRequest
from hotline.orders import IntakeError, intake_order

router = APIRouter(prefix="/console", include_in_schema=False)
CHANNELS = ("phone", "web", "app", "wechat")
ROLES = ("intake", "admin")


def _suggest(request: Request, f: dict[str, str]):
    text = f"{f.get('title', '')} {f.get('description', '')}".strip()
    if not text or request.app.state.router is None:
        return None
    category = f.get("category") if f.get("category") in Category.__members__ else None
    district = f.get("district") if f.get("district") in DISTRICTS else None
    return request.app.state.router.route(text[:5000], category, district)


def _form_page(request: Request, who: web.Viewer, status: int = 200, error: str = "", values: dict | None = None):
    values = values or {}
    return web.page(request, "intake.html", status=status, who=who, error=error, values=values,
                    channels=CHANNELS, districts=DISTRICTS, categories=[c.value for c in Category],
                    form_key=values.get("form_key") or secrets.token_urlsafe(12), routing=_suggest(request, values))


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
        st = await intake_order(request.app.state.db, _engine(request), _router(request), req, key)
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])
        return _form_page(request, who, 422, msg, f)
    except (IntakeError, IdempotencyConflict) as exc:
        return _form_page(request, who, 422 if isinstance(exc, IntakeError) else 409, str(exc), f)
    except ApiError as exc:
        return _form_page(request, who, exc.status, exc.message, f)
    from hotline.duplicates import for_request  # open orders that may be the same matter (issue 18)
    dups = await asyncio.to_thread(for_request, request.app.state.db, _router(request), req, {st.order_no})
    return web.page(request, "intake_done.html", status=201, who=who, st=view(who.principal, st), dups=dups)
