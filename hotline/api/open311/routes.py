"""Open311 GeoReport v2 endpoints at /open311/v2/ (SPEC §8), JSON or XML after the path's suffix.

Services come from the unit catalogue: one per responsibility matter (`<UNIT>-<nn>`, e.g.
`SWJ-01`, grouped by unit) plus `GENERAL` for anything else (routing decides). A request posted
here is a real work order (channel `open311`). Statuses are `open`/`closed` with the detail in
`status_notes`; `agency_responsible` is the owner unit's name. The petitioner's name and phone
never leave through this endpoint, not even inside free text.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select

from hotline.api.auth import KEY_HEADER, authenticate
from hotline.api.errors import Open311Error, describe
from hotline.api.open311.models import (
    CATEGORY_NAMES,
    CreatedRequest,
    Discovery,
    PostForm,
    Service,
    ServiceDefinition,
    ServiceRequest,
    services_of,
)
from hotline.api.open311.render import render
from hotline.domain.bounds import year_problem
from hotline.domain.codes import ORDER_NO_RE
from hotline.domain.masking import mask_text
from hotline.domain.models import IntakeRequest, OrderState, Stage
from hotline.services.intake import IntakeError, intake_order
from hotline.store.order_numbers import IdempotencyConflict, scoped_key
from hotline.store.tables import OrderRow, UnitRow

JURISDICTION = "sanya.gov.cn"
SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-01-01T00:00:00+08:00"
TZ = ZoneInfo("Asia/Shanghai")
MAX_RESULTS = 1000
Fmt = Literal["json", "xml"]
FMT = Path(description="response format: json or xml")
router = APIRouter(prefix="/open311/v2", tags=["open311"])

# ---------------------------------------------------------------- rendering (render.py: JSON or XML)


def _out(request: Request, data: Any, root: str, status: int = 200) -> Response:
    return render(request.url.path, _dump(data), status, root)


def _dump(data: Any) -> Any:
    if isinstance(data, list):
        return [_dump(x) for x in data]
    return data.model_dump(mode="json") if hasattr(data, "model_dump") else data


# ---------------------------------------------------------------- privacy


def redact(text: str | None, name: str = "", phone: str = "") -> str | None:
    """Free text as the public sees it: the one masking of hotline/domain/masking.py."""
    return mask_text(text, name, phone)


# ---------------------------------------------------------------- helpers


def _iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(TZ).isoformat(timespec="seconds")


def _jurisdiction(jid: str | None) -> None:
    if jid is not None and jid != JURISDICTION:
        raise Open311Error(404, f"jurisdiction_id {jid!r} not found; this endpoint serves {JURISDICTION}")


def _services(request: Request) -> dict[str, Any]:
    r = request.app.state.unit_router
    if r is None:
        raise Open311Error(503, "the service list is not ready")
    return services_of(r.catalogue)


_CLOSE = {"resolved": "已解决", "unresolved": "未解决", "unrated": "未评价", "escalated": "重办后仍未解决，已督办"}


def _notes(st: OrderState, owner: str) -> str:
    result = st.reply_result or ""
    notes = {
        Stage.intake: "已受理",
        Stage.dispatched: f"已转办{owner}，待签收",
        Stage.signed: f"{owner}已签收",
        Stage.handling: f"{owner}正在办理",
        Stage.return_review: "承办单位申请退单，热线办审核中",
        Stage.reopened: f"回访不满意，已重办，由{owner}办理",
        Stage.replied: f"{owner}已答复：{result}",
        Stage.callback: f"{owner}已答复，待回访：{result}",
        Stage.closed: f"已办结（{_CLOSE.get(st.close_reason or '', st.close_reason or '')}）：{result}",
    }[st.stage]
    if st.overdue and st.stage != Stage.closed:
        notes += "；已超期，督办中"
    return f"{notes} ({st.stage.value})"


def _item(row: OrderRow, st: OrderState, units: dict[str, str], svcs: dict[str, Any]) -> ServiceRequest:
    name, phone = st.petitioner.name, st.petitioner.phone
    svc = svcs["by_name"].get(st.title)
    if svc is None:
        own = next((c for c in st.routing if c.get("unit") == st.owner), None)
        matters = [e.get("matter") for e in (own or {}).get("matched_entries") or []]
        svc = next((svcs["by_matter"][(st.owner, m)] for m in matters if (st.owner, m) in svcs["by_matter"]),
                   svcs["all"]["GENERAL"])
    owner = units.get(st.owner, st.owner)
    closed = st.stage == Stage.closed
    return ServiceRequest(
        service_request_id=st.order_no, status="closed" if closed else "open",
        status_notes=redact(_notes(st, owner), name, phone), service_name=svc.service_name,
        service_code=svc.service_code, description=redact(st.description, name, phone),
        agency_responsible=owner, service_notice=None, requested_datetime=_iso(st.created_at),
        updated_datetime=_iso(row.updated_at or st.created_at),
        expected_datetime=None if closed else _iso(st.deadlines.reply_by),
        address=redact(st.location.address, name, phone), address_id=None, zipcode=None,
        lat=st.location.lat, long=st.location.lng, media_url=None)


def _unit_names(request: Request) -> dict[str, str]:
    with request.app.state.db.session() as s:
        return dict(s.execute(select(UnitRow.code, UnitRow.name)).all())


def _bound(dt: datetime | None, name: str) -> datetime | None:
    if dt is None:
        return None
    if year_problem(dt):
        raise Open311Error(400, f"{name}: {year_problem(dt)}")
    try:
        return (dt if dt.tzinfo else dt.replace(tzinfo=TZ)).astimezone(timezone.utc)
    except (OverflowError, ValueError):
        raise Open311Error(400, f"{name} is out of range") from None


# ---------------------------------------------------------------- discovery and services


@router.get("/discovery.{fmt}", response_model=Discovery, summary="GeoReport v2 service discovery")
async def discovery(request: Request, fmt: Fmt = FMT) -> Response:
    url = str(request.base_url).rstrip("/") + "/open311/v2"
    return _out(request, Discovery(
        changeset=CHANGESET, contact="三亚市12345政府服务热线管理办公室 · 12345",
        key_service="API keys (role intake) are issued by the hotline office: starter.py apikey create --role intake",
        endpoints=[{"specification": SPEC_URL, "url": url, "changeset": CHANGESET, "type": "production",
                    "formats": ["application/json", "text/xml"]}]), "discovery")


@router.get("/services.{fmt}", response_model=list[Service], summary="the service list")
async def services(request: Request, fmt: Fmt = FMT,
                   jurisdiction_id: str | None = Query(default=None, max_length=64)) -> Response:
    _jurisdiction(jurisdiction_id)
    return _out(request, [s.public() for s in _services(request)["all"].values()], "services")


@router.get("/services/{service_code}.{fmt}", response_model=ServiceDefinition,
            summary="a service's definition (its extra attributes)")
async def service_definition(request: Request, service_code: str = Path(max_length=32), fmt: Fmt = FMT,
                             jurisdiction_id: str | None = Query(default=None, max_length=64)) -> Response:
    _jurisdiction(jurisdiction_id)
    svc = _services(request)["all"].get(service_code)
    if svc is None:
        raise Open311Error(404, f"service_code {service_code!r} not found")
    return _out(request, svc.definition(_services(request)["districts"]), "service_definition")


# ---------------------------------------------------------------- requests


async def _fields(request: Request) -> dict[str, str]:
    fields = dict(request.query_params)
    raw = await request.body()
    if raw:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            text = raw.decode("utf-8")
            if ctype == "application/json":
                data = json.loads(text)
                if not isinstance(data, dict):
                    raise ValueError("the JSON body must be an object")
                fields.update({k: v if isinstance(v, str) or v is None else json.dumps(v) for k, v in data.items()})
            elif ctype in ("application/x-www-form-urlencoded", ""):
                fields.update(parse_qsl(text, keep_blank_values=True, strict_parsing=False))
            else:
                raise Open311Error(400, "send the request as application/x-www-form-urlencoded")
        except (UnicodeDecodeError, ValueError) as exc:
            raise Open311Error(400, f"unreadable body: {str(exc)[:100]}") from None
    if any("\x00" in k or "\x00" in v for k, v in fields.items() if isinstance(v, str)):
        raise Open311Error(400, "NUL characters are not allowed")
    return {k: v for k, v in fields.items() if v is not None and v != ""}


@router.post("/requests.{fmt}", response_model=list[CreatedRequest], status_code=201,
             summary="create a service request (a real work order); needs api_key",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/x-www-form-urlencoded": {"schema": PostForm.model_json_schema(by_alias=True)},
                 "application/json": {"schema": PostForm.model_json_schema(by_alias=True)}}}})
async def create_request(request: Request, fmt: Fmt = FMT,
                         idempotency_key: str | None = Header(default=None, min_length=1, max_length=128)) -> Response:
    fields = await _fields(request)
    key = fields.pop("api_key", None) or request.headers.get(KEY_HEADER)
    if not key:
        raise Open311Error(401, "api_key is required to create a request")
    p = authenticate(request, key)
    if p.role not in ("intake", "admin"):
        raise Open311Error(403, "api_key may not create requests: use an intake key")
    try:
        form = PostForm.model_validate(fields)
    except ValidationError as exc:
        raise Open311Error(400, describe(exc.errors())) from None
    _jurisdiction(form.jurisdiction_id)
    svcs = _services(request)
    svc = svcs["all"].get(form.service_code)
    if svc is None:
        raise Open311Error(404, f"service_code {form.service_code!r} not found")
    if (form.lat is None) != (form.long is None):
        raise Open311Error(400, "lat and long go together")
    if form.lat is None and not form.address_string and not form.address_id:
        raise Open311Error(400, "a location is required: lat and long, address_string or address_id")
    if not form.phone:
        raise Open311Error(400, "phone is required: the hotline calls the petitioner back (回访)")
    category = form.category or svc.categories[0]
    if category not in svc.categories:
        raise Open311Error(400, f"attribute[category] must be one of {', '.join(svc.categories)} for this service")
    first, last = form.first_name or "", form.last_name or ""
    name = (f"{first} {last}".strip() if (first + last).isascii() else f"{last}{first}") or "市民"
    title = svc.service_name if svc.unit else (redact(form.description, name, form.phone) or "")[:40]
    try:
        req = IntakeRequest.model_validate({
            "channel": "open311", "category": category, "urgency": "normal", "title": title,
            "description": form.description, "petitioner": {"name": name[:64], "phone": form.phone},
            "location": {"district": form.district, "address": form.address_string or form.address_id,
                         "lat": form.lat, "lng": form.long}})
    except ValidationError as exc:
        raise Open311Error(400, describe(exc.errors())) from None
    work_orders, hub = request.app.state.work_orders, request.app.state.unit_router
    if work_orders is None:
        raise Open311Error(503, "the workflow engine is not connected")
    scoped = scoped_key(f"open311:key{p.key_id}", idempotency_key)  # never another caller's order
    try:
        try:
            st = await intake_order(request.app.state.db, work_orders, hub, req, scoped)
        except IntakeError as exc:
            if svc.unit is None:
                raise Open311Error(400, f"{exc}; give attribute[district] or pick a specific service") from None
            st = await intake_order(request.app.state.db, work_orders, hub, req.model_copy(update={"owner": svc.unit}),
                                    scoped)
    except IdempotencyConflict as exc:
        raise Open311Error(409, str(exc)) from None
    owner = _unit_names(request).get(st.owner, st.owner)
    notice = f"已受理，工单号{st.order_no}，已转办{owner}办理。"
    return _out(request, [CreatedRequest(service_request_id=st.order_no, service_notice=notice)],
                "service_requests", 201)


@router.get("/requests.{fmt}", response_model=list[ServiceRequest], summary="search service requests")
async def list_requests(
        request: Request, fmt: Fmt = FMT,
        service_request_id: str | None = Query(default=None, max_length=2000, description="comma-separated ids"),
        service_code: str | None = Query(default=None, max_length=500, description="comma-separated codes"),
        start_date: datetime | None = None, end_date: datetime | None = None,
        status: str | None = Query(default=None, pattern=r"^(open|closed)(,(open|closed))?$"),
        jurisdiction_id: str | None = Query(default=None, max_length=64)) -> Response:
    _jurisdiction(jurisdiction_id)
    svcs = _services(request)
    q = select(OrderRow)
    if service_request_id:  # GeoReport: with ids, every other filter is ignored
        ids = [i.strip() for i in service_request_id.split(",") if ORDER_NO_RE.fullmatch(i.strip())]
        q = q.where(OrderRow.order_no.in_(ids))
        codes, statuses = None, None
    else:
        start, end = _bound(start_date, "start_date"), _bound(end_date, "end_date")
        if start is None and end is None:
            start = datetime.now(timezone.utc) - timedelta(days=90)
        if start is not None:
            q = q.where(OrderRow.created_at >= start)
        if end is not None:
            q = q.where(OrderRow.created_at <= end)
        statuses = set(status.split(",")) if status else None
        if statuses == {"open"}:
            q = q.where(OrderRow.stage != Stage.closed.value)
        elif statuses == {"closed"}:
            q = q.where(OrderRow.stage == Stage.closed.value)
        codes = {c.strip() for c in service_code.split(",")} if service_code else None
    q = q.order_by(OrderRow.created_at.desc(), OrderRow.order_no.desc()).limit(MAX_RESULTS if codes is None else 5000)
    with request.app.state.db.session() as s:
        rows = s.scalars(q).all()
    units, out = _unit_names(request), []
    for row in rows:
        if not row.state:
            continue  # reserved, workflow not started yet
        item = _item(row, OrderState.model_validate(row.state), units, svcs)
        if codes is None or item.service_code in codes:
            out.append(item)
        if len(out) >= MAX_RESULTS:
            break
    return _out(request, out, "service_requests")


@router.get("/requests/{service_request_id}.{fmt}", response_model=list[ServiceRequest],
            summary="one service request")
async def get_request(request: Request, service_request_id: str = Path(max_length=32), fmt: Fmt = FMT,
                      jurisdiction_id: str | None = Query(default=None, max_length=64)) -> Response:
    _jurisdiction(jurisdiction_id)
    row = None
    if ORDER_NO_RE.fullmatch(service_request_id):
        with request.app.state.db.session() as s:
            row = s.get(OrderRow, service_request_id)
    if row is None or not row.state:
        raise Open311Error(404, f"service_request_id {service_request_id!r} not found")
    item = _item(row, OrderState.model_validate(row.state), _unit_names(request), _services(request))
    return _out(request, [item], "service_requests")


__all__ = ["router", "render", "redact", "JURISDICTION", "CATEGORY_NAMES"]
