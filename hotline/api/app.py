"""The HTTP API of SPEC §8. `create_app` takes its dependencies, so tests and production wire
different ones: the database, the order engine (Temporal in production) and the router.

Department and hotline actions are one route each, with the action's typed body, and map one
to one onto the work-order workflow's updates. The acting party (`by`) always comes from the
API key, never from the body.
"""
import asyncio
import logging
from datetime import datetime, timezone
from typing import Annotated, Callable, Literal
from urllib.parse import parse_qsl, urlencode

from fastapi import Body, Depends, FastAPI, Header, Path, Query, Request
from pydantic import BaseModel, Field, create_model
from sqlalchemy import func, select

from hotline import transitions
from hotline.api import admin_routes, calendar_routes, codec_routes, errors, kpi_routes, observability, open311, wire
from hotline.api import track_routes
from hotline.duplicates import IntakeAnswer, RoutingAnswer, find_duplicates, for_request
from hotline.health import ready_problems
from hotline.api.guard import Guard
from hotline.api.throttle import KeyThrottle
from hotline.api.auth import principal, require
from hotline.api.errors import ApiError, reject_nul
from hotline.apikeys import Principal
from hotline.bounds import action_date_problem
from hotline.engine import ActionRefused, OrderEngine, OrderNotFound
from hotline.models import (
    ACTION_MODELS, ADMIN_ACTIONS, DISTRICTS, Category, Channel, IntakeRequest, OrderState, PetitionerView, Stage,
    Strict, Urgency, mask_name, mask_phone, mask_text,
)
from hotline.intake import IdempotencyConflict, scoped_key
from hotline.orders import IntakeError, intake_order
from hotline.readmodel import load_order
from hotline.routing import Router
from hotline.store import Database
from hotline.settings import Limits, load_limits
from hotline.store.tables import OrderRow, UnitRow

log = logging.getLogger("hotline.api")

ORDER_NO = r"^SY\d{8,20}$"
UNIT_CODE = r"^[A-Z][A-Z0-9_]{1,15}$"
NO = Annotated[str, Path(pattern=ORDER_NO, description="order number, e.g. SY20261126000123")]
District = Literal["YZQ", "TYQ", "JYQ", "HTQ", "YCQ"]
assert set(District.__args__) == set(DISTRICTS)


# ---------------------------------------------------------------- response and body models


class OrderSummary(BaseModel):
    """One row of a list, from the database read model. The petitioner is always masked."""

    order_no: str
    workflow_id: str
    stage: Stage
    owner: str
    category: Category
    urgency: Urgency
    channel: str
    title: str
    district: str | None = None
    overdue: bool
    reopens: int
    return_count: int
    created_at: datetime
    reply_by: datetime | None = Field(default=None, description="the (extended) handling deadline")
    closed_at: datetime | None = None
    petitioner: PetitionerView


