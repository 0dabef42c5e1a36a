"""Working time on the official Chinese calendar (工作日 / 节假日 / 调休).

Which days are workdays comes, in order, from:
1. the hotline office's overrides: the shipped table (`hotline/data/calendar_overrides.yaml`)
   merged with the schedules entered in the database (`hotline.services.calendar_admin`), for years the
   State Council has announced after the installed `chinesecalendar` was released, or for
   local decisions. A year whose whole schedule was entered is *confirmed*: its days not
   listed are plain Monday–Friday, and known;
2. `chinesecalendar`, which knows weekends, public holidays and make-up working days for
   every year the State Council has published;
3. otherwise a *guess*: Monday–Friday, less the statutory holidays the law fixes for that
   year (`hotline.domain.statutory`: 元旦, 春节, 清明, 劳动节, 端午, 中秋, 国庆), since those are certain
   even before the notice; only the notice's bridging days and make-up working days (调休)
   are unknown. Any deadline that crosses a guessed day is marked `provisional` and a warning
   is logged on "hotline.calendar", so nobody mistakes it for an official date.

Working time runs only inside the policy's working hours on workdays. "Nwh" counts N such
hours; "Nwd" counts N × (working hours per day), so 1wd from Monday 10:00 is Tuesday 10:00.
A deadline is the earliest instant at which the working time has elapsed, so it can land at
12:00 or 17:30 sharp (1wd from Monday 08:00 is Monday 17:30, not Tuesday 08:00). A start
outside working hours rolls forward to the next working moment first. Calendar durations are
plain elapsed time.

Pure and deterministic: no clock, only the inputs, the overrides, chinesecalendar and the
statutory rules.
"""
from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, ValidationError

from hotline.domain.policy import Duration, Policy, parse_hhmm
from hotline.domain.statutory import statutory_days

log = logging.getLogger("hotline.calendar")

DEFAULT_OVERRIDES = Path(__file__).resolve().parent.parent / "data" / "calendar_overrides.yaml"

# A deadline more than ten years of days away means the calendar has no workdays at all
# (e.g. an override table gone wrong); fail instead of looping forever.
_MAX_DAYS = 3660


class CalendarError(ValueError):
    """The override table is malformed, or a computation is impossible."""


class Deadline(BaseModel):
    """An absolute instant in the policy's time zone; `provisional` if any day on the way
    was guessed (no official calendar for its year)."""

    model_config = ConfigDict(frozen=True)

    at: AwareDatetime
    provisional: bool = False


# -- override table ---------------------------------------------------------------------


class _OverrideEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    workday: StrictBool
    note: str = Field(min_length=1)


def _as_date(key: Any, source: str) -> date:
    if isinstance(key, datetime):
        raise CalendarError(f"{source}: {key!r} is a date and time; give the date only")
    if isinstance(key, date):
        return key
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(key)):
            raise ValueError
        return date.fromisoformat(str(key))
    except ValueError:
        raise CalendarError(f"{source}: {key!r} is not a date (YYYY-MM-DD)") from None


