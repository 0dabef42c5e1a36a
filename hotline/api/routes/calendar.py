"""The working calendar over HTTP: the hotline office enters a year's schedule, anyone reads it.

- `POST /api/v1/calendar/{year}` (admin): the schedule file as the body (YAML), validated
  whole — 422 with every problem and its line, nothing stored — then stored; the answer is the
  diff against what the calendar assumed before. `?dry_run=true` validates and diffs only.
- `GET /api/v1/calendar/status`: is the coming year confirmed (a warning from 1 November).
- `GET /api/v1/calendar/{year}`: the year's days off and make-up days, confirmed or not, and
  where each comes from; `GET /api/v1/calendar/{year}/diff`: the entered schedule's diff.

After a stored import, `app.state.calendar_imported` — an async callable taking the year, the
notice and who entered it, if the application sets one (`create_app` sets `rollout(app)`) — is
awaited, so running orders can be told to recompute their deadlines; its failure is reported in
`warnings` (the schedule stays stored).
"""
from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Awaitable, Callable

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from pydantic import BaseModel

from hotline.api.auth import principal, require
from hotline.api.errors import ApiError, text_body
from hotline.domain.calendar_schedule import ScheduleError, parse_schedule
from hotline.domain.statutory import FIRST_YEAR, LAST_YEAR
from hotline.services.calendar_admin import (
    CalendarConflict,
    CalendarImportError,
    coming_year_status,
    diff,
    import_schedule,
    show_year,
    stored_schedule,
    year_status,
)
from hotline.services.calendar_rollout import follow_calendar
from hotline.store.apikeys import Principal

log = logging.getLogger("hotline.api")
router = APIRouter(tags=["calendar"])
YEAR = Path(ge=FIRST_YEAR, le=LAST_YEAR, description="the calendar year, e.g. 2027")
MAX_SCHEDULE_BYTES = 256 * 1024


class DayOut(BaseModel):
    day: str
    weekday: str
    workday: bool
    known: bool
    source: str  # database | file | chinesecalendar | statutory | guess
    note: str | None = None


class ChangeOut(BaseModel):
    day: str
    weekday: str
    assumed_workday: bool
    assumed_source: str
    workday: bool
    note: str


class YearOut(BaseModel):
    year: int
    confirmed: bool
    source: str  # database | chinesecalendar | provisional
    notice: str | None = None
    entered_by: str | None = None
    entered_at: datetime | None = None
    days: list[DayOut]


class DiffOut(BaseModel):
    year: int
    notice: str
    changes: list[ChangeOut]


class ImportOut(BaseModel):
    year: int
    notice: str
    stored: bool
    replaced: bool = False
    entered_by: str | None = None
    entered_at: datetime | None = None
    days: int
    changes: list[ChangeOut]
    warnings: list[str] = []


class StatusOut(BaseModel):
    year: int
    confirmed: bool
    source: str
    code: str | None = None
    message: str | None = None


def rollout(app: FastAPI) -> Callable[[int, str, str], Awaitable[None]]:
    """The `calendar_imported` hook: open orders recompute the deadlines the new schedule touches."""
    async def calendar_imported(year: int, notice: str, by: str) -> None:
        if app.state.work_orders is None:
            raise RuntimeError("the workflow engine is not connected")
        _, failed = await follow_calendar(app.state.db, app.state.work_orders, year, notice, by)
        if failed:
            raise RuntimeError(f"{len(failed)} orders were not told")
    return calendar_imported


def _changes(changes) -> list[ChangeOut]:
    return [ChangeOut.model_validate(c.as_dict()) for c in changes]


@router.get("/api/v1/calendar/status", response_model=StatusOut,
            summary="is the coming year's holiday schedule entered? (warns from 1 November)")
async def calendar_status(request: Request, _: Principal = Depends(principal)) -> StatusOut:
    st = await asyncio.to_thread(coming_year_status, request.app.state.db, datetime.now(UTC))
    return StatusOut.model_validate(st.as_dict())


@router.get("/api/v1/calendar/{year}", response_model=YearOut,
            summary="a year's days off and make-up working days, confirmed or not, with their source")
async def get_year(request: Request, year: int = YEAR, _: Principal = Depends(principal)) -> YearOut:
    db = request.app.state.db
    st = await asyncio.to_thread(year_status, db, year)
    days = await asyncio.to_thread(show_year, db, year)
    return YearOut(year=year, confirmed=st.confirmed, source=st.source, notice=st.notice,
                   entered_by=st.entered_by, entered_at=st.entered_at,
                   days=[DayOut.model_validate(d.as_dict()) for d in days])


@router.get("/api/v1/calendar/{year}/diff", response_model=DiffOut,
            summary="the entered schedule against what the calendar assumed without it")
async def get_diff(request: Request, year: int = YEAR, _: Principal = Depends(principal)) -> DiffOut:
    db = request.app.state.db
    schedule = await asyncio.to_thread(stored_schedule, db, year)
    if schedule is None:
        raise ApiError(404, f"no schedule entered for {year}")
    changes = await asyncio.to_thread(diff, db, year, schedule)
    return DiffOut(year=year, notice=schedule.notice, changes=_changes(changes))


@router.post("/api/v1/calendar/{year}", response_model=ImportOut,
             summary="enter a year's holiday schedule from YAML (validated whole; nothing changes on error)",
             openapi_extra={"requestBody": {"required": True, "description": "the schedule file (YAML text): "
                                            "year, notice, days: {YYYY-MM-DD: {workday, note}}",
                                            "content": {"application/yaml": {"schema": {"type": "string"}},
                                                        "text/plain": {"schema": {"type": "string"}}}}})
async def post_year(request: Request, year: int = YEAR,
                    dry_run: bool = Query(default=False, description="validate and diff only; store nothing"),
                    p: Principal = Depends(require("admin"))) -> ImportOut:
    text = await text_body(request, "schedule", MAX_SCHEDULE_BYTES, "invalid_calendar")
    try:
        schedule = parse_schedule(text, expect_year=year)
    except ScheduleError as exc:
        raise ApiError(422, f"schedule rejected, {len(exc.problems)} problem(s); nothing changed",
                       code="invalid_calendar", details=exc.problems) from None
    db = request.app.state.db
    if dry_run:
        changes = await asyncio.to_thread(diff, db, year, schedule)
        return ImportOut(year=year, notice=schedule.notice, stored=False, days=len(schedule.days),
                         changes=_changes(changes))
    try:
        result = await asyncio.to_thread(import_schedule, db, schedule, p.actor)
    except CalendarConflict as exc:
        raise ApiError(409, str(exc)) from None
    except CalendarImportError as exc:
        raise ApiError(422, str(exc), code="invalid_calendar") from None
    warnings = []
    hook = getattr(request.app.state, "calendar_imported", None)
    if hook is not None:
        try:
            await hook(year, result.notice, p.actor)
        except Exception as exc:  # the schedule is stored; say what did not follow
            log.warning("calendar %d stored, but the follow-up failed: %s", year, type(exc).__name__)
            warnings.append(f"the schedule is stored, but telling running orders failed ({type(exc).__name__}); "
                            "try again")
    return ImportOut(year=year, notice=result.notice, stored=True, replaced=result.replaced,
                     entered_by=result.entered_by, entered_at=result.entered_at, days=result.days,
                     changes=_changes(result.changes), warnings=warnings)
