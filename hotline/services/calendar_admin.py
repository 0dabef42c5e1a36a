"""The working calendar as data the hotline office manages.

A year's schedule (`hotline.domain.calendar_schedule`) is stored in `calendar_years` and
`calendar_days` with who entered it, when and from which notice. The calendar deadlines are
computed on is then: the shipped override table, less the years entered in the database,
plus the database's days (the database wins), with every entered year *confirmed* — its
days not listed are plain Monday–Friday and known, so deadlines in it are no longer
provisional.

`CalendarSource` is what a long-lived process (the worker's deadline activity) holds: it
re-reads the tables at most every `ttl` seconds, or at once after `invalidate()` (an import in
the same process invalidates every source there), so a schedule entered through the API or
the CLI reaches the worker without a restart.

`coming_year_status` tells from 1 November (Beijing time) whether next year still lacks a
confirmed schedule, and at any time whether the current year does, for the API, the KPI
report and start-up checks.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from hotline.domain.calendar_schedule import Schedule, weekday_zh
from hotline.domain.statutory import statutory_days
from hotline.domain.workcal import CalendarOverrides, WorkCalendar, official_year, shipped_overrides
from hotline.store import Database
from hotline.store.tables import CalendarDayRow, CalendarYearRow

log = logging.getLogger("hotline.calendar")

CALENDAR_TZ = "Asia/Shanghai"
WARN_FROM = (11, 1)  # month, day: from then on next year's schedule is due
_ANY_HOURS = (CALENDAR_TZ, [("08:00", "17:00")])  # day lookups only: the hours do not matter


class CalendarImportError(ValueError):
    """The schedule cannot be stored (e.g. a bad `entered_by`); nothing changed."""


class CalendarConflict(CalendarImportError):
    """Another import of the same year committed first; nothing of this one was stored."""


# -- reading --------------------------------------------------------------------------------


def load_calendar(db: Database, file_overrides: Mapping[date, bool] | None = None,
                  exclude_year: int | None = None) -> CalendarOverrides:
    """The merged overrides: the shipped table (or `file_overrides`) with the entered years
    replacing it, confirmed. `exclude_year` leaves one entered year out (what was assumed
    before it was entered)."""
    base = shipped_overrides() if file_overrides is None else file_overrides
    with db.session() as s:
        years = set(s.scalars(select(CalendarYearRow.year)))
        rows = s.execute(select(CalendarDayRow.year, CalendarDayRow.day, CalendarDayRow.workday)
                         .order_by(CalendarDayRow.year, CalendarDayRow.day)).all()
    entered = years - {exclude_year}
    days = {d: w for d, w in base.items() if d.year not in entered}
    for year, day, workday in rows:  # ascending years: a later notice's New Year days win
        if year in entered:
            days[day] = bool(workday)
    digest = hashlib.sha256(repr((sorted(days.items()), sorted(entered))).encode()).hexdigest()[:16]
    return CalendarOverrides(days, confirmed_years=entered, version=digest)


_SOURCES: weakref.WeakSet = weakref.WeakSet()


class CalendarSource:
    """The merged overrides of a database, re-read at most every `ttl` seconds.

    `overrides()` is thread-safe (the deadline activity runs in a thread pool). If a re-read
    fails, the last good overrides are kept and a warning logged; the very first read raises,
    so an activity fails and is retried rather than computing on a calendar missing the
    office's schedules.
    """

    def __init__(self, db: Database, ttl: float = 60.0, file_overrides: Mapping[date, bool] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db, self.ttl, self.file_overrides, self._clock = db, ttl, file_overrides, clock
        self._lock = threading.Lock()
        self._current: CalendarOverrides | None = None
        self._read_at = 0.0
        _SOURCES.add(self)

    def overrides(self) -> CalendarOverrides:
        with self._lock:
            now = self._clock()
            if self._current is None or now - self._read_at >= self.ttl:
                try:
                    self._current = load_calendar(self.db, self.file_overrides)
                except Exception as exc:
                    if self._current is None:
                        raise
                    log.warning("calendar: re-reading the entered schedules failed (%s); keeping version %s",
                                type(exc).__name__, self._current.version)
                self._read_at = now
            return self._current

    @property
    def version(self) -> str:
        return self.overrides().version

    def invalidate(self) -> None:
        """Re-read on the next `overrides()`."""
        with self._lock:
            self._read_at = float("-inf")


def invalidate_all() -> None:
    """Every `CalendarSource` of this process re-reads on its next use."""
    for source in list(_SOURCES):
        source.invalidate()


@dataclass(frozen=True)
class YearStatus:
    year: int
    confirmed: bool
    source: str  # database | chinesecalendar | provisional
    notice: str | None = None
    entered_by: str | None = None
    entered_at: datetime | None = None


def year_status(db: Database, year: int) -> YearStatus:
    """Is `year` confirmed, and by what: an entered schedule, or chinesecalendar's."""
    with db.session() as s:
        row = s.get(CalendarYearRow, year)
    if row is not None:
        return YearStatus(year, True, "database", row.notice, row.entered_by, row.entered_at)
    if official_year(year):
        return YearStatus(year, True, "chinesecalendar")
    return YearStatus(year, False, "provisional")


