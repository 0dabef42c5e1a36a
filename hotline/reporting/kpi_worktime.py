"""Working time dispatch → reply, summed per unit inside the database (for `hotline.reporting.kpi`).

Working time comes from the same WorkCalendar the deadlines use. The database is handed a
small day table (per local day: working seconds before it, and whether it is a workday) and
computes, for each replied order, W(reply) − W(dispatch) with W(t) = cum(day of t) + workday ×
(working seconds of that day up to t); it returns one sum per unit, so no order row leaves
it. On PostgreSQL the day table is two constant arrays indexed by day number, elsewhere (and
for the equivalence tests) a VALUES common table expression joined per timestamp.
"""
from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import BigInteger, and_, cast, column, extract, func, literal_column, select, values
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from hotline.domain.workcal import WorkCalendar
from hotline.store.tables import OrderRow

log = logging.getLogger("hotline.reporting.kpi")


def in_period(col, p):
    """start <= col < end, both bound as UTC instants (SQLite keeps UTC text, PostgreSQL instants)."""
    return and_(col >= p.start_utc, col < p.end_utc)


def count_if(cond):
    # COUNT(*) FILTER (WHERE …): PostgreSQL and SQLite ≥ 3.30; cheaper than SUM(CASE …), 0 on no rows
    return func.count().filter(cond)


def _lit(n: int):
    # Inline numbers keep the statement the same for every period (and the plan cacheable).
    return literal_column(str(int(n)), BigInteger)