def parse_overrides(data: Any, source: str = "calendar overrides") -> dict[date, bool]:
    """Validate the table's content: `{"days": {date: {"workday": bool, "note": str}}}`."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CalendarError(f"{source}: expected a mapping with a 'days' key")
    unknown = sorted(str(k) for k in data if k != "days")
    if unknown:
        raise CalendarError(f"{source}: unknown key(s) {', '.join(unknown)}; only 'days'")
    days = data.get("days") or {}
    if not isinstance(days, dict):
        raise CalendarError(f"{source}: 'days' must map dates to {{workday, note}}")
    out: dict[date, bool] = {}
    problems: list[str] = []
    for key, value in days.items():
        try:
            day = _as_date(key, source)
        except CalendarError as exc:
            problems.append(str(exc))
            continue
        if day in out:
            problems.append(f"{source}: {day} is listed twice")
            continue
        try:
            entry = _OverrideEntry.model_validate(value)
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"]) or "entry"
                if err["type"] == "extra_forbidden":
                    msg = "unknown key"
                elif err["type"] == "missing":
                    msg = "missing (every entry needs workday: true/false and a note)"
                elif field == "workday":
                    msg = f"must be true or false, got {err.get('input')!r}"
                else:
                    msg = err["msg"]
                problems.append(f"{source}: {day}: {field}: {msg}")
            continue
        out[day] = entry.workday
    if problems:
        raise CalendarError("\n".join(problems))
    return out


def load_overrides(path: str | Path | None = None) -> dict[date, bool]:
    """Read an override table (default: the one shipped in `hotline/data`)."""
    path = Path(path) if path is not None else DEFAULT_OVERRIDES
    if not path.is_file():
        raise CalendarError(f"calendar override file not found: {path}")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_TextDateLoader)
    except yaml.YAMLError as exc:
        raise CalendarError(f"{path}: not valid YAML: {exc}") from None
    return parse_overrides(data, str(path))


class _TextDateLoader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text: PyYAML would raise a bare "day is out of range"
    for 2027-02-30 without saying which entry; we validate dates ourselves. It also refuses
    a date listed twice, which plain YAML would silently resolve to the last entry."""

    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                continue  # non-text keys are reported by the validation that follows
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is listed twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_TextDateLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@functools.lru_cache(maxsize=1)
def _default_overrides() -> Mapping[date, bool]:
    return load_overrides(DEFAULT_OVERRIDES)


def shipped_overrides() -> Mapping[date, bool]:
    """The override table shipped in the package (read once per process; do not modify)."""
    return _default_overrides()


class CalendarOverrides(Mapping[date, bool]):
    """Overrides with the years whose whole schedule they give (`confirmed_years`).

    A plain mapping of days can only say "this day differs"; a confirmed year also says "and
    every other day of it is an ordinary Monday–Friday day", which is what makes a deadline in
    it no longer provisional. `version` changes whenever the content does, so a cache of
    calendars built from it knows when to rebuild.
    """

    def __init__(self, days: Mapping[date, bool] | None = None,
                 confirmed_years: Iterable[int] = (), version: str = "") -> None:
        self._days = dict(days or {})
        self.confirmed_years = frozenset(confirmed_years)
        self.version = version

    def __getitem__(self, key: date) -> bool:
        return self._days[key]

    def __iter__(self):
        return iter(self._days)

    def __len__(self) -> int:
        return len(self._days)

    def __repr__(self) -> str:
        return (f"CalendarOverrides({len(self._days)} days, confirmed={sorted(self.confirmed_years)}, "
                f"version={self.version!r})")


@functools.lru_cache(maxsize=512)
def official_year(year: int) -> bool:
    """Does the installed `chinesecalendar` know the whole of `year`?"""
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
        chinese_calendar.is_workday(date(year, 12, 31))
    except (NotImplementedError, ValueError, OverflowError):
        return False
    return True


# -- the calendar -----------------------------------------------------------------------


