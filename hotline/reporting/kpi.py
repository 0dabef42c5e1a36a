"""The hotline's own numbers (SPEC §7): any period [from, to), any unit, year on year.

Every figure is SQL over the read model the activities keep current (dispatches,
return_requests, orders, callbacks, supervision_events) and the merged requests the gateway
records (merged_requests), never a scan of Temporal history.
Each query is one GROUP BY unit over an index range, so the city total and the per-unit
ranking come from the same rows (the total is the sum of the units).

What each figure counts, and why:

* `invalid_returns` (无效退单): return requests the hotline rejected, by review time, against the
  unit that asked. YoY = (this − last) / last.
* `return_rate`: return requests (by request time) / dispatches. `response_rate` (响应率):
  dispatches signed within the sign-for limit (`dispatches.signed_on_time`) / dispatches.
  The denominator is dispatches, not orders: an order returned and redispatched was handed to
  two units, and each of them had to sign for it. So unit figures add up to the city's.
* `on_time_rate`: orders whose reply met the deadline in force at that reply / replied orders.
  The deadline includes approved extensions (延期). One row per order in `orders`, so an order
  counts once, in the period of its *last* reply: a reopened order (重办) is judged on its
  re-reply against the fresh deadline the reopen gave it; while it is being handled again it
  has no reply and is not counted. `avg_handling_hours`: the same orders, dispatch (to the
  owner who replied) → last reply, in working hours on the official calendar.
* `resolution_rate` (解决率), `satisfaction_rate` (满意率): over rated callbacks (answered;
  unrated excluded), by callback time. A reopened order's first, dissatisfied rating stays
  counted: it rated a real reply, and dropping it would flatter the unit.
* `criticisms`, `referrals`: ledger events of kinds "criticism" and "referral" (通报批评,
  移送纪委监委; appendices and staff referrals are not unit referrals).
* `orders` (工单量): work orders created in the period, per owner: the matters. `merged_requests`
  (并单量): requests merged into an order (并单) in the period and not unmerged since, per the
  parent order's owner. `requests` (诉求量) = orders + merged_requests: every petitioner's request
  once, as its own order or as one merged into an order, so one problem reported twenty times is
  one order and twenty requests. An unmerged request counts once, as the order it became (from
  its creation), never also as merged. Every other figure is per order, dispatch or callback
  row: a merged request has none of those (no workflow, no orders row, no dispatch), so the
  on-time and resolution rates judge the matter once, however many reported it.

A rate with an empty denominator is None (undefined), never 0 or 1. Periods are local
(policy time zone): "2026-01-01" means local midnight. Last year's period is the same local
dates one year earlier (29 February → 28 February).
"""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select

from hotline.domain.policy import Policy, load_policy
from hotline.domain.workcal import calendar_for
from hotline.reporting.kpi_worktime import WorkClock, count_if, in_period
from hotline.store import Database
from hotline.store.tables import (
    CallbackRow,
    DispatchRow,
    MergedRequestRow,
    OrderRow,
    ReturnRequestRow,
    SupervisionEventRow,
    UnitRow,
)

# name: (numerator field, denominator field or None for a count)
FORMULAS: dict[str, tuple[str, str | None]] = {
    "invalid_returns": ("invalid_returns", None),
    "return_rate": ("returns", "dispatched"),
    "response_rate": ("signed_on_time", "dispatched"),
    "on_time_rate": ("replied_on_time", "replied"),
    "resolution_rate": ("resolved", "rated"),
    "satisfaction_rate": ("satisfied", "rated"),
    "avg_handling_hours": ("handling_hours", "handled"),
    "criticisms": ("criticisms", None),
    "referrals": ("referrals", None),
    "orders": ("orders", None),
    "requests": ("requests", None),
    "merged_requests": ("merged_requests", None),
}
KPI_NAMES = tuple(FORMULAS)
RATES = ("return_rate", "response_rate", "on_time_rate", "resolution_rate", "satisfaction_rate")
LABELS = {  # for reports: English name and the hotline's own Chinese term
    "invalid_returns": ("Invalid returns", "无效退单量"), "return_rate": ("Return rate", "退单率"),
    "response_rate": ("Response rate", "响应率"), "on_time_rate": ("On-time rate", "按时办结率"),
    "resolution_rate": ("Resolution rate", "解决率"), "satisfaction_rate": ("Satisfaction", "满意率"),
    "avg_handling_hours": ("Avg handling (working h)", "平均办理时长"),
    "criticisms": ("Criticisms", "通报批评"), "referrals": ("Referrals", "移送纪委监委"),
    "orders": ("Orders (matters)", "工单量"), "requests": ("Requests", "诉求量"),
    "merged_requests": ("Merged requests", "并单量"),
}


