"""Statutory holidays computed from the lunar calendar and the solar terms, checked against
chinesecalendar for every year it covers, and what they change for a year nobody announced."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from hotline.domain.policy import load_policy
from hotline.domain.statutory import lunar_new_year, qingming, statutory_days, statutory_holidays
from hotline.domain.workcal import Deadline, WorkCalendar, official_year

SH = ZoneInfo("Asia/Shanghai")
COVERED = range(2004, 2027)  # the years chinesecalendar 1.11 knows


@pytest.mark.parametrize("year", range(2015, 2027))
def test_every_computed_statutory_holiday_is_a_holiday_in_chinesecalendar(year):
    holidays = statutory_holidays(year)
    assert holidays and all(h.day.year == year for h in holidays)
    for h in holidays:
        assert chinese_calendar.is_holiday(h.day), (h, "is a working day in chinesecalendar")


@pytest.mark.parametrize("year", COVERED)
def test_the_rules_of_each_amendment_match_chinesecalendar_by_name(year):
    # 2004-2007 without 清明/端午/中秋 and with three May days; 2008-2013 with 除夕; 2014-2024
    # 初一-初三; since 2025 除夕-初三 and two May days
    for h in statutory_holidays(year):
        off, name = chinese_calendar.get_holiday_detail(h.day)
        assert off, h
        shared = len([x for x in statutory_holidays(year) if x.day == h.day]) > 1
        if name is not None and not shared and h.day.month != 10:  # 中秋 may fall in the National Day week
            assert name == chinese_calendar.Holiday[h.festival].value, (h, name)


def test_counts_follow_the_amendments():
    def count(year, festival):
        return len([h for h in statutory_holidays(year) if h.festival == festival])
    assert [count(y, "spring_festival") for y in (2007, 2013, 2024, 2025)] == [3, 3, 3, 4]
    assert [count(y, "labour_day") for y in (2007, 2008, 2024, 2025)] == [3, 1, 1, 2]
    assert count(2007, "tomb_sweeping_day") == 0 and count(2008, "tomb_sweeping_day") == 1
    assert date(2013, 2, 9) in statutory_days(2013)  # 除夕 of 2013: the 2007 amendment
    assert date(2024, 2, 9) not in statutory_days(2024)  # 除夕 of 2024: not a statutory day then
    assert statutory_days(2025)[date(2025, 1, 28)] == "春节（除夕）"
    assert len(statutory_holidays(2025)) == 13  # 元旦1 春节4 清明1 劳动2 端午1 中秋1 国庆3
    assert statutory_holidays(1999) == ()


def test_2020_mid_autumn_on_national_day_is_listed_once_as_a_day():
    assert statutory_days(2020)[date(2020, 10, 1)] == "中秋节、国庆节"
    assert len(statutory_holidays(2020)) == 11 and len(statutory_days(2020)) == 10


def test_2027_lunar_holidays():
    assert lunar_new_year(2027) == date(2027, 2, 6)
    days = statutory_days(2027)
    assert [d for d, name in days.items() if name.startswith("春节")] == [date(2027, 2, d) for d in (5, 6, 7, 8)]
    assert days[date(2027, 2, 5)] == "春节（除夕）"
    assert qingming(2027) == date(2027, 4, 5)
    assert days[date(2027, 6, 9)] == "端午节" and days[date(2027, 9, 15)] == "中秋节"
    assert len(days) == 13


@pytest.mark.parametrize("year", COVERED)
def test_qingming_is_a_holiday_in_chinesecalendar_every_year_since_2008(year):
    if year >= 2008:
        assert chinese_calendar.get_holiday_detail(qingming(year)) == (True, "Tomb-sweeping Day")


def test_an_unannounced_year_skips_the_statutory_holidays_and_stays_provisional():
    assert not official_year(2027) and official_year(2026)
    cal = WorkCalendar(load_policy("sanya"), overrides={})
    for d in (5, 6, 7, 8):
        assert cal.is_workday(date(2027, 2, d)) == (False, False)  # off, but still a guess
    assert cal.is_workday(date(2027, 2, 9)) == (True, False)  # a bridging day is unknown: Mon–Fri


def test_a_15_working_day_limit_from_28_january_2027_skips_the_spring_festival():
    """No override at all: 5–8 February 2027 (除夕 to 初三) are skipped by law alone."""
    start = datetime(2027, 1, 28, 10, 0, tzinfo=SH)  # a Thursday, in Sanya's working hours
    computed = WorkCalendar(load_policy("sanya"), overrides={}).add(start, "15wd")
    mon_fri = WorkCalendar(load_policy("sanya"), overrides={}, statutory=False).add(start, "15wd")
    # Monday–Friday only: Jan 29, Feb 1-5, 8-12, 15-18 → Thu 18 Feb, counting Fri 5 and Mon 8 Feb
    assert mon_fri == Deadline(at=datetime(2027, 2, 18, 10, 0, tzinfo=SH), provisional=True)
    # less 除夕 (Fri 5 Feb) and 初三 (Mon 8 Feb): two working days later, Mon 22 Feb
    assert computed == Deadline(at=datetime(2027, 2, 22, 10, 0, tzinfo=SH), provisional=True)


def test_the_shipped_table_and_chinesecalendar_still_come_first():
    cal = WorkCalendar(load_policy("sanya"), overrides={date(2027, 2, 5): True})
    assert cal.is_workday(date(2027, 2, 5)) == (True, True)  # the office decided otherwise
    cal = WorkCalendar(load_policy("sanya"), overrides={})
    assert cal.is_workday(date(2026, 2, 14)) == (True, True)  # a make-up Saturday in chinesecalendar


def test_a_confirmed_year_is_known_beyond_its_listed_days():
    cal = WorkCalendar(load_policy("sanya"), overrides={date(2027, 2, 5): False}, confirmed_years={2027})
    assert cal.is_workday(date(2027, 2, 9)) == (True, True)  # not listed: plain Monday–Friday, known
    assert cal.is_workday(date(2027, 2, 6)) == (False, True)
    assert cal.year_confirmed(2027) and cal.year_confirmed(2026) and not cal.year_confirmed(2028)