class OrderList(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[OrderSummary]


def _body_model(action: str, model: type[BaseModel]) -> type[BaseModel]:
    """The action's update payload without `by` (the acting party comes from the API key)."""
    fields = {n: (f.annotation, f) for n, f in model.model_fields.items() if n != "by"}
    name = "".join(p.capitalize() for p in action.split("-")) + "Body"
    return create_model(name, __base__=Strict, __doc__=f"body of `{action}`", **fields)


ACTION_BODIES: dict[str, type[BaseModel]] = {a: _body_model(a, m) for a, m in ACTION_MODELS.items()}


# ---------------------------------------------------------------- helpers


def may_see_identity(p: Principal, st: OrderState) -> bool:
    """Owner, co-handlers and admins see the petitioner; everyone else a masked copy."""
    return p.role == "admin" or (p.role == "department" and (
        p.unit == st.owner or p.unit in {c.unit for c in st.co_handlers}))


def view(p: Principal, st: OrderState) -> OrderState:
    return st if may_see_identity(p, st) else st.masked()


def read_order(db: Database, order_no: str) -> OrderState:
    """From the read model, never by querying the running workflow (see hotline.readmodel)."""
    st = load_order(db, order_no)
    if st is None:
        raise ApiError(404, f"order {order_no} not found")
    return st


def aware(dt: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; they were written in UTC."""
    return dt.replace(tzinfo=timezone.utc) if dt is not None and dt.tzinfo is None else dt


def _summary(r: OrderRow) -> OrderSummary:
    return OrderSummary(
        order_no=r.order_no, workflow_id=r.workflow_id, stage=r.stage, owner=r.owner, category=r.category,
        urgency=r.urgency, channel=r.channel, district=r.district, overdue=bool(r.overdue),
        title=mask_text(r.title, r.petitioner_name or "", r.petitioner_phone or ""),  # lists are for every role
        reopens=r.reopens or 0, return_count=r.return_count or 0, created_at=aware(r.created_at),
        reply_by=aware(r.reply_by), closed_at=aware(r.closed_at),
        petitioner=PetitionerView(name=mask_name(r.petitioner_name or ""), phone=mask_phone(r.petitioner_phone or "")))


def _check_units(db: Database, action: str, data: dict) -> None:
    """Units named in a body must exist in the registry and be able to take work (not HOTLINE)."""
    named = {"return-request": [("claimed_unit", data.get("claimed_unit"))],
             "return-review": [("new_owner", data.get("new_owner"))],
             "coordination-plan": [(f"co_handlers.{i}.unit", c["unit"])
                                   for i, c in enumerate(data.get("co_handlers") or [])]}.get(action, [])
    named = [(f, v) for f, v in named if v is not None]
    if not named:
        return
    with db.session() as s:
        kinds = dict(s.execute(select(UnitRow.code, UnitRow.type)).all())
    for field, code in named:
        if kinds.get(code) in (None, "hotline"):
            raise ApiError(422, f"{field}: {code!r} is not a unit that can take work orders")


def _check_dates(body: BaseModel | None) -> None:
    """Dates of a body within their window, before the workflow does any arithmetic with them."""
    problem = action_date_problem(body)
    if problem:
        raise ApiError(422, problem)


def _engine(request: Request) -> OrderEngine:
    if request.app.state.engine is None:
        raise ApiError(503, "the workflow engine is not connected")
    return request.app.state.engine


def _router(request: Request) -> Router:
    if request.app.state.router is None:
        raise ApiError(503, "the routing engine is not ready")
    return request.app.state.router


def _actor_check(action: str) -> Callable:
    admin = action in ADMIN_ACTIONS

    def dep(p: Principal = Depends(principal)) -> Principal:
        if admin and p.role != "admin":
            raise ApiError(403, f"only the hotline office (an admin key) may {action}")
        if not admin and p.role != "department":
            raise ApiError(403, f"{action} is a department action; use the unit's department key")
        return p
    return dep


# ---------------------------------------------------------------- the app


class DropBlankQuery:
    """`?owner=&stage=handling` means "no owner filter": blank query parameters are dropped, so
    clients that fill the spec's URL templates (`?owner=&stage=&overdue=`) get what they mean."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        qs = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if qs and (b"=&" in qs + b"&" or qs.startswith(b"&")):
            pairs = parse_qsl(qs.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
            kept = urlencode([(k, v) for k, v in pairs if v != ""], encoding="latin-1")
            scope = {**scope, "query_string": kept.encode("latin-1")}
        await self.app(scope, receive, send)


def create_app(db: Database, engine: OrderEngine | None, router: Router | None,
               lifespan: Callable | None = None, codec=None, ui_origins: tuple[str, ...] = (),
               limits: Limits | None = None) -> FastAPI:
    """`codec` (a PayloadCodec) serves /codec/* to admins, with CORS for `ui_origins`; `limits`
    (default: from the environment, hotline.settings.load_limits) bound bodies and rates."""
    app = FastAPI(title="12345 Hotline work orders", version="1.0",
                  description="First-contact responsibility (首接责任制) on durable workflows. "
                              "Send the key in `X-API-Key`; errors are `{\"error\": {\"code\", \"message\"}}`.",
                  lifespan=lifespan)
    app.state.db, app.state.engine, app.state.router = db, engine, router
    app.state.codec, app.state.ui_origins = codec, frozenset(ui_origins)
    limits = limits or load_limits()
    app.state.key_throttle = KeyThrottle(limits)
    app.add_middleware(DropBlankQuery)

    async def calendar_imported(year: int, notice: str, by: str) -> None:
        """Open orders recompute the deadlines the newly entered schedule touches."""
        from hotline.calendar_rollout import follow_calendar
        if app.state.engine is None:
            raise RuntimeError("the workflow engine is not connected")
        _, failed = await follow_calendar(db, app.state.engine, year, notice, by)
        if failed:
            raise RuntimeError(f"{len(failed)} orders were not told")
    app.state.calendar_imported = calendar_imported
    errors.install(app)
    # Outermost, so floods and oversized bodies are refused before any route or key lookup.
    app.add_middleware(Guard, limits=limits, larger={"/codec/": codec_routes.MAX_BODY,
                                                     "/api/v1/units/import": admin_routes.MAX_CATALOGUE_BYTES})
    wire.install()  # malformed request lines, answered by the server itself, in the error shape too

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="ready to serve: database and workflow engine; calendar warnings")
    async def readyz(request: Request):
        from fastapi.responses import JSONResponse

        from hotline.calendar_admin import coming_year_status
        problems, warnings = [], []
        try:
            status = await asyncio.to_thread(coming_year_status, db, datetime.now(timezone.utc))
            if status.code:
                warnings.append({"code": status.code, "message": status.message})
        except Exception as exc:  # the database is not reachable
            problems.append(f"database: {type(exc).__name__}")
        if request.app.state.engine is None:
            problems.append("workflow engine: not connected")
        problems += [p for p in await ready_problems(db, request.app.state.engine) if p not in problems]
        body = {"status": "not ready" if problems else "ready", "problems": problems, "warnings": warnings}
        return JSONResponse(body, status_code=503 if problems else 200)

    # ------------------------------------------------------------------ orders

    async def _intake(req: IntakeRequest, p: Principal, key: str | None, engine: OrderEngine,
                      router: Router) -> OrderState:
        reject_nul(req.model_dump(mode="json"))
        if key:
            reject_nul(key, "Idempotency-Key")
        try:  # the key is this API key's own, and bound to this body (a replay: the same order)
            st = await intake_order(db, engine, router, req, scoped_key(f"key{p.key_id}", key))
        except IntakeError as exc:
            raise ApiError(422, str(exc)) from None
        except IdempotencyConflict as exc:
            raise ApiError(409, str(exc)) from None
        return view(p, st)

    @app.post("/api/v1/orders", status_code=201, response_model=IntakeAnswer, tags=["orders"],
              summary="intake (受理): create a work order, dispatch it, start its workflow; "
                      "`duplicates`: open orders that may be the same matter (并单)")
    async def intake(request: Request, req: IntakeRequest, p: Principal = Depends(require("intake", "admin")),
                     idempotency_key: str | None = Header(
                         default=None, min_length=1, max_length=128,
                         description="same key → same order and no second workflow")) -> IntakeAnswer:
        if req.channel == Channel.open311:  # the route sets it: only /open311/ makes open311 orders
            raise ApiError(422, "channel: 'open311' is set by the Open311 endpoint only; "
                                "record how the citizen reached the hotline: phone, web, app or wechat")
        st = await _intake(req, p, idempotency_key, _engine(request), _router(request))
        dups = await asyncio.to_thread(for_request, db, _router(request), req, {st.order_no})
        return IntakeAnswer.model_validate({**st.model_dump(), "duplicates": dups})

    @app.get("/api/v1/orders/{order_no}", response_model=OrderState, tags=["orders"],
             summary="current state and history of actions")
    async def get_order(order_no: NO, request: Request, p: Principal = Depends(principal)) -> OrderState:
        return view(p, read_order(db, order_no))

    @app.get("/api/v1/orders", response_model=OrderList, tags=["orders"],
             summary="list from the read model (petitioner masked)")
    async def list_orders(p: Principal = Depends(principal),
                          owner: str | None = Query(default=None, pattern=UNIT_CODE),
                          stage: Stage | None = None, overdue: bool | None = None,
                          category: Category | None = None, urgency: Urgency | None = None,
                          district: District | None = None,
                          limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10**9)) -> OrderList:
        q = select(OrderRow)
        for col, val in ((OrderRow.owner, owner), (OrderRow.stage, stage), (OrderRow.category, category),
                         (OrderRow.urgency, urgency), (OrderRow.district, district)):
            if val is not None:
                q = q.where(col == getattr(val, "value", val))
        if overdue is not None:
            q = q.where(OrderRow.overdue.is_(overdue))
        with db.session() as s:
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = s.scalars(q.order_by(OrderRow.created_at.desc(), OrderRow.order_no.desc())
                             .limit(limit).offset(offset)).all()
        return OrderList(total=total, limit=limit, offset=offset, items=[_summary(r) for r in rows])

    async def _act(order_no: str, action: str, body: BaseModel | None, p: Principal,
                   request: Request) -> OrderState:
        data = body.model_dump() if body is not None else {}
        reject_nul(data)
        _check_units(db, action, data)
        _check_dates(body)
        payload = ACTION_MODELS[action].model_validate({**data, "by": p.actor})
        engine = _engine(request)
        current = read_order(db, order_no)
        if current.stage == Stage.closed:
            raise ApiError(409, f"order {order_no} is closed ({current.close_reason}); it takes no more actions")
        # Who may act, from the read model: the workflow's validator checks it again, against
        # the order as it is when the action gets its turn.
        if p.role == "department":
            if action == "co-handler-done":
                allowed, who = {c.unit for c in current.co_handlers}, "a co-handler"
            else:
                allowed, who = {current.owner}, f"the owner ({current.owner})"
            if p.unit not in allowed:
                raise ApiError(403, f"{p.unit} may not {action} order {order_no}: only {who} may")
        try:
            st = await engine.act(order_no, action, payload)
        except ActionRefused as exc:
            raise ApiError(403 if exc.kind == "Forbidden" else 409, exc.message) from None
        except OrderNotFound:
            raise ApiError(404, f"order {order_no} not found") from None
        return view(p, st)

    for action in ACTION_MODELS:
        _add_action_route(app, action, _act)
    from hotline.api import merge_routes  # uses this module's helpers, so imported once they exist
    app.include_router(merge_routes.router)  # 并单 (issue 18), before the unknown-action catch-all
    app.state.act = _act  # the web console acts through this very path (hotline/console)

    @app.post("/api/v1/orders/{order_no}/{action}", include_in_schema=False)
    async def unknown_action(order_no: str, action: str) -> None:
        raise ApiError(404, f"unknown action {action!r}; known: {', '.join(sorted(ACTION_MODELS))}")

    # ------------------------------------------------------------------ routing

    @app.get("/api/v1/routing", response_model=RoutingAnswer, tags=["routing"],
             summary="ranked candidate units with the responsibility entries that matched, and "
                     "open orders that may be the same matter (`duplicates`)")
    async def route(text: str = Query(min_length=1, max_length=5000), category: Category | None = None,
                    district: District | None = None, _: Principal = Depends(principal),
                    router: Router = Depends(_router)) -> RoutingAnswer:
        if not text.strip():
            raise ApiError(422, "text: must not be blank")
        result = router.route(text, category.value if category else None, district)
        dups = await asyncio.to_thread(find_duplicates, db, router, text, result.district)
        return RoutingAnswer(**result.model_dump(), duplicates=dups)

    app.include_router(admin_routes.router)
    app.include_router(kpi_routes.router)
    app.include_router(open311.router)
    app.include_router(calendar_routes.router)
    app.include_router(codec_routes.router)
    track_routes.install(app, limits)  # the citizens' progress lookup (issue 18)
    from hotline.console import install as install_console
    install_console(app)  # the web console (工单工作台) under /console
    observability.install(app, db)  # GET /metrics, requests counted by route template
    return app


def _add_action_route(app: FastAPI, action: str, act: Callable) -> None:
    body_model = ACTION_BODIES[action]
    t = transitions.TABLE[action]
    who = {"owner": "the owner's department key", "co_handler": "a co-handler's department key",
           "admin": "an admin key"}[t.actor]
    stages = ", ".join(sorted(s.value for s in t.from_stages))
    doc = (f"`{action}` — {t.note}. Needs {who}. Allowed in stages: {stages}. "
           "Refused by the workflow's validator → 409 with its message (403 when forbidden); nothing changes.")
    check = _actor_check(action)
    path = f"/api/v1/orders/{{order_no}}/{action}"
    kw = dict(response_model=OrderState, tags=["actions"], summary=f"{action} ({t.note.split(',')[0]})",
              description=doc, name=action.replace("-", "_"))
    if not body_model.model_fields:  # sign: the body may be absent or {}
        async def endpoint(request: Request, order_no: NO, p: Principal = Depends(check),
                           body: body_model | None = Body(default=None)) -> OrderState:
            return await act(order_no, action, body, p, request)
    else:
        async def endpoint(request: Request, order_no: NO, body: body_model,
                           p: Principal = Depends(check)) -> OrderState:
            return await act(order_no, action, body, p, request)
    app.add_api_route(path, endpoint, methods=["POST"], **kw)


def production_app() -> FastAPI:
    """The gateway wired to its real dependencies: the database from DATABASE_URL, the Temporal
    client (pydantic converter) and the router over the unit catalogue in the database."""
    from contextlib import asynccontextmanager

    from hotline.catalogue import default_catalogue_path, load_catalogue
    from hotline.policy import load_policy
    from hotline.settings import load_codec_keys, load_settings
    from hotline.units import catalogue_from_db, units_loaded
    from workflows.codec import EncryptionCodec
    from workflows.connect import connect
    from workflows.engine import TemporalEngine

    settings = load_settings()
    keys = load_codec_keys()
    db = Database(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        client = await connect(settings, keys)
        from functools import partial

        from hotline.commits import confirm
        app.state.engine = TemporalEngine(client, settings.task_queue, load_policy(settings.policy),
                                          confirm=partial(confirm, db))  # an answer's writes stand
        cat = catalogue_from_db(db) if units_loaded(db) else load_catalogue(default_catalogue_path())
        from hotline.routing_store import learned_router
        app.state.router = learned_router(cat)  # evidence + routing model (issue 19)
        yield
        db.dispose()

    app = create_app(db, None, None, lifespan=lifespan, codec=EncryptionCodec(keys), ui_origins=settings.ui_origins)
    observability.production(app)  # JSON logs; tracing when OTEL_* is set
    return app


_production: FastAPI | None = None


def __getattr__(name: str):
    """`uvicorn hotline.api.app:app` (Dockerfile, compose) serves the production-wired gateway."""
    global _production
    if name == "app":
        if _production is None:
            _production = production_app()
        return _production
    raise AttributeError(name)
