"""Relational store: tables, engine/session factory, migrations entry point."""
from hotline.store.db import Database, make_database  # noqa: F401
