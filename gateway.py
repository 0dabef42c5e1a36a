"""ASGI entry point of the HTTP gateway: `uvicorn gateway:app` (the same app as
`hotline.api.app:app`, wired to the database, Temporal and the catalogue in the database)."""
from __future__ import annotations

from hotline.api.app import production_app
from hotline.masking import configure_logging

configure_logging()  # every line masked: phone numbers, ID numbers, e-mail addresses
app = production_app()
