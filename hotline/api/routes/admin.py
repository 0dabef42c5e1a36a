"""Units: the registry, each unit's supervision ledger, and the admin's catalogue import."""
from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime, timezone
from typing import Any, Literal

import yaml
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from hotline.api.auth import principal, require
from hotline.api.errors import ApiError, text_body
from hotline.domain.catalogue import CatalogueError, load_catalogue
from hotline.domain.codes import UNIT_CODE
from hotline.domain.contracts import StrikeReview
from hotline.domain.routing.router import Router
from hotline.store.apikeys import Principal
from hotline.store.ledger import ledger_view
from hotline.store.tables import EntryRow, SupervisionEventRow, UnitRow
from hotline.store.units import import_catalogue

log = logging.getLogger("hotline.api")
router = APIRouter(tags=["units"])
CODE = Path(pattern=UNIT_CODE, description="unit code, e.g. ZJJ")
MAX_CATALOGUE_BYTES = 2 * 1024 * 1024


class UnitOut(BaseModel):
    code: str
    name: str
    type: str
    districts: list[str]
    responsibilities: int
    webhook: bool


class LedgerEventOut(BaseModel):
    """A ledger event as the API shows it (the domain's is hotline.domain.supervision.LedgerEvent)."""

    key: str
    kind: str
    at: str
    order_no: str | None = None
    detail: dict[str, Any] = {}


class Supervision(BaseModel):
    unit: str
    year: int
    strikes: list[LedgerEventOut]
    criticisms: list[LedgerEventOut]
    referrals: list[LedgerEventOut]
    held: list[LedgerEventOut] = Field(default=[], description="strikes on a provisional deadline, awaiting review")
    reviews: list[LedgerEventOut] = Field(default=[], description="the hotline office's confirm/void decisions")
    live: dict[str, Any] = {}


class ImportResult(BaseModel):
    imported: int
    units: list[str]


class WebhookSecret(BaseModel):
    unit: str
    secret: str
    header: str = "X-Hotline-Signature"
    scheme: str = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.\" + the raw body>"


@router.get("/api/v1/units", response_model=list[UnitOut], summary="the unit registry")
async def list_units(request: Request, _: Principal = Depends(principal)) -> list[UnitOut]:
    with request.app.state.db.session() as s:
        counts = dict(s.execute(select(EntryRow.unit_code, func.count()).group_by(EntryRow.unit_code)).all())
        return [UnitOut(code=u.code, name=u.name, type=u.type, districts=list(u.districts or []),
                        responsibilities=counts.get(u.code, 0), webhook=bool(u.webhook_url))
                for u in s.scalars(select(UnitRow).order_by(UnitRow.code))]


@router.get("/api/v1/units/{code}/supervision", response_model=Supervision,
            summary="a unit's ledger: strikes, notified criticisms, discipline referrals")
async def supervision(request: Request, code: str = CODE, year: int | None = Query(default=None, ge=2000, le=2100),
                      p: Principal = Depends(require("admin", "department"))) -> Supervision:
    """A department reads its own ledger only; staff referrals (a named staff member and the
    order's evidence) only the hotline office reads."""
    if p.role == "department" and p.unit != code:
        raise ApiError(403, f"{p.unit} may read its own ledger only, not {code}'s")
    db = request.app.state.db
    with db.session() as s:
        if s.get(UnitRow, code) is None:
            raise ApiError(404, f"unit {code} not found")
    view = ledger_view(db, code, year)
    if p.role != "admin":
        view["referrals"] = [r for r in view["referrals"] if r["kind"] != "staff_referral"]
    return Supervision.model_validate(view)


class StrikeReviewBody(BaseModel):
    key: str = Field(min_length=1, max_length=300, description="the held strike's key (ledger `held[].detail.key`)")
    decision: Literal["confirm", "void"]
    reason: str = Field(min_length=1, max_length=2000)


class StrikeReviewAccepted(BaseModel):
    unit: str
    key: str
    decision: str
    status: str = "accepted: the unit's ledger shows it once recorded"