class KpiError(ValueError):
    """Bad period or unit; the message says which and why."""


# ---------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    start: datetime  # aware, local time of the policy zone
    end: datetime

    @property
    def start_utc(self) -> datetime:
        return self.start.astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        return self.end.astimezone(UTC)

    def last_year(self) -> "Period":
        return Period(_year_before(self.start), _year_before(self.end))

    def as_dict(self) -> dict:
        return {"from": _label(self.start), "to": _label(self.end)}


def _year_before(t: datetime) -> datetime:
    try:
        return t.replace(year=t.year - 1)
    except ValueError:  # 29 February
        return t.replace(year=t.year - 1, day=28)


def _label(t: datetime) -> str:
    return t.date().isoformat() if t.timetz().replace(tzinfo=None) == datetime.min.time() else t.isoformat()


def _instant(value, tz: ZoneInfo, name: str) -> datetime:
    if isinstance(value, datetime):
        t = value
    elif isinstance(value, date):
        t = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            t = (datetime.combine(date.fromisoformat(text), datetime.min.time())
                 if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else datetime.fromisoformat(text))
        except ValueError:
            raise KpiError(f"{name}={value!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time") from None
    else:
        raise KpiError(f"{name} is missing: give a date such as 2026-01-01")
    if not 2000 <= t.year <= 2100:  # before any arithmetic: year 1 at +14:00 has no UTC instant
        raise KpiError(f"{name}={value!r} is out of range (years 2000-2100)")
    return t.replace(tzinfo=tz) if t.tzinfo is None else t.astimezone(tz)


def make_period(frm, to, tz: str | ZoneInfo = "Asia/Shanghai") -> Period:
    """[from, to) from dates or date-times (naive ones are local to the policy's zone)."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    start, end = _instant(frm, zone, "from"), _instant(to, zone, "to")
    if start >= end:
        raise KpiError(f"from ({_label(start)}) must be before to ({_label(end)}); the period is [from, to)")
    return Period(start, end)


# ---------------------------------------------------------------- tallies


@dataclass
class Tally:
    """Numerators and denominators of one unit (or the city) in one period."""

    dispatched: int = 0
    signed_on_time: int = 0
    returns: int = 0
    invalid_returns: int = 0
    replied: int = 0
    replied_on_time: int = 0
    handled: int = 0
    handling_seconds: float = 0.0
    rated: int = 0
    resolved: int = 0
    satisfied: int = 0
    criticisms: int = 0
    referrals: int = 0
    orders: int = 0
    merged_requests: int = 0

    @property
    def handling_hours(self) -> float:
        return self.handling_seconds / 3600

    @property
    def requests(self) -> int:
        # each request once: as its own order, or merged into one (an unmerged one is an order)
        return self.orders + self.merged_requests

    def __add__(self, other: "Tally") -> "Tally":
        return Tally(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def parts(self, name: str) -> tuple[float, float | None]:
        num, den = FORMULAS[name]
        return getattr(self, num), (getattr(self, den) if den else None)

    def value(self, name: str) -> float | int | None:
        num, den = self.parts(name)
        if den is None:
            return num
        return num / den if den else None  # an empty denominator is undefined, not 0 or 100%


def _jobs(p: Period, clock: WorkClock) -> list:
    """The queries of one period, each `session -> [(unit, {field: value})]`, one index range each."""
    D, R, C, E, Ord, M = DispatchRow, ReturnRequestRow, CallbackRow, SupervisionEventRow, OrderRow, MergedRequestRow
    good = C.satisfaction.in_(("satisfied", "basically_satisfied"))

    def dispatches(s):
        return [(u, {"dispatched": n, "signed_on_time": ok}) for u, n, ok in s.execute(
            select(D.unit_code, func.count(), count_if(D.signed_on_time.is_(True)))
            .where(in_period(D.dispatched_at, p)).group_by(D.unit_code))]

    def returns(s):
        return [(u, {"returns": n}) for u, n in s.execute(
            select(R.unit_code, func.count()).where(in_period(R.requested_at, p)).group_by(R.unit_code))]

    def invalid(s):
        return [(u, {"invalid_returns": n}) for u, n in s.execute(
            select(R.unit_code, func.count()).where(R.decision == "reject", in_period(R.reviewed_at, p))
            .group_by(R.unit_code))]

    def callbacks(s):
        return [(u, {"rated": n, "resolved": res, "satisfied": sat}) for u, n, res, sat in s.execute(
            select(C.unit_code, func.count(), count_if(C.resolved.is_(True)), count_if(good))
            .where(in_period(C.at, p), C.answered.is_(True), C.unrated.is_(False)).group_by(C.unit_code))]

    def ledger(s):
        return [(u, {"criticisms" if kind == "criticism" else "referrals": n}) for u, kind, n in s.execute(
            select(E.unit_code, E.kind, func.count()).where(E.kind.in_(("criticism", "referral")), in_period(E.at, p))
            .group_by(E.unit_code, E.kind))]

    def orders(s):
        return [(u, {"orders": n}) for u, n in s.execute(
            select(Ord.owner, func.count()).where(in_period(Ord.created_at, p)).group_by(Ord.owner))]

    def merged(s):
        # per the parent's owner: the unit handling the matter answers every petitioner of it
        return [(u, {"merged_requests": n}) for u, n in s.execute(
            select(Ord.owner, func.count()).select_from(M).join(Ord, Ord.order_no == M.parent_order_no)
            .where(in_period(M.merged_at, p), M.unmerged_at.is_(None)).group_by(Ord.owner))]

    return [lambda s: clock.replies(s, p), callbacks, dispatches, returns, invalid, ledger, orders, merged]


# ---------------------------------------------------------------- figures and reports


def figure(this: Tally, last: Tally, name: str) -> dict:
    """One KPI with last year's value for the same period and the change."""
    v, lv = this.value(name), last.value(name)
    num, den = this.parts(name)
    lnum, lden = last.parts(name)
    return {"value": v, "last_year": lv,
            "change": None if v is None or lv is None else v - lv,  # for rates: percentage points
            "yoy": None if v is None or not lv else (v - lv) / lv,  # relative; None when last year is 0
            "numerator": num, "denominator": den, "last_year_numerator": lnum, "last_year_denominator": lden}


