"""ASGI entry point of the HTTP gateway: `uvicorn gateway:app` (the same app as
`hotline.api.app:app`, wired to the database, Temporal and the catalogue in the database)."""
from __future__ import annotations

import logging

from hotline.api.app import production_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
app = production_app()
