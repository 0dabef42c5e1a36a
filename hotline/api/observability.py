"""The gateway's metrics and traces: `/metrics`, request counters by route template, tracing.

`install(app, db)` (called by create_app) adds the request-counting middleware and `GET
/metrics`: this process's counters (hotline.runtime.metrics, process and Python runtime metrics) and
the business gauges read from the database (hotline.reporting.business_metrics). `production(app)`
turns on the structured logs and, when the OTEL_* variables ask for it, OpenTelemetry tracing
of the HTTP requests (hotline.runtime.tracing).

A request is labelled with its route's template (`/api/v1/orders/{order_no}/sign`), never its
path: an order number in a label would make one series per order.
"""
from __future__ import annotations

import time
from typing import Iterator

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.routing import Match

from hotline.reporting.business_metrics import BusinessCollector
from hotline.runtime.metrics import HTTP_LATENCY, HTTP_REQUESTS
from hotline.store import Database

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def _routes(routes) -> Iterator:
    """Every route, also those of routers included as a whole (newer FastAPI keeps an included
    router as one entry holding the original; no router here is included with a prefix)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        else:
            yield route


def route_template(app: FastAPI, scope) -> str:
    """The template of the route that answers `scope`; "unmatched" for any other path."""
    partial = None
    for route in _routes(app.router.routes):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return getattr(route, "path", "unmatched")
        if match == Match.PARTIAL and partial is None:  # the path is known, the method is not
            partial = getattr(route, "path", None)
    return partial or "unmatched"


class RequestMetrics:
    """Pure ASGI: counts every answer, the gateway's own refusals (413, 429) included."""

    def __init__(self, app, fastapi_app: FastAPI) -> None:
        self.app, self.fastapi_app = app, fastapi_app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), {"code": 500}

        async def sending(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)
        try:
            await self.app(scope, receive, sending)
        finally:
            method = scope.get("method", "GET") if scope.get("method") in METHODS else "other"
            route = route_template(self.fastapi_app, scope)
            HTTP_REQUESTS.labels(method, route, str(status["code"])).inc()
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)


def install(app: FastAPI, db: Database) -> None:
    business = CollectorRegistry(auto_describe=False)
    business.register(BusinessCollector(db))

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics(request: Request) -> Response:
        import asyncio
        # the business gauges query the database: off the event loop
        body = generate_latest(REGISTRY) + await asyncio.to_thread(generate_latest, business)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestMetrics, fastapi_app=app)


def production(app: FastAPI) -> None:
    """JSON log lines (masked) and, with OTEL_* set, traces of every request exported over OTLP."""
    from hotline.runtime import tracing
    from hotline.runtime.logjson import configure_logging
    configure_logging()
    provider = tracing.setup("hotline-gateway")
    if provider is not None:
        instrument(app, provider)


def instrument(app: FastAPI, tracer_provider) -> None:
    """Spans for HTTP requests (the server span a trace of an intake starts with)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    FastAPIInstrumentor.instrument_app(app, tracer_provider=tracer_provider, excluded_urls="healthz,readyz,metrics")