@dataclass
class _Context:
    db: Database
    policy: Policy
    units: dict[str, dict] = field(default_factory=dict)


def _context(db: Database, policy: Policy | None) -> _Context:
    policy = policy or load_policy("sanya")
    with db.session() as s:
        units = {u.code: {"code": u.code, "name": u.name, "type": u.type}
                 for u in s.scalars(select(UnitRow).order_by(UnitRow.code))}
    if not units:  # registry not imported yet: the shipped catalogue names the units
        from hotline.domain.catalogue import default_catalogue_path, load_catalogue
        units = {u.code: {"code": u.code, "name": u.name, "type": getattr(u.type, "value", u.type)}
                 for u in load_catalogue(default_catalogue_path()).units}
    return _Context(db, policy, units)


def _check_unit(ctx: _Context, unit: str | None) -> None:
    if unit is not None and unit not in ctx.units:
        raise KpiError(f"unknown unit {unit!r}; known: {', '.join(sorted(ctx.units))}")


def tallies(db: Database, *periods: Period, policy: Policy | None = None) -> list[dict[str, Tally]]:
    """Per-unit tallies for each period (all units; filter afterwards).

    The queries are independent index ranges, so they run side by side on their own
    connections (PostgreSQL answers each on its own core); on one connection they would add up.
    """
    clock = WorkClock(calendar_for(policy or load_policy("sanya")))
    work = [(i, job) for i, p in enumerate(periods) for job in _jobs(p, clock)]

    def run(item):
        with db.session() as s:
            return item[0], item[1](s)

    if db.url.startswith("sqlite") and db.url.split("///", 1)[-1] in ("", ":memory:"):
        results = [run(item) for item in work]  # one in-memory database per connection: stay on one
    else:
        with ThreadPoolExecutor(max_workers=min(4, len(work))) as pool:
            results = list(pool.map(run, work))
    out: list[dict[str, Tally]] = [{} for _ in periods]
    for i, rows in results:
        for unit, values_ in rows:
            t = out[i].setdefault(unit, Tally())
            for k, v in values_.items():
                setattr(t, k, getattr(t, k) + (v or 0))
    return out


def _total(by_unit: dict[str, Tally], unit: str | None) -> Tally:
    if unit is not None:
        return by_unit.get(unit, Tally())
    return sum(by_unit.values(), Tally())


