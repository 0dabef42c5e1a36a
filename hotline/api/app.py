"""The HTTP API of SPEC §8. `create_app` takes its dependencies, so tests and production wire
different ones: the database, the order engine (Temporal in production) and the router."""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Annotated, Any, Callable

from fastapi import Body, Depends, FastAPI, Header, Path, Query, Request
from sqlalchemy import func, select

from hotline.api import errors
from hotline.api.auth import principal, require
from hotline.api.errors import ApiError
from hotline.apikeys import Principal
from hotline.engine import ActionRefused, OrderEngine, OrderNotFound
from hotline.orders import IntakeError, intake_order, unit_codes
from hotline.models import ACTION_MODELS, ADMIN_ACTIONS, IntakeRequest, OrderState, Stage
from hotline.routing import Router
from hotline.store import Database
from hotline.store.tables import OrderRow, UnitRow

NO = Annotated[str, Path(pattern=r"^SY\d{8,20}$", description="order number, e.g. SY20261126000123")]


def _may_see_identity(p: Principal, st: OrderState) -> bool:
    return p.role == "admin" or (p.role == "department" and (
        p.unit == st.owner or p.unit in {c.unit for c in st.co_handlers}))


def _view(p: Principal, st: OrderState) -> OrderState:
    return st if _may_see_identity(p, st) else st.masked()


