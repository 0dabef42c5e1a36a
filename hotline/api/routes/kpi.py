"""GET /api/v1/kpi (SPEC §7, §8): the hotline's numbers for any period and unit, year on year.

The answer is the same report the CLI and the HTML briefing show: every KPI with last year's
value and the change, the per-unit ranking and the monthly invalid returns.
"""
from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from hotline.api.auth import require
from hotline.api.errors import ApiError
from hotline.domain.policy import Policy, load_policy
from hotline.reporting.kpi import KpiError, build_report
from hotline.runtime.settings import load_settings
from hotline.store.apikeys import Principal

router = APIRouter(tags=["kpi"])


@functools.lru_cache(maxsize=4)
def _policy(name: str) -> Policy:
    return load_policy(name)


@router.get("/api/v1/kpi", summary="KPIs for [from, to), optionally one unit, with last year's values")
def get_kpi(
    request: Request,
    from_: str = Query(alias="from", description="first day, YYYY-MM-DD (local time), or an ISO 8601 instant"),
    to: str = Query(description="end of the period, exclusive: YYYY-MM-DD or an ISO 8601 instant"),
    unit: str | None = Query(default=None, description="a unit code, e.g. ZJJ; omit for the whole city"),
    _: Principal = Depends(require("admin", "department")),
) -> dict[str, Any]:
    # A plain `def`: FastAPI runs it in its thread pool, so the SQL never blocks the event loop.
    policy = getattr(request.app.state, "policy", None) or _policy(load_settings().policy)
    try:
        return build_report(request.app.state.db, from_, to, unit, policy)
    except KpiError as exc:
        raise ApiError(422, str(exc)) from None