class WorkClock:
    """Replied orders per unit: how many, how many on time, and the working time dispatch → reply.

    Working time comes from the same WorkCalendar the deadlines use, brought into the query as a
    small day table (one entry per local day: working seconds before that day, and whether it
    is a workday; arrays on PostgreSQL, a VALUES CTE elsewhere). For each order the database computes
    W(reply) − W(dispatch), W(t) = cum(day of t) + workday × (working seconds of that day up to
    t), and sums per unit: one pass over the replied-orders index, no row leaves the database.
    Needs a fixed UTC offset (China has had one since 1991); otherwise, and for orders dispatched
    before the day table starts, the calendar measures order by order.
    """

    HISTORY_DAYS = 800  # the day table reaches this far before the period, for late replies

    def __init__(self, cal: WorkCalendar) -> None:
        self.cal = cal

    def _offset(self, p) -> int | None:
        t, offsets = p.start_utc - timedelta(days=self.HISTORY_DAYS + 31), set()
        while t <= p.end_utc + timedelta(days=31):
            offset = self.cal.tz.utcoffset(t.replace(tzinfo=None))
            if offset is None:  # a zone without offsets: no fixed one to use
                return None
            offsets.add(int(offset.total_seconds()))
            t += timedelta(days=30)
        return offsets.pop() if len(offsets) == 1 else None

    def _days(self, first: int, last: int) -> list[tuple[int, int, int]]:
        out, total = [], 0
        for d in range(first, last + 1):
            day = date(1970, 1, 1) + timedelta(days=d)
            workday, known = self.cal.is_workday(day)
            if not known and day.year not in _WARNED:
                _WARNED.add(day.year)
                log.warning("handling time for %s measured on a guessed Monday-Friday calendar", day.year)
            out.append((d, total, int(workday)))
            total += self.cal.seconds_per_day if workday else 0
        return out

    def _within_day(self, sod):
        """Working seconds of a workday up to second-of-day `sod`, as SQL: per window, sod − start
        clamped to [0, window length]."""
        terms = [_Clamp(sod - _lit(a), _lit(b - a)) for a, b in self.cal.windows]
        return sum(terms[1:], terms[0])

    def replies(self, s, p, order_by_order: bool = False, lookup: str = "array") -> list[tuple[str, dict]]:
        Ord = OrderRow
        offset = None if order_by_order else self._offset(p)
        if offset is None:
            counts = {u: (n, k) for u, n, k in s.execute(
                select(Ord.owner, func.count(), count_if(Ord.replied_on_time.is_(True)))
                .where(in_period(Ord.replied_at, p)).group_by(Ord.owner))}
            measured = self._row_by_row(s, (in_period(Ord.replied_at, p), Ord.dispatched_at.is_not(None)))
            return [(u, {"replied": n, "replied_on_time": k, "handled": measured.get(u, (0, 0.0))[0],
                         "handling_seconds": measured.get(u, (0, 0.0))[1]}) for u, (n, k) in counts.items()]
        # The day table spans the replies actually there (index endpoints: two quick lookups), so
        # a period of decades with two years of data costs what those two years cost.
        lo, hi = s.execute(select(func.min(Ord.replied_at), func.max(Ord.replied_at))
                           .where(in_period(Ord.replied_at, p))).one()
        if lo is None:
            return []
        day_of = lambda t: (int(_aware(t).timestamp()) + offset) // 86400  # noqa: E731  (local day number)
        first, last = day_of(lo) - self.HISTORY_DAYS, day_of(hi) + 1
        days = self._days(first, last)

        def local(col):
            return cast(extract("epoch", col), BigInteger) + _lit(offset)

        # Epochs once per order, then day and second of day, each in a subquery that OFFSET 0 keeps
        # PostgreSQL from folding into the next (which would repeat the work for every use, and
        # hide the join keys from its estimates).
        e = (select(Ord.owner.label("owner"), Ord.replied_on_time.label("ok"), local(Ord.replied_at).label("r"),
                    local(Ord.dispatched_at).label("d")).where(in_period(Ord.replied_at, p)).offset(0).subquery("e"))
        day = _lit(86400)
        o = select(e.c.owner, e.c.ok, (e.c.r // day).label("rd"), (e.c.r % day).label("rs"),
                   (e.c.d // day).label("dd"), (e.c.d % day).label("ds")).offset(0).subquery("o")
        if s.get_bind().dialect.name == "postgresql" and lookup == "array":
            # The day table as two constant arrays indexed by day: one subscript per timestamp
            # instead of a hash join (about twice as fast over half a million orders).
            cum = [c for _, c, _ in days]
            wd = [w for _, _, w in days]
            cum_r, cum_d = _DayArray(o.c.rd, cum, first), _DayArray(o.c.dd, cum, first)
            wd_r, wd_d = _DayArray(o.c.rd, wd, first), _DayArray(o.c.dd, wd, first)
            q = select(o.c.owner, func.count(), count_if(o.c.ok.is_(True)), func.count(cum_d),
                       func.sum(cum_r + wd_r * self._within_day(o.c.rs) - cum_d - wd_d * self._within_day(o.c.ds)),
                       func.count(o.c.dd)).group_by(o.c.owner)
        else:  # the day table as a VALUES common table expression, joined once per timestamp
            cal = values(column("day", BigInteger), column("cum", BigInteger), column("wd", BigInteger),
                         name="kpi_days", literal_binds=True).data(days).cte("kpi_days")
            cr, cd = cal.alias("cr"), cal.alias("cd")
            w_reply = cr.c.cum + cr.c.wd * self._within_day(o.c.rs)
            w_dispatch = cd.c.cum + cd.c.wd * self._within_day(o.c.ds)
            q = (select(o.c.owner, func.count(), count_if(o.c.ok.is_(True)), func.count(cd.c.day),
                        func.sum(w_reply - w_dispatch), func.count(o.c.dd))
                 .select_from(o).outerjoin(cr, cr.c.day == o.c.rd).outerjoin(cd, cd.c.day == o.c.dd)
                 .group_by(o.c.owner))
        out, missing = {}, 0
        for u, n, k, h, w, dispatched in s.execute(q):
            out[u] = {"replied": n, "replied_on_time": k, "handled": h, "handling_seconds": float(w or 0)}
            missing += dispatched - h
        if missing:  # dispatched before the day table starts: measure those orders one by one
            early = (in_period(Ord.replied_at, p), Ord.dispatched_at < _utc_day(first, offset))
            for u, (n, secs) in self._row_by_row(s, early).items():
                out[u]["handled"] += n
                out[u]["handling_seconds"] += secs
        return list(out.items())

    def _row_by_row(self, s, where) -> dict[str, tuple[int, float]]:
        sums: dict[str, tuple[int, float]] = {}
        for unit, a, b in s.execute(select(OrderRow.owner, OrderRow.dispatched_at, OrderRow.replied_at).where(*where)):
            a, b = _aware(a), _aware(b)
            n, w = sums.get(unit, (0, 0.0))
            sums[unit] = (n + 1, w + self.cal.working_seconds_between(a, b))
        return sums


class _Clamp(FunctionElement):
    """min(max(x, 0), hi): LEAST/GREATEST on PostgreSQL (several times faster there than CASE),
    SQLite's two-argument scalar MIN/MAX elsewhere."""

    type = BigInteger()
    name = "clamp"
    inherit_cache = True


@compiles(_Clamp)
def _clamp_sqlite(element, compiler, **kw):
    x, hi = (compiler.process(c, **kw) for c in element.clauses)
    return f"MIN(MAX({x}, 0), {hi})"


@compiles(_Clamp, "postgresql")
def _clamp_postgresql(element, compiler, **kw):
    x, hi = (compiler.process(c, **kw) for c in element.clauses)
    return f"LEAST(GREATEST({x}, 0), {hi})"


class _DayArray(FunctionElement):
    """values[day − first] as a PostgreSQL array subscript (NULL outside the array)."""

    type = BigInteger()
    name = "day_array"
    inherit_cache = False  # the array is part of the statement

    def __init__(self, day, values_: list[int], first: int) -> None:
        self.values_, self.first = values_, first
        super().__init__(day)


@compiles(_DayArray, "postgresql")
def _day_array_postgresql(element, compiler, **kw):
    day = compiler.process(next(iter(element.clauses)), **kw)
    return f"('{{{','.join(map(str, element.values_))}}}'::bigint[])[({day}) - {element.first - 1}]"


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)  # SQLite gives back naive UTC


_WARNED: set[int] = set()  # years already warned about in this process


def _utc_day(day: int, offset: int) -> datetime:
    return datetime.fromtimestamp(day * 86400 - offset, UTC)