def create_app(db: Database, engine: OrderEngine | None, router: Router,
               lifespan: Callable | None = None) -> FastAPI:
    app = FastAPI(title="12345 Hotline work orders", version="1.0",
                  description="First-contact responsibility (首接责任制) on durable workflows.",
                  lifespan=lifespan)
    app.state.db, app.state.engine, app.state.router = db, engine, router
    errors.install(app)

    def eng(request: Request) -> OrderEngine:
        if request.app.state.engine is None:
            raise ApiError(503, "the workflow engine is not connected")
        return request.app.state.engine

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict:
        return {"status": "ok"}

    # ------------------------------------------------------------------ orders

    @app.post("/api/v1/orders", status_code=201, response_model=OrderState, tags=["orders"])
    async def intake(req: IntakeRequest, p: Principal = Depends(require("intake", "admin")),
                     idempotency_key: str | None = Header(default=None, max_length=128),
                     engine: OrderEngine = Depends(eng)) -> OrderState:
        return await _intake(req, p, idempotency_key, engine)

    async def _intake(req: IntakeRequest, p: Principal, key: str | None, engine: OrderEngine) -> OrderState:
        try:
            st = await intake_order(db, engine, app.state.router, req, key)
        except IntakeError as exc:
            raise ApiError(422, str(exc)) from None
        return _view(p, st)

    def _unit_codes() -> set[str]:
        return unit_codes(db)

    @app.get("/api/v1/orders/{order_no}", response_model=OrderState, tags=["orders"])
    async def get_order(order_no: NO, p: Principal = Depends(principal),
                        engine: OrderEngine = Depends(eng)) -> OrderState:
        try:
            st = await engine.state(order_no)
        except OrderNotFound:
            with db.session() as s:
                row = s.get(OrderRow, order_no)
            if row is None or not row.state:
                raise ApiError(404, f"order {order_no} not found") from None
            st = OrderState.model_validate(row.state)
        return _view(p, st)

    @app.get("/api/v1/orders", tags=["orders"])
    async def list_orders(p: Principal = Depends(principal), owner: str | None = None,
                          stage: Stage | None = None, overdue: bool | None = None,
                          limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)) -> dict[str, Any]:
        q = select(OrderRow)
        if owner:
            q = q.where(OrderRow.owner == owner)
        if stage:
            q = q.where(OrderRow.stage == stage.value)
        if overdue is not None:
            q = q.where(OrderRow.overdue == overdue)
        with db.session() as s:
            total = s.scalar(select(func.count()).select_from(q.subquery()))
            rows = s.scalars(q.order_by(OrderRow.created_at.desc(), OrderRow.order_no.desc())
                             .limit(limit).offset(offset)).all()
        items = [{"order_no": r.order_no, "stage": r.stage, "owner": r.owner, "category": r.category,
                  "urgency": r.urgency, "title": r.title, "district": r.district, "overdue": r.overdue,
                  "created_at": r.created_at, "reply_by": r.reply_by, "return_count": r.return_count}
                 for r in rows]
        return {"total": total, "limit": limit, "offset": offset, "items": items}

    @app.post("/api/v1/orders/{order_no}/{action}", response_model=OrderState, tags=["orders"])
    async def act(order_no: NO, action: str, body: dict[str, Any] = Body(default_factory=dict),
                  p: Principal = Depends(principal), engine: OrderEngine = Depends(eng)) -> OrderState:
        model = ACTION_MODELS.get(action)
        if model is None:
            raise ApiError(404, f"unknown action {action!r}; known: {', '.join(sorted(ACTION_MODELS))}")
        if action in ADMIN_ACTIONS and p.role != "admin":
            raise ApiError(403, f"only the hotline office may {action}")
        if action not in ADMIN_ACTIONS and p.role != "department":
            raise ApiError(403, f"{action} is a department action; use the unit's key")
        if not isinstance(body, dict) or "by" in body:
            raise ApiError(422, "the body must be a JSON object; the acting unit comes from the API key")
        try:
            payload = model.model_validate({**body, "by": p.actor})
        except Exception as exc:  # pydantic ValidationError → 422 with the field messages
            raise ApiError(422, _validation_message(exc)) from None
        try:
            current = await engine.state(order_no)
        except OrderNotFound:
            raise ApiError(404, f"order {order_no} not found or closed") from None
        if p.role == "department":
            allowed = ({c.unit for c in current.co_handlers} if action == "co-handler-done" else {current.owner})
            if p.unit not in allowed:
                raise ApiError(403, f"{p.unit} may not {action} order {order_no} (owner: {current.owner})")
        try:
            st = await engine.act(order_no, action, payload)
        except ActionRefused as exc:
            raise ApiError(403 if exc.kind == "Forbidden" else 409, exc.message) from None
        except OrderNotFound:
            raise ApiError(404, f"order {order_no} not found") from None
        return _view(p, st)

    # ------------------------------------------------------------------ routing, units

    @app.get("/api/v1/routing", tags=["routing"])
    async def route(text: str = Query(min_length=1, max_length=5000), category: str | None = None,
                    district: str | None = None, _: Principal = Depends(principal)) -> dict[str, Any]:
        from hotline.models import DISTRICTS, Category
        if district is not None and district not in DISTRICTS:
            raise ApiError(422, f"unknown district {district!r}; known: {', '.join(DISTRICTS)}")
        if category is not None and category not in Category.__members__:
            raise ApiError(422, f"unknown category {category!r}; known: {', '.join(Category.__members__)}")
        return app.state.router.route(text, category, district).model_dump(mode="json")

    @app.get("/api/v1/units", tags=["units"])
    async def list_units(_: Principal = Depends(principal)) -> list[dict[str, Any]]:
        with db.session() as s:
            return [{"code": u.code, "name": u.name, "type": u.type, "districts": u.districts,
                     "webhook": bool(u.webhook_url)} for u in s.scalars(select(UnitRow).order_by(UnitRow.code))]

    @app.get("/api/v1/units/{code}/supervision", tags=["units"])
    async def supervision(code: str, _: Principal = Depends(require("admin", "department")),
                          request: Request = None) -> dict[str, Any]:
        from hotline.ledger import ledger_view
        if code not in _unit_codes():
            raise ApiError(404, f"unit {code} not found")
        live = await request.app.state.engine.supervision(code) if request.app.state.engine else None
        return ledger_view(db, code, live)

    app.state.intake = _intake
    return app


def _validation_message(exc: Exception) -> str:
    errs = getattr(exc, "errors", None)
    if callable(errs):
        return "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in errs()[:5])
    return str(exc)