def year_confirmed(db: Database, year: int) -> bool:
    return year_status(db, year).confirmed


# -- days, explained ------------------------------------------------------------------------


@dataclass(frozen=True)
class DayInfo:
    day: date
    weekday: str
    workday: bool
    known: bool
    source: str  # database | file | chinesecalendar | statutory | guess
    note: str | None = None

    def as_dict(self) -> dict:
        return {**asdict(self), "day": self.day.isoformat()}


_CC_NAMES = {"new_years_day": "元旦", "spring_festival": "春节", "tomb_sweeping_day": "清明节",
             "labour_day": "劳动节", "dragon_boat_festival": "端午节", "national_day": "国庆节",
             "mid_autumn_festival": "中秋节", "anti_fascist_70th_day": "抗战胜利70周年纪念日"}


def _cc_note(d: date) -> str | None:
    """chinesecalendar's name of a holiday or make-up day, in Chinese."""
    off, name = chinese_calendar.get_holiday_detail(d)
    if name is None:
        return None
    try:
        name = _CC_NAMES.get(chinese_calendar.Holiday(name).name, name)
    except ValueError:
        pass
    return name if off else f"{name}调休上班"


def _explain(cal: WorkCalendar, d: date, db_notes: Mapping[date, str], file_days: Mapping[date, bool]) -> DayInfo:
    workday, known = cal.is_workday(d)
    if d in db_notes:
        source, note = "database", db_notes[d]
    elif d in file_days and d.year not in cal.confirmed_years:
        source, note = "file", None
    elif d.year in cal.confirmed_years:
        source, note = "database", None
    elif known:
        source, note = "chinesecalendar", _cc_note(d)
    elif d in statutory_days(d.year):
        source, note = "statutory", statutory_days(d.year)[d]
    else:
        source, note = "guess", None
    return DayInfo(d, weekday_zh(d), workday, known, source, note)


def _span(year: int) -> list[date]:
    start, end = date(year - 1, 12, 25), date(year, 12, 31)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def show_year(db: Database, year: int) -> list[DayInfo]:
    """Every day of `year` that is not plain Monday–Friday, or is named, with its source."""
    cal = WorkCalendar(_ANY_HOURS, overrides=load_calendar(db))
    with db.session() as s:
        rows = s.execute(select(CalendarDayRow.year, CalendarDayRow.day, CalendarDayRow.note)
                         .order_by(CalendarDayRow.year)).all()
    notes = {day: note for _, day, note in rows}  # a later notice wins, as in load_calendar
    arranged_before = {day for y, day, _ in rows if y == year and day.year < year}  # New Year, year before
    out = []
    for d in _span(year):
        if d.year == year or d in arranged_before:
            info = _explain(cal, d, notes, shipped_overrides())
            if info.workday != (d.weekday() < 5) or info.note or d in notes:
                out.append(info)
    return out


@dataclass(frozen=True)
class DayChange:
    """A day the schedule sets otherwise than the calendar assumed before it."""

    day: date
    weekday: str
    assumed_workday: bool
    assumed_source: str  # what the assumption rested on (see DayInfo.source)
    workday: bool
    note: str

    def as_dict(self) -> dict:
        return {**asdict(self), "day": self.day.isoformat()}


def diff(db: Database, year: int, schedule: Schedule | None = None) -> list[DayChange]:
    """The schedule (given, or the one entered for `year`) against what the calendar assumed
    without it — the shipped table, other entered years, chinesecalendar, or the statutory
    holidays and Monday–Friday — day by day, only where they differ."""
    if schedule is None:
        schedule = stored_schedule(db, year)
        if schedule is None:
            raise LookupError(f"no schedule entered for {year}")
    assumed = WorkCalendar(_ANY_HOURS, overrides=load_calendar(db, exclude_year=year))
    listed = {d.day: d for d in schedule.days}
    out = []
    for d in _span(schedule.year):
        entry = listed.get(d)
        if entry is None and d.year != schedule.year:
            continue
        workday = entry.workday if entry else d.weekday() < 5
        before = _explain(assumed, d, {}, shipped_overrides())
        if before.workday != workday:
            out.append(DayChange(d, weekday_zh(d), before.workday, before.source, workday,
                                 entry.note if entry else "周一至周五"))
    return out


