"""ASGI entry point of the HTTP gateway: `uvicorn gateway:app`.

The production composition: `hotline.api.app.create_app` wired to the database from
DATABASE_URL, the Temporal client (pydantic converter, payloads sealed by the codec) through
`TemporalWorkOrders`, and the router over the unit catalogue in the database. It lives here, at the
top, so the API package never imports the workflows.
"""
from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from hotline.api import observability
from hotline.api.app import create_app
from hotline.domain.policy import load_policy
from hotline.runtime.logjson import configure_logging
from hotline.runtime.settings import load_codec_keys, load_settings
from hotline.store import Database
from hotline.store.routing_models import make_router
from workflows.client import TemporalWorkOrders
from workflows.codec import EncryptionCodec
from workflows.connect import connect


def production_app() -> FastAPI:
    """The gateway wired to its real dependencies (connected when the app starts)."""
    settings = load_settings()
    keys = load_codec_keys()
    db = Database(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        client = await connect(settings, keys)
        # an answer's writes stand at once; intake answers from the start (the calendar in the database)
        policy = load_policy(settings.policy)
        app.state.work_orders = TemporalWorkOrders.on_store(client, settings.task_queue, policy, db)
        app.state.unit_router = make_router(db)  # evidence + routing model (issue 19)
        yield
        db.dispose()

    app = create_app(db, None, None, lifespan=lifespan, codec=EncryptionCodec(keys), ui_origins=settings.ui_origins)
    observability.production(app)  # JSON logs; tracing when OTEL_* is set
    return app


configure_logging()  # every line masked: phone numbers, ID numbers, e-mail addresses
app = production_app()
