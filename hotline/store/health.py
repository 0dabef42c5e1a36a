"""Readiness checks shared by the gateway's /readyz and the worker's: the database answers and
is migrated to the code's schema, the Temporal frontend answers its health check.

Each check returns problems as short lines naming the dependency and the error's kind, never a
connection string or a message that could carry a password.
"""
from __future__ import annotations

import asyncio
from functools import lru_cache

from sqlalchemy import text

from hotline.store import Database
from hotline.store.db import MIGRATIONS


@lru_cache(maxsize=1)
def code_heads() -> frozenset[str]:
    """The migration heads this code expects (from the scripts shipped with it)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return frozenset(ScriptDirectory.from_config(cfg).get_heads())


def database_problems(db: Database) -> list[str]:
    """Blocking: run it in a thread from async code."""
    from alembic.runtime.migration import MigrationContext
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = frozenset(MigrationContext.configure(conn).get_current_heads())
    except Exception as exc:
        return [f"database: {type(exc).__name__}"]
    if current != code_heads():
        return [f"database: schema at {','.join(sorted(current)) or 'nothing'}, "
                f"the code expects {','.join(sorted(code_heads()))} (run the migrations)"]
    return []


async def temporal_problems(client, timeout: float = 3.0) -> list[str]:
    """The frontend's gRPC health check (no workflow is asked anything)."""
    if client is None:
        return ["workflow engine: not connected"]
    try:
        if not await asyncio.wait_for(client.service_client.check_health(), timeout):
            return ["workflow engine: the Temporal frontend is not serving"]
    except Exception as exc:
        return [f"workflow engine: {type(exc).__name__}"]
    return []


async def ready_problems(db: Database, engine=None) -> list[str]:
    """The database (reachable, migrated) and, for an engine with a Temporal client, the frontend."""
    problems = await asyncio.to_thread(database_problems, db)
    client = getattr(engine, "client", None)
    if client is not None:
        problems += await temporal_problems(client)
    return problems
