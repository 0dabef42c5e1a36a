"""Probes for the orchestrator: `/healthz` (the process answers) and `/readyz` (it can serve)."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hotline.api.deps import DbDep
from hotline.services.calendar_admin import coming_year_status
from hotline.store.health import ready_problems

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="ready to serve: database and workflow engine; calendar warnings")
async def readyz(request: Request, db: DbDep):
    problems, warnings = [], []
    try:
        status = await asyncio.to_thread(coming_year_status, db, datetime.now(timezone.utc))
        if status.code:
            warnings.append({"code": status.code, "message": status.message})
    except Exception as exc:  # the database is not reachable
        problems.append(f"database: {type(exc).__name__}")
    if request.app.state.work_orders is None:
        problems.append("workflow engine: not connected")
    problems += [p for p in await ready_problems(db, request.app.state.work_orders) if p not in problems]
    body = {"status": "not ready" if problems else "ready", "problems": problems, "warnings": warnings}
    return JSONResponse(body, status_code=503 if problems else 200)
