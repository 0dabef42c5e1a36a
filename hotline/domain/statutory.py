"""Statutory public holidays (法定节假日) computed for any year.

The State Council publishes each year's working calendar late in the year before, and
`chinesecalendar` knows a year only once a release ships it. Until then the hotline still
knows which days are public holidays by law — 《全国年节及纪念日放假办法》 fixes them, three of
them on the lunar calendar and 清明 on a solar term — so a deadline in an unannounced year can
skip them instead of counting 春节 as working days. What the law does not fix (which weekday
replaces a holiday that falls on a weekend, the bridging days and the make-up working days,
调休) stays unknown until the notice is entered; `hotline.domain.workcal` keeps such deadlines
provisional.

The rules in force in a year (art. 2 of the 办法, as amended):

| years | 春节 | 劳动节 | lunar and solar-term holidays |
|---|---|---|---|
| 2000–2007 (1999 amendment) | 初一–初三 | 1–3 May | none |
| 2008–2013 (2007 amendment) | 除夕, 初一, 初二 | 1 May | 清明, 端午, 中秋 |
| 2014–2024 (2013 amendment) | 初一–初三 | 1 May | 清明, 端午, 中秋 |
| 2025– (2024 amendment) | 除夕–初三 | 1–2 May | 清明, 端午, 中秋 |

and in every year 元旦 (1 January) and 国庆节 (1–3 October). 除夕 is the last day of the twelfth
lunar month (the day before 初一, whether that month has 29 or 30 days). 清明 is the day of the
清明 solar term in Beijing time. Lunar dates and solar terms come from `lunar-python`;
`tests/domain/test_statutory.py` checks every computed day against `chinesecalendar` for each year
it covers. Years before 2000 or after 2199 have no rules here (an empty list): nothing this
hotline handles is dated then.

Pure and deterministic: no clock, no I/O.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType

from lunar_python import Lunar, Solar

FIRST_YEAR = 2000
LAST_YEAR = 2199  # lunar-python's tables reach much further; a bound keeps input sane


@dataclass(frozen=True)
class StatutoryHoliday:
    """One day off by law. `festival` is the key chinesecalendar uses for the holiday."""

    day: date
    festival: str  # new_years_day, spring_festival, tomb_sweeping_day, labour_day, ...
    name: str      # 元旦, 春节（除夕）, 清明节 … as staff read it


@dataclass(frozen=True)
class _Rules:
    since: int
    spring_festival: tuple[int, ...]  # offsets from 初一 (-1 is 除夕)
    labour_days: int
    lunar_festivals: bool  # 清明, 端午, 中秋
    basis: str


RULES: tuple[_Rules, ...] = (
    _Rules(2000, (0, 1, 2), 3, False, "全国年节及纪念日放假办法（1999年修订）"),
    _Rules(2008, (-1, 0, 1), 1, True, "全国年节及纪念日放假办法（2007年修订）"),
    _Rules(2014, (0, 1, 2), 1, True, "全国年节及纪念日放假办法（2013年修订）"),
    _Rules(2025, (-1, 0, 1, 2), 2, True, "全国年节及纪念日放假办法（2024年修订）"),
)

_SPRING_NAMES = {-1: "春节（除夕）", 0: "春节（初一）", 1: "春节（初二）", 2: "春节（初三）"}


def rules_for(year: int) -> _Rules | None:
    """The rules in force for `year`, or None before the first known rules."""
    found = None
    for r in RULES:
        if year >= r.since:
            found = r
    return found


def lunar_new_year(year: int) -> date:
    """初一 of the lunar year that begins in `year` (21 January – 20 February)."""
    s = Lunar.fromYmd(year, 1, 1).getSolar()
    return date(s.getYear(), s.getMonth(), s.getDay())


def lunar_to_solar(year: int, month: int, day: int) -> date:
    """A day of an ordinary (non-leap) lunar month of lunar year `year`, as a solar date."""
    s = Lunar.fromYmd(year, month, day).getSolar()
    return date(s.getYear(), s.getMonth(), s.getDay())


def qingming(year: int) -> date:
    """The day (Beijing time) of the 清明 solar term, the sun at ecliptic longitude 15°."""
    # The jieqi table of a lunar year holds the terms around it; mid-year is safely inside.
    s = Solar.fromYmd(year, 6, 1).getLunar().getJieQiTable()["清明"]
    return date(s.getYear(), s.getMonth(), s.getDay())


@functools.lru_cache(maxsize=256)
def statutory_holidays(year: int) -> tuple[StatutoryHoliday, ...]:
    """Every statutory day off of `year` under the rules in force that year, by date.

    Two festivals can fall on one day (中秋 on 1 October in 2001, 2020 and 2077); both are
    listed, so the law's count of days is kept even though the days off are fewer.
    """
    rules = rules_for(year)
    if rules is None or year > LAST_YEAR:
        return ()
    out = [StatutoryHoliday(date(year, 1, 1), "new_years_day", "元旦")]
    new_year = lunar_new_year(year)
    out += [StatutoryHoliday(new_year + timedelta(days=k), "spring_festival", _SPRING_NAMES[k])
            for k in rules.spring_festival]
    out += [StatutoryHoliday(date(year, 5, d), "labour_day", "劳动节") for d in range(1, rules.labour_days + 1)]
    if rules.lunar_festivals:
        out.append(StatutoryHoliday(qingming(year), "tomb_sweeping_day", "清明节"))
        out.append(StatutoryHoliday(lunar_to_solar(year, 5, 5), "dragon_boat_festival", "端午节"))
        out.append(StatutoryHoliday(lunar_to_solar(year, 8, 15), "mid_autumn_festival", "中秋节"))
    out += [StatutoryHoliday(date(year, 10, d), "national_day", "国庆节") for d in (1, 2, 3)]
    return tuple(sorted(out, key=lambda h: (h.day, h.festival)))


@functools.lru_cache(maxsize=256)
def statutory_days(year: int) -> Mapping[date, str]:
    """Day → what it is (names joined when two festivals share the day); read-only."""
    out: dict[date, str] = {}
    for h in statutory_holidays(year):
        out[h.day] = f"{out[h.day]}、{h.name}" if h.day in out else h.name
    return MappingProxyType(out)


def basis(year: int) -> str | None:
    """The version of the 办法 that governs `year` (for notes and error messages)."""
    rules = rules_for(year)
    return rules.basis if rules else None
