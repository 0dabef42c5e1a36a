"""ASGI entry point of the HTTP gateway: `uvicorn gateway:app`.

Wires the HTTP app to its real dependencies: the database from DATABASE_URL, the Temporal
client (pydantic converter), the routing engine over the unit catalogue in the database.
"""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from hotline.api.app import create_app
from hotline.catalogue import default_catalogue_path, load_catalogue
from hotline.policy import load_policy
from hotline.routing import Router
from hotline.settings import load_settings
from hotline.store import Database
from hotline.units import catalogue_from_db, units_loaded
from workflows.connect import connect
from workflows.engine import TemporalEngine

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
settings = load_settings()
db = Database(settings.database_url)


def _router() -> Router:
    cat = catalogue_from_db(db) if units_loaded(db) else load_catalogue(default_catalogue_path())
    return Router(cat)


@asynccontextmanager
async def lifespan(app):
    client = await connect(settings)
    app.state.engine = TemporalEngine(client, settings.task_queue, load_policy(settings.policy))
    app.state.router = _router()
    yield
    db.dispose()


app = create_app(db, None, None, lifespan=lifespan)
