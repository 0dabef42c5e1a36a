"""Units: the registry, each unit's supervision ledger, and the admin's catalogue import."""
from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import yaml
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy import func, select

from hotline.api.auth import principal, require
from hotline.api.errors import ApiError
from hotline.apikeys import Principal
from hotline.catalogue import CatalogueError, load_catalogue
from hotline.ledger import ledger_view
from hotline.routing import Router
from hotline.store.tables import EntryRow, UnitRow
from hotline.units import import_catalogue

log = logging.getLogger("hotline.api")
router = APIRouter(tags=["units"])
CODE = Path(pattern=r"^[A-Z][A-Z0-9_]{1,15}$", description="unit code, e.g. ZJJ")
MAX_CATALOGUE_BYTES = 2 * 1024 * 1024


class UnitOut(BaseModel):
    code: str
    name: str
    type: str
    districts: list[str]
    responsibilities: int
    webhook: bool


class LedgerEvent(BaseModel):
    key: str
    kind: str
    at: str
    order_no: str | None = None
    detail: dict[str, Any] = {}


class Supervision(BaseModel):
    unit: str
    year: int
    strikes: list[LedgerEvent]
    criticisms: list[LedgerEvent]
    referrals: list[LedgerEvent]
    live: dict[str, Any] = {}


class ImportResult(BaseModel):
    imported: int
    units: list[str]


class WebhookSecret(BaseModel):
    unit: str
    secret: str
    header: str = "X-Hotline-Signature"
    scheme: str = "sha256=<hex HMAC-SHA256 of the raw body>"


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
                      _: Principal = Depends(require("admin", "department"))) -> Supervision:
    db = request.app.state.db
    with db.session() as s:
        if s.get(UnitRow, code) is None:
            raise ApiError(404, f"unit {code} not found")
    live = None
    engine = request.app.state.engine
    if engine is not None and year is None:
        try:
            live = await engine.supervision(code)
        except Exception as exc:  # the durable ledger in the database still answers
            log.warning("live ledger of %s unavailable: %s", code, type(exc).__name__)
    return Supervision.model_validate(ledger_view(db, code, live, year))


@router.post("/api/v1/units/import", response_model=ImportResult,
             summary="replace the unit catalogue from YAML (validated whole; nothing changes on error)",
             openapi_extra={"requestBody": {"required": True, "description": "the catalogue file (YAML text)",
                                            "content": {"application/yaml": {"schema": {"type": "string"}},
                                                        "text/plain": {"schema": {"type": "string"}}}}})
async def import_units(request: Request, _: Principal = Depends(require("admin"))) -> ImportResult:
    raw = await request.body()
    if len(raw) > MAX_CATALOGUE_BYTES:
        raise ApiError(413, f"the catalogue is larger than {MAX_CATALOGUE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the catalogue must be UTF-8 text") from None
    if not text.strip():
        raise ApiError(422, "the body must be the catalogue's YAML text", code="invalid_catalogue")
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
    n = await asyncio.to_thread(import_catalogue, request.app.state.db, cat)
    request.app.state.router = new_router
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