def kpis(db: Database, frm, to, unit: str | None = None, policy: Policy | None = None) -> dict[str, dict]:
    """All KPIs of SPEC §7 for [from, to), the city or one unit, each with last year's value."""
    ctx = _context(db, policy)
    _check_unit(ctx, unit)
    p = make_period(frm, to, ctx.policy.timezone)
    this, last = (_total(t, unit) for t in tallies(db, p, p.last_year(), policy=ctx.policy))
    return {name: figure(this, last, name) for name in KPI_NAMES}


def kpi(db: Database, name: str, frm, to, unit: str | None = None, policy: Policy | None = None) -> dict:
    if name not in FORMULAS:
        raise KpiError(f"unknown KPI {name!r}; known: {', '.join(KPI_NAMES)}")
    return kpis(db, frm, to, unit, policy)[name]


def _named(name: str):
    def fn(db: Database, frm, to, unit: str | None = None, policy: Policy | None = None) -> dict:
        return kpi(db, name, frm, to, unit, policy)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{LABELS[name][0]} ({LABELS[name][1]}) for [from, to), with last year's value."
    return fn


invalid_returns, return_rate, response_rate, on_time_rate, resolution_rate, satisfaction_rate, \
    avg_handling_hours, criticisms, referrals, orders, requests, merged_requests = (_named(n) for n in KPI_NAMES)


def ranking(this: dict[str, Tally], last: dict[str, Tally], units: dict[str, dict]) -> list[dict]:
    """Units by invalid returns (worst first), then return rate; the hotline office is never an owner."""
    codes = {c for c, u in units.items() if u["type"] != "hotline"} | set(this) | set(last)
    codes.discard("HOTLINE")
    rows = []
    for code in codes:
        t, lt = this.get(code, Tally()), last.get(code, Tally())
        f = figure(t, lt, "invalid_returns")
        rows.append({"unit": code, "name": units.get(code, {}).get("name", code), "dispatched": t.dispatched,
                     "kpis": {n: t.value(n) for n in KPI_NAMES}, "last_year": {n: lt.value(n) for n in KPI_NAMES},
                     "invalid_returns_yoy": f["yoy"]})
    rows.sort(key=lambda r: (-r["kpis"]["invalid_returns"], -(r["kpis"]["return_rate"] or 0.0),
                             -r["dispatched"], r["unit"]))
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    return rows


def monthly_invalid_returns(db: Database, year: int, unit: str | None = None, policy: Policy | None = None,
                            until: datetime | None = None) -> dict:
    """Invalid returns per local calendar month of `year` and of the year before.

    Months of `year` starting at or after `until` are None (not yet happened), not 0.
    """
    policy = policy or load_policy("sanya")
    tz = ZoneInfo(policy.timezone)
    bounds = [datetime(year - 1 + (m // 12), m % 12 + 1, 1, tzinfo=tz) for m in range(25)]
    R = ReturnRequestRow
    bucket = case(*[(R.reviewed_at < b.astimezone(UTC), k) for k, b in enumerate(bounds[1:])]).label("month")
    # GROUP BY the label: the CASE has bound values, which PostgreSQL would not match by value
    q = (select(bucket, func.count()).where(R.decision == "reject", R.reviewed_at >= bounds[0].astimezone(UTC),
                                            R.reviewed_at < bounds[-1].astimezone(UTC)).group_by("month"))
    if unit is not None:
        q = q.where(R.unit_code == unit)
    counts = [0] * 24
    with db.session() as s:
        for k, n in s.execute(q):
            counts[int(k)] = n
    this = [None if until is not None and bounds[12 + m] >= until else counts[12 + m] for m in range(12)]
    return {"year": year, "months": [f"{m:02d}" for m in range(1, 13)], "this_year": this,
            "last_year": counts[:12]}


def build_report(db: Database, frm, to, unit: str | None = None, policy: Policy | None = None) -> dict:
    """Everything a monthly briefing shows: the KPIs with YoY, the unit ranking, the monthly series."""
    ctx = _context(db, policy)
    _check_unit(ctx, unit)
    p = make_period(frm, to, ctx.policy.timezone)
    this, last = tallies(db, p, p.last_year(), policy=ctx.policy)
    t, lt = _total(this, unit), _total(last, unit)
    year = (p.end - timedelta(microseconds=1)).year
    return {
        "period": p.as_dict(), "last_year_period": p.last_year().as_dict(), "timezone": ctx.policy.timezone,
        "unit": ctx.units[unit] if unit else None,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "kpis": {name: figure(t, lt, name) for name in KPI_NAMES},
        "ranking": ranking(this, last, ctx.units),
        "monthly_invalid_returns": monthly_invalid_returns(db, year, unit, ctx.policy, until=p.end),
    }
