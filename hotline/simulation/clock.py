"""Deadlines for simulated orders: the working calendar itself, or the same calendar precomputed.

The rules ask for deadlines as the workflow does (`Deadlines` effects); the simulator answers
them with `CalendarClock` (WorkCalendar, as the compute_deadlines activity) or `FastClock` (the
same calendar precomputed for a range of days: a two-year simulation computes hundreds of
thousands of deadlines).
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import UTC, date, datetime, timedelta

from hotline.domain.policy import Duration
from hotline.domain.workcal import WorkCalendar


class CalendarClock:
    """Deadlines straight from WorkCalendar, as the compute_deadlines activity computes them
    (in the calendar's time zone, as the activity returns them)."""

    def __init__(self, cal: WorkCalendar) -> None:
        self.cal = cal

    def fraction(self, start: datetime, limit: Duration, f: float = 1.0) -> tuple[datetime, bool]:
        d = self.cal.fraction(start, limit, f)
        return d.at, d.provisional

    def working_seconds(self, a: datetime, b: datetime) -> float:
        return self.cal.working_seconds_between(a, b)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


class FastClock:
    """`WorkCalendar.fraction` and `working_seconds_between` for a range of days, precomputed.

    The same calendar (days, working hours, provisional years) and the same rule (the earliest
    instant at which the working time has elapsed), on integer microseconds: W(t), the working
    time up to t, is piecewise linear over the day's working spans, so a deadline is one
    binary search. The tests check it against WorkCalendar instant for instant; outside its
    range it hands over to WorkCalendar itself. 60 µs → a few µs per deadline is most of what
    makes a two-year simulation take seconds.
    """

    def __init__(self, cal, first: date, last: date) -> None:
        self.cal, self.first, self.days = cal, first, (last - first).days + 1
        self.starts, self.ends, self.cum, self.cum_end = [], [], [], []
        self.unknown = [0]  # guessed (provisional) days before each day
        self.midnights = []
        self._lengths: dict[Duration, float] = {}
        total = 0
        for i in range(self.days):
            d = first + timedelta(days=i)
            self.midnights.append(_us(datetime(d.year, d.month, d.day, tzinfo=cal.tz)))
            workday, known = cal.is_workday(d)
            self.unknown.append(self.unknown[-1] + (not known))
            if workday:
                midnight = datetime(d.year, d.month, d.day, tzinfo=cal.tz)
                for a, b in cal.windows:
                    sa, sb = _us(midnight + timedelta(seconds=a)), _us(midnight + timedelta(seconds=b))
                    self.starts.append(sa)
                    self.ends.append(sb)
                    self.cum.append(total)
                    total += sb - sa
                    self.cum_end.append(total)
        self.lo, self.hi = _us(datetime(first.year, first.month, first.day, tzinfo=cal.tz)), _us(
            datetime(last.year, last.month, last.day, tzinfo=cal.tz))

    def _w(self, t: int) -> int:
        j = bisect_right(self.starts, t) - 1
        if j < 0:
            return 0
        return self.cum[j] + min(t, self.ends[j]) - self.starts[j]

    def _day(self, t: int) -> int:
        return bisect_right(self.midnights, t) - 1

    def fraction(self, start: datetime, limit: Duration, f: float = 1.0) -> tuple[datetime, bool]:
        if limit.kind == "calendar":
            return (start.astimezone(UTC) + timedelta(seconds=round(limit.seconds * f))).astimezone(self.cal.tz), False
        length = self._lengths.get(limit)
        if length is None:
            length = self._lengths[limit] = self.cal.working_length(limit).total_seconds()
        work = int(length if f == 1 else round(length * f)) * 1_000_000
        t0 = _us(start)
        if work > 0 and self.lo <= t0:
            w = self._w(t0) + work
            k = bisect_left(self.cum_end, w)
            if k < len(self.starts) and self.starts[k] < self.hi:
                at = self.starts[k] + w - self.cum[k]
                guessed = self.unknown[-1] and self.unknown[self._day(at) + 1] - self.unknown[self._day(t0)]
                return (_EPOCH + at * _US).astimezone(self.cal.tz), guessed > 0
        d = self.cal.fraction(start, limit, f)  # zero work or outside the range: the calendar itself
        return d.at, d.provisional

    def working_seconds(self, a: datetime, b: datetime) -> float:
        ta, tb = _us(a), _us(b)
        if self.lo <= min(ta, tb) and max(ta, tb) < self.hi:
            return (self._w(tb) - self._w(ta)) / 1e6
        return self.cal.working_seconds_between(a, b)


def _us(t: datetime) -> int:
    return (t - _EPOCH) // _US