def stored_schedule(db: Database, year: int) -> Schedule | None:
    from hotline.domain.calendar_schedule import ScheduleDay
    with db.session() as s:
        row = s.get(CalendarYearRow, year)
        if row is None:
            return None
        days = s.scalars(select(CalendarDayRow).where(CalendarDayRow.year == year)
                         .order_by(CalendarDayRow.day)).all()
        return Schedule(year, row.notice, tuple(ScheduleDay(r.day, r.workday, r.note) for r in days))


# -- writing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    year: int
    notice: str
    entered_by: str
    entered_at: datetime
    days: int
    replaced: bool  # a schedule of that year was entered before
    changes: list[DayChange]


def import_schedule(db: Database, schedule: Schedule, by: str, now: datetime | None = None) -> ImportResult:
    """Store a validated schedule, replacing any earlier one of that year, in one transaction;
    return what it changed against the calendar assumed before."""
    by = (by or "").strip()
    if not by or len(by) > 64 or "\x00" in by:
        raise CalendarImportError("entered by: give a name of 1 to 64 characters")
    now = now or datetime.now(UTC)
    changes = diff(db, schedule.year, schedule)
    try:
        with db.writer() as s:
            replaced = s.get(CalendarYearRow, schedule.year) is not None
            s.execute(delete(CalendarDayRow).where(CalendarDayRow.year == schedule.year))
            s.execute(delete(CalendarYearRow).where(CalendarYearRow.year == schedule.year))
            s.flush()
            s.add(CalendarYearRow(year=schedule.year, notice=schedule.notice, entered_by=by, entered_at=now))
            s.flush()
            s.add_all(CalendarDayRow(year=schedule.year, day=d.day, workday=d.workday, note=d.note,
                                     notice=schedule.notice, entered_by=by, entered_at=now) for d in schedule.days)
    except IntegrityError:
        raise CalendarConflict(f"another import of {schedule.year} was stored at the same time; "
                               "nothing of this one was: look at it and try again") from None
    invalidate_all()
    log.info("calendar: schedule of %d entered by %s from %s: %d days listed, %d differ from the assumption",
             schedule.year, by, schedule.notice, len(schedule.days), len(changes))
    return ImportResult(schedule.year, schedule.notice, by, now, len(schedule.days), replaced, changes)


# -- is next year's schedule in? ------------------------------------------------------------


@dataclass(frozen=True)
class CalendarStatus:
    """The year that matters now and whether its schedule is confirmed. `code` and
    `message` (Simplified Chinese, for staff) are set only when something is missing."""

    year: int
    confirmed: bool
    source: str
    code: str | None = None
    message: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def coming_year_status(db: Database, now: datetime, tz: str = CALENDAR_TZ) -> CalendarStatus:
    """A warning if the current year has no confirmed schedule, or — from 1 November — next
    year has none; otherwise the status of the year deadlines will cross into next."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    today = now.astimezone(ZoneInfo(tz)).date()
    this = year_status(db, today.year)
    if not this.confirmed:
        return CalendarStatus(
            today.year, False, this.source, "calendar_year_unconfirmed",
            f"{today.year}年的节假日安排尚未录入：工作日按周一至周五并扣除法定节假日推算，所有期限均为暂定。"
            f"请尽快录入国务院办公厅的放假安排通知"
            f"（starter.py calendar import 或 POST /api/v1/calendar/{today.year}）。")
    nxt = year_status(db, today.year + 1)
    if not nxt.confirmed and (today.month, today.day) >= WARN_FROM:
        days_left = (date(today.year + 1, 1, 1) - today).days
        return CalendarStatus(
            nxt.year, False, nxt.source, "calendar_next_year_unconfirmed",
            f"{nxt.year}年的节假日安排尚未录入（距元旦还有{days_left}天）：跨入{nxt.year}年的期限按周一至周五并扣除"
            f"法定节假日推算，标记为暂定。国务院办公厅通知发布后请立即录入（starter.py calendar import 或 "
            f"POST /api/v1/calendar/{nxt.year}）。")
    shown = nxt if (today.month, today.day) >= WARN_FROM else this
    return CalendarStatus(shown.year, shown.confirmed, shown.source)
