"""The HTTP API of SPEC §8. `create_app` takes its dependencies, so tests and production wire
different ones: the database, the order engine (Temporal in production) and the router.

It only builds the application: state, middleware, error handlers and the routers, one per
resource (hotline/api/routes/, Open311 in hotline/api/open311/). Routes read what they need
from `app.state` through hotline/api/deps.py. The production wiring (Temporal client, payload
codec) is the top-level gateway.py, so this package never imports the workflows.
"""
from __future__ import annotations

from typing import Callable
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI

from hotline.api import errors, observability, wire
from hotline.api.guard import Guard
from hotline.api.open311 import routes as open311
from hotline.api.routes import actions, admin, calendar, kpi, merges, ops, orders, routing, track
from hotline.api.routes import codec as codec_server  # `codec` is create_app's PayloadCodec
from hotline.api.throttle import KeyThrottle
from hotline.console import install as install_console
from hotline.domain.routing.router import Router
from hotline.runtime.settings import Limits, load_limits
from hotline.services.port import WorkOrderPort
from hotline.store import Database


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


def create_app(db: Database, work_orders: WorkOrderPort | None, router: Router | None,
               lifespan: Callable | None = None, codec=None, ui_origins: tuple[str, ...] = (),
               limits: Limits | None = None) -> FastAPI:
    """`codec` (a PayloadCodec) serves /codec/* to admins, with CORS for `ui_origins`; `limits`
    (default: from the environment, hotline.runtime.settings.load_limits) bound bodies and rates."""
    app = FastAPI(title="12345 Hotline work orders", version="1.0",
                  description="First-contact responsibility (首接责任制) on durable workflows. "
                              "Send the key in `X-API-Key`; errors are `{\"error\": {\"code\", \"message\"}}`.",
                  lifespan=lifespan)
    limits = limits or load_limits()
    app.state.db, app.state.work_orders, app.state.unit_router = db, work_orders, router
    app.state.codec, app.state.ui_origins = codec, frozenset(ui_origins)
    app.state.key_throttle = KeyThrottle(limits)
    app.state.track_limits = track.TrackLimits(limits)
    app.state.calendar_imported = calendar.rollout(app)  # open orders follow a newly entered schedule
    app.state.act = actions.act  # the web console acts through this very path (hotline/console)

    app.add_middleware(DropBlankQuery)
    errors.install(app)
    # Outermost, so floods and oversized bodies are refused before any route or key lookup.
    app.add_middleware(Guard, limits=limits, larger={"/codec/": codec_server.MAX_BODY,
                                                     "/api/v1/units/import": admin.MAX_CATALOGUE_BYTES})
    wire.install()  # malformed request lines, answered by the server itself, in the error shape too

    # The order matters where paths overlap: the actions and the merges come before the
    # catch-all that answers an unknown action.
    for module in (ops, orders, actions):
        app.include_router(module.router)
    app.include_router(merges.router)  # 并单 (issue 18)
    app.include_router(actions.fallback)
    for module in (routing, admin, kpi, open311, calendar, codec_server, track):
        app.include_router(module.router)
    install_console(app)  # the web console (工单工作台) under /console
    observability.install(app, db)  # GET /metrics, requests counted by route template
    return app
