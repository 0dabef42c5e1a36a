"""工单工作台: the web console of operators, department clerks and the hotline office.

Server-rendered pages (Jinja2, htmx served from /console/static) on the gateway's FastAPI app.
`install(app)` adds the routes; pages act through the JSON API's own action path
(`app.state.act`) and read the read model, so there is no second way to a workflow.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hotline.console.session import LoginThrottle, Signer, load_secret


@dataclass
class ConsoleState:
    signer: Signer
    throttle: LoginThrottle
    temporal_ui: str  # base of the order's page in the Temporal Web UI


def _temporal_ui() -> str:
    base = os.environ.get("HOTLINE_TEMPORAL_UI_URL")
    if not base:
        base = f"http://localhost:{os.environ.get('HOTLINE_UI_PORT', '8233')}"
    namespace = os.environ.get("TEMPORAL_NAMESPACE", "default")
    return f"{base.rstrip('/')}/namespaces/{namespace}/workflows"


def install(app: FastAPI, secret: bytes | None = None) -> None:
    from hotline.console import auth_pages, intake_pages, office_pages, order_pages, track_pages
    from hotline.console.web import HERE

    app.state.console = ConsoleState(Signer(secret or load_secret()), LoginThrottle(), _temporal_ui())
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    for module in (auth_pages, intake_pages, order_pages, office_pages, track_pages):
        app.include_router(module.router)