@router.post("/api/v1/units/{code}/strikes/review", response_model=StrikeReviewAccepted, status_code=202,
             summary="confirm or void a strike held because its deadline was provisional (guessed calendar)")
async def review_held_strike(request: Request, body: StrikeReviewBody, code: str = CODE,
                             p: Principal = Depends(require("admin"))) -> StrikeReviewAccepted:
    db = request.app.state.db
    with db.session() as s:
        if s.get(UnitRow, code) is None:
            raise ApiError(404, f"unit {code} not found")
    held = {e["detail"]["key"] for year in _years(db, code) for e in ledger_view(db, code, year)["held"]}
    if body.key not in held:
        raise ApiError(409, f"no strike {body.key!r} of {code} is held for review")
    work_orders = request.app.state.work_orders
    if work_orders is None:
        raise ApiError(503, "the workflow engine is not connected")
    await work_orders.review_strike(code, StrikeReview(key=body.key, decision=body.decision, by=p.actor,
                                                  reason=body.reason, at=datetime.now(timezone.utc)))
    return StrikeReviewAccepted(unit=code, key=body.key, decision=body.decision)


def _years(db, code: str) -> list[int]:
    with db.session() as s:
        return sorted(set(s.scalars(select(SupervisionEventRow.year).where(SupervisionEventRow.unit_code == code))))


@router.post("/api/v1/units/import", response_model=ImportResult,
             summary="replace the unit catalogue from YAML (validated whole; nothing changes on error)",
             openapi_extra={"requestBody": {"required": True, "description": "the catalogue file (YAML text)",
                                            "content": {"application/yaml": {"schema": {"type": "string"}},
                                                        "text/plain": {"schema": {"type": "string"}}}}})
async def import_units(request: Request, _: Principal = Depends(require("admin"))) -> ImportResult:
    text = await text_body(request, "catalogue", MAX_CATALOGUE_BYTES, "invalid_catalogue")
    if "\x00" in text:
        raise ApiError(422, "the catalogue contains NUL characters", code="invalid_catalogue")
    if "\n" not in text:
        text += "\n"  # always YAML text, never read as a file name
    try:
        cat = load_catalogue(text)
    except CatalogueError as exc:
        raise ApiError(422, f"catalogue rejected, {len(exc.errors)} problem(s); nothing changed",
                       code="invalid_catalogue", details=exc.errors) from None
    except yaml.YAMLError as exc:  # a character YAML cannot read at all (the reader fails before parsing)
        line = text[:getattr(exc, "position", 0) or 0].count("\n") + 1
        raise ApiError(422, "catalogue rejected, 1 problem(s); nothing changed", code="invalid_catalogue",
                       details=[f"line {line}: {str(exc).splitlines()[0]}"]) from None
    new_router = await asyncio.to_thread(Router, cat)  # built before anything is written
    try:
        n = await asyncio.to_thread(import_catalogue, request.app.state.db, cat)
    except CatalogueError as exc:  # a webhook with no signing secret: refused at configuration time
        raise ApiError(422, f"catalogue rejected, {len(exc.errors)} problem(s); nothing changed",
                       code="invalid_catalogue", details=exc.errors) from None
    request.app.state.unit_router = new_router
    log.info("catalogue imported: %d units", n)
    return ImportResult(imported=n, units=cat.codes)


@router.post("/api/v1/units/{code}/webhook-secret", response_model=WebhookSecret,
             summary="rotate the unit's webhook signing secret (shown once)")
async def rotate_webhook_secret(request: Request, code: str = CODE,
                                _: Principal = Depends(require("admin"))) -> WebhookSecret:
    secret = "whs_" + secrets.token_urlsafe(32)
    with request.app.state.db.session() as s:
        unit = s.get(UnitRow, code)
        if unit is None:
            raise ApiError(404, f"unit {code} not found")
        unit.webhook_secret = secret
    return WebhookSecret(unit=code, secret=secret)