class WorkCalendar:
    """Workdays and working hours for one time zone.

    `source` is a `Policy` or a `(timezone, working_hours)` pair. `overrides=None` uses the
    shipped override table; pass `{}` for none (tests pass their own tables), or a
    `CalendarOverrides` (its confirmed years are used unless `confirmed_years` is given).
    `statutory=False` turns the guess back into plain Monday–Friday (to show the difference).
    """

    def __init__(
        self,
        source: Policy | tuple[str, Sequence[Sequence[str]]],
        overrides: Mapping[date, bool] | None = None,
        *,
        confirmed_years: Iterable[int] | None = None,
        statutory: bool = True,
    ) -> None:
        tz_name: str
        hours: Sequence[Sequence[str]]
        if isinstance(source, Policy):
            tz_name, hours = source.timezone, source.working_hours
        else:
            tz_name, hours = source
        self.tz = ZoneInfo(tz_name)
        self.windows: tuple[tuple[int, int], ...] = _check_hours(hours)
        self.seconds_per_day: int = sum(end - start for start, end in self.windows)
        self._overrides = dict(_default_overrides() if overrides is None else overrides)
        if confirmed_years is None:
            confirmed_years = getattr(overrides, "confirmed_years", ())
        self.confirmed_years: frozenset[int] = frozenset(confirmed_years)
        self._statutory = statutory
        self._days: dict[date, tuple[bool, bool]] = {}
        self._spans: dict[date, tuple[tuple[datetime, datetime], ...]] = {}
        self._warned_years: set[int] = set()

    # -- days --------------------------------------------------------------------------

    def is_workday(self, d: date) -> tuple[bool, bool]:
        """(is it a workday, is that known) — known False means Mon–Fri was guessed."""
        if isinstance(d, datetime):
            d = self._local(d).date()
        hit = self._days.get(d)
        if hit is None:
            hit = self._days[d] = self._lookup(d)
        return hit

    def year_confirmed(self, year: int) -> bool:
        """Is every day of `year` known (an entered schedule, or chinesecalendar's)?"""
        return year in self.confirmed_years or official_year(year)

    def _lookup(self, d: date) -> tuple[bool, bool]:
        if d in self._overrides:
            return self._overrides[d], True
        if d.year in self.confirmed_years:
            # the entered schedule lists every day that is not plain Monday–Friday
            return d.weekday() < 5, True
        try:
            return bool(chinese_calendar.is_workday(d)), True
        except NotImplementedError:
            # chinesecalendar knows only the years the State Council has announced. The law
            # fixes the statutory holidays; the notice's 调休 swaps stay unknown.
            if self._statutory and d in statutory_days(d.year):
                return False, False
            return d.weekday() < 5, False

    def _day_spans(self, d: date) -> tuple[tuple[datetime, datetime], ...]:
        """Working spans of day d as UTC instants (empty on a day off)."""
        spans = self._spans.get(d)
        if spans is None:
            if self.is_workday(d)[0]:
                midnight = datetime(d.year, d.month, d.day, tzinfo=self.tz)
                spans = tuple(
                    (
                        (midnight + timedelta(seconds=s)).astimezone(UTC),
                        (midnight + timedelta(seconds=e)).astimezone(UTC),
                    )
                    for s, e in self.windows
                )
            else:
                spans = ()
            self._spans[d] = spans
        return spans

    # -- deadlines ---------------------------------------------------------------------

    def working_length(self, limit: Duration) -> timedelta:
        """Amount of working time in a working duration (1wd = one day's working hours)."""
        if limit.unit == "wh":
            return timedelta(hours=limit.amount)
        if limit.unit == "wd":
            return timedelta(seconds=limit.amount * self.seconds_per_day)
        raise ValueError(f"{limit} is calendar time, not working time")

    def add(self, start: datetime, limit: Duration | str) -> Deadline:
        """The instant `limit` after `start`."""
        return self.fraction(start, limit, 1.0)

    def fraction(self, start: datetime, limit: Duration | str, f: float) -> Deadline:
        """The instant at fraction f of `limit` after `start`, measured in the limit's own
        kind of time (the 催办 reminder sits at 75% of the handling limit's working time)."""
        limit = Duration.parse(limit) if isinstance(limit, str) else limit
        if not 0 <= f <= 1:
            raise ValueError(f"fraction {f} must be between 0 and 1")
        start = self._aware(start)
        if limit.kind == "calendar":
            at = start.astimezone(UTC) + timedelta(seconds=round(limit.seconds * f))
            return Deadline(at=at.astimezone(self.tz))
        work = self.working_length(limit)
        if f != 1:
            work = timedelta(seconds=round(work.total_seconds() * f))
        at, guessed = self._add_working(start, work)
        if guessed:
            log.warning(
                "provisional deadline: %s + %s%s = %s assumes Monday-Friday%s on %s "
                "(no official calendar for that year; enter the State Council schedule "
                "with `starter.py calendar import`)",
                start.isoformat(), limit, "" if f == 1 else f" x {f}",
                at.isoformat(), " less the statutory holidays" if self._statutory else "",
                _describe_days(guessed),
            )
        return Deadline(at=at, provisional=bool(guessed))

    def next_working_moment(self, at: datetime) -> Deadline:
        """`at` itself if within working hours, else the start of the next working span."""
        moment, guessed = self._add_working(self._aware(at), timedelta(0))
        return Deadline(at=moment, provisional=bool(guessed))

    def _add_working(self, start: datetime, work: timedelta) -> tuple[datetime, list[date]]:
        cursor = start.astimezone(UTC)
        day = start.astimezone(self.tz).date()
        guessed: list[date] = []
        for _ in range(_MAX_DAYS):
            if not self.is_workday(day)[1]:
                guessed.append(day)
            for span_start, span_end in self._day_spans(day):
                if cursor >= span_end:
                    continue
                effective = max(cursor, span_start)
                available = span_end - effective
                if work <= available:
                    # `<=` so a deadline can fall exactly at the end of a span (12:00),
                    # not at the start of the next one.
                    return (effective + work).astimezone(self.tz), guessed
                work -= available
                cursor = span_end
            day += timedelta(days=1)
        raise CalendarError(f"no working time within {_MAX_DAYS} days of {start.isoformat()}")

    # -- measuring ---------------------------------------------------------------------

    def working_seconds_between(self, a: datetime, b: datetime) -> float:
        """Working seconds from a to b (negative if b is before a); for KPI handling time.

        Guessed days are counted Mon–Fri and warned about once per year per calendar, so
        a KPI report over many orders does not flood the log.
        """
        a, b = self._aware(a), self._aware(b)
        if b < a:
            return -self.working_seconds_between(b, a)
        lo_utc, hi_utc = a.astimezone(UTC), b.astimezone(UTC)
        day, last = a.astimezone(self.tz).date(), b.astimezone(self.tz).date()
        total = timedelta(0)
        guessed: list[date] = []
        while day <= last:
            if not self.is_workday(day)[1]:
                guessed.append(day)
            for span_start, span_end in self._day_spans(day):
                lo, hi = max(span_start, lo_utc), min(span_end, hi_utc)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        new_years = sorted({d.year for d in guessed} - self._warned_years)
        if new_years:
            self._warned_years.update(new_years)
            log.warning(
                "working time measured on a guessed Monday-Friday calendar for %s "
                "(no official calendar for that year)",
                ", ".join(map(str, new_years)),
            )
        return total.total_seconds()

    # -- helpers -----------------------------------------------------------------------

    def _aware(self, moment: datetime) -> datetime:
        # Naive datetimes are refused: guessing their zone would silently shift deadlines.
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{moment.isoformat()} has no time zone; pass an aware datetime")
        return moment

    def _local(self, moment: datetime) -> datetime:
        return self._aware(moment).astimezone(self.tz)


def _check_hours(hours: Iterable[Sequence[str]]) -> tuple[tuple[int, int], ...]:
    windows: list[tuple[int, int]] = []
    for rng in hours:
        start, end = (parse_hhmm(x) for x in rng)
        if start >= end or (windows and start < windows[-1][1]):
            raise CalendarError(f"working hours {list(rng)!r} are empty, overlap or out of order")
        windows.append((start, end))
    if not windows:
        raise CalendarError("at least one range of working hours is needed")
    return tuple(windows)


def _describe_days(days: list[date]) -> str:
    if len(days) == 1:
        return days[0].isoformat()
    return f"{len(days)} days {days[0].isoformat()}..{days[-1].isoformat()}"


@functools.lru_cache(maxsize=8)
def calendar_for(policy: Policy) -> WorkCalendar:
    """One shared calendar per policy with the shipped override table, so day lookups are
    cached across orders in a worker process."""
    return WorkCalendar(policy)
