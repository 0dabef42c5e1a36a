"""Working time on the official calendar. Expected instants are worked out by hand from
Sanya's office hours (08:00-12:00, 14:30-17:30: 7 working hours a day) and the State
Council's 2026 schedule as shipped in chinesecalendar."""
from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hotline.domain.policy import Duration, load_policy
from hotline.domain.workcal import (
    DEFAULT_OVERRIDES,
    CalendarError,
    Deadline,
    WorkCalendar,
    calendar_for,
    load_overrides,
)

SH = ZoneInfo("Asia/Shanghai")


def at(y, mo, d, h=0, mi=0, s=0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=SH)


@pytest.fixture
def cal() -> WorkCalendar:
    # An empty override table: tests never depend on the shipped, growing table.
    return WorkCalendar(load_policy("sanya"), overrides={})


def test_working_day_is_seven_hours(cal):
    assert cal.seconds_per_day == 7 * 3600
    assert cal.working_length(Duration.parse("2wd")) == timedelta(hours=14)


def test_plain_working_days(cal):
    # Tue 2026-03-10 10:00 + 1wd = Wed 10:00, same time of day
    assert cal.add(at(2026, 3, 10, 10), "1wd") == Deadline(at=at(2026, 3, 11, 10))


def test_deadline_crosses_a_weekend(cal):
    # help 3wd from Fri 2026-03-06 15:00 → Mon, Tue, Wed 15:00
    d = cal.add(at(2026, 3, 6, 15), Duration.parse("3wd"))
    assert d.at == at(2026, 3, 11, 15) and not d.provisional
    # 4wh from Fri 16:00: 1.5h on Friday, 2.5h on Monday morning
    assert cal.add(at(2026, 3, 6, 16), "4wh").at == at(2026, 3, 9, 10, 30)


def test_national_day_2026_with_make_up_days(cal):
    # 2026: Oct 1 (Thu) - Oct 7 (Wed) off; Sun Sep 20 and Sat Oct 10 are make-up working
    # days (调休上班). Oct 8 is an ordinary Thursday.
    assert cal.is_workday(date(2026, 10, 1)) == (False, True)
    assert cal.is_workday(date(2026, 10, 7)) == (False, True)
    assert cal.is_workday(date(2026, 10, 8)) == (True, True)
    assert cal.is_workday(date(2026, 10, 10)) == (True, True)
    assert cal.is_workday(date(2026, 9, 20)) == (True, True)
    # complaint 5wd from Wed Sep 30 10:00: Oct 8, 9, 10 (Sat, make-up), 12, 13
    d = cal.add(at(2026, 9, 30, 10), "5wd")
    assert d.at == at(2026, 10, 13, 10) and not d.provisional
    # the make-up Saturday counts: Fri Oct 9 + 1wd = Sat Oct 10
    assert cal.add(at(2026, 10, 9, 16), "1wd").at == at(2026, 10, 10, 16)
    # and the make-up Sunday before it
    assert cal.add(at(2026, 9, 18, 9), "1wd").at == at(2026, 9, 20, 9)


def test_spring_festival_2026(cal):
    # Feb 15 (Sun) - Feb 23 (Mon) off; Sat Feb 14 and Sat Feb 28 are working days
    assert cal.is_workday(date(2026, 2, 14)) == (True, True)
    assert cal.is_workday(date(2026, 2, 17)) == (False, True)
    d = cal.add(at(2026, 2, 13, 10), "3wd")  # Feb 14, 24, 25
    assert d.at == at(2026, 2, 25, 10) and not d.provisional
    assert cal.add(at(2026, 2, 27, 10), "1wd").at == at(2026, 2, 28, 10)


def test_start_outside_working_hours_rolls_forward(cal):
    # Saturday morning → starts Monday 08:00; 4wh ends exactly at noon, not at 14:30
    assert cal.add(at(2026, 3, 7, 9), "4wh").at == at(2026, 3, 9, 12)
    # lunch break → starts at 14:30
    assert cal.add(at(2026, 3, 9, 13), "1wh").at == at(2026, 3, 9, 15, 30)
    # evening → next morning
    assert cal.add(at(2026, 3, 9, 18), "1wh").at == at(2026, 3, 10, 9)
    # 1wd from the lunch break: 3h Monday afternoon + 4h Tuesday morning. A deadline is the
    # earliest instant the working time has elapsed, so Tuesday 12:00, not 14:30.
    assert cal.add(at(2026, 3, 9, 12, 30), "1wd").at == at(2026, 3, 10, 12)
    # likewise a whole working day from the opening bell is due at closing time
    assert cal.add(at(2026, 3, 9, 8), "1wd").at == at(2026, 3, 9, 17, 30)
    assert cal.add(at(2026, 3, 6, 17, 30), "1wh").at == at(2026, 3, 9, 9)
    assert cal.next_working_moment(at(2026, 3, 9, 12, 30)).at == at(2026, 3, 9, 14, 30)
    assert cal.next_working_moment(at(2026, 3, 9, 10)).at == at(2026, 3, 9, 10)


def test_urgent_calendar_minutes_ignore_the_calendar(cal):
    # urgent sign-for 30m at night during the National Day holiday: plain elapsed time
    d = cal.add(at(2026, 10, 3, 23, 50), "30m")
    assert d == Deadline(at=at(2026, 10, 4, 0, 20), provisional=False)
    # 24h urgent handling in an unknown year is not provisional either
    assert not cal.add(at(2027, 3, 6, 10), "24h").provisional


def test_result_is_in_policy_timezone(cal):
    start = datetime(2026, 10, 3, 15, 50, tzinfo=UTC)  # 23:50 in Sanya
    d = cal.add(start, "30m")
    assert d.at.tzinfo == SH and d.at == at(2026, 10, 4, 0, 20)
    # a UTC start on Friday 07:00Z = 15:00 Sanya
    assert cal.add(datetime(2026, 3, 6, 7, tzinfo=UTC), "3wd").at == at(2026, 3, 11, 15)
    assert Deadline.model_validate_json(d.model_dump_json()) == d


def test_naive_datetime_refused(cal):
    with pytest.raises(ValueError, match="no time zone"):
        cal.add(datetime(2026, 3, 9, 10), "1wd")


def test_fraction_of_working_limit(cal):
    # 75% of 5wd (35h) = 26.25h from Mon 08:00: Mon-Wed 21h, then 5.25h into Thu
    d = cal.fraction(at(2026, 3, 9, 8), Duration.parse("5wd"), 0.75)
    assert d.at == at(2026, 3, 12, 15, 45) and not d.provisional
    assert cal.fraction(at(2026, 3, 9, 8), "5wd", 1).at == cal.add(at(2026, 3, 9, 8), "5wd").at


def test_fraction_of_calendar_limit(cal):
    assert cal.fraction(at(2026, 3, 9, 8), "40s", 0.75).at == at(2026, 3, 9, 8, 0, 30)
    assert cal.fraction(at(2026, 3, 9, 8), "24h", 0.75).at == at(2026, 3, 10, 2)
    with pytest.raises(ValueError):
        cal.fraction(at(2026, 3, 9, 8), "24h", 1.5)


def test_unknown_year_is_provisional_with_warning(cal, caplog):
    assert cal.is_workday(date(2027, 3, 6)) == (False, False)  # Saturday, guessed
    assert cal.is_workday(date(2027, 3, 8)) == (True, False)  # Monday, guessed
    with caplog.at_level(logging.WARNING, logger="hotline.calendar"):
        d = cal.add(at(2027, 3, 5, 10), "1wd")
    # Mon-Fri: Fri 2027-03-05 → Mon 03-08
    assert d.at == at(2027, 3, 8, 10) and d.provisional
    warnings = [r for r in caplog.records if r.name == "hotline.calendar"]
    assert warnings and warnings[0].levelno == logging.WARNING
    assert "provisional" in warnings[0].getMessage()
    assert "2027-03" in warnings[0].getMessage()


def test_year_end_into_unknown_year(cal):
    # Thu 2026-12-31 (known) + 1wd: Fri 2027-01-01 is 元旦 by law even with no schedule, so
    # Mon 2027-01-04; provisional all the same (the weekend and Monday are guessed)
    d = cal.add(at(2026, 12, 31, 10), "1wd")
    assert d.at == at(2027, 1, 4, 10) and d.provisional
    plain = WorkCalendar(load_policy("sanya"), overrides={}, statutory=False)
    assert plain.add(at(2026, 12, 31, 10), "1wd") == Deadline(at=at(2027, 1, 1, 10), provisional=True)


def test_override_table_changes_result(caplog):
    cal = WorkCalendar(load_policy("sanya"), overrides={date(2027, 3, 8): False})
    assert cal.is_workday(date(2027, 3, 8)) == (False, True)  # known now
    d = cal.add(at(2027, 3, 5, 10), "1wd")
    assert d.at == at(2027, 3, 9, 10)
    assert d.provisional  # other days on the way are still guessed


def test_complete_override_table_makes_deadline_known(caplog):
    table = {
        date(2027, 3, 5): True,
        date(2027, 3, 6): True,  # a make-up Saturday in this made-up schedule
        date(2027, 3, 7): False,
        date(2027, 3, 8): False,
        date(2027, 3, 9): True,
    }
    cal = WorkCalendar(load_policy("sanya"), overrides=table)
    with caplog.at_level(logging.WARNING, logger="hotline.calendar"):
        d = cal.add(at(2027, 3, 5, 10), "1wd")
        assert cal.add(at(2027, 3, 6, 10), "1wd") == Deadline(at=at(2027, 3, 9, 10))
    assert d == Deadline(at=at(2027, 3, 6, 10), provisional=False)
    assert not [r for r in caplog.records if r.name == "hotline.calendar"]


def test_override_wins_over_chinesecalendar():
    # the office may declare a known day otherwise (e.g. a local decision)
    cal = WorkCalendar(load_policy("sanya"), overrides={date(2026, 3, 10): False})
    assert cal.add(at(2026, 3, 9, 10), "1wd").at == at(2026, 3, 11, 10)


def test_working_seconds_between(cal):
    # Fri 16:00 → Mon 09:00: 1.5h + 1h
    assert cal.working_seconds_between(at(2026, 3, 6, 16), at(2026, 3, 9, 9)) == 9000
    # across lunch: 11:00-12:00 and 14:30-15:00
    assert cal.working_seconds_between(at(2026, 3, 9, 11), at(2026, 3, 9, 15)) == 5400
    assert cal.working_seconds_between(at(2026, 3, 9, 15), at(2026, 3, 9, 11)) == -5400
    # across the National Day holiday: 30 min on Sep 30, 1h on Oct 8
    assert cal.working_seconds_between(at(2026, 9, 30, 17), at(2026, 10, 8, 9)) == 5400
    # inverse of add
    start = at(2026, 9, 30, 10)
    end = cal.add(start, "5wd").at
    assert cal.working_seconds_between(start, end) == 5 * 7 * 3600


def test_working_seconds_between_warns_once_per_unknown_year(cal, caplog):
    with caplog.at_level(logging.WARNING, logger="hotline.calendar"):
        cal.working_seconds_between(at(2027, 3, 1, 8), at(2027, 3, 2, 8))
        cal.working_seconds_between(at(2027, 3, 3, 8), at(2027, 3, 4, 8))
    assert len([r for r in caplog.records if r.name == "hotline.calendar"]) == 1


def test_calendar_from_timezone_and_hours():
    cal = WorkCalendar(("Asia/Shanghai", [("09:00", "17:00")]), overrides={})
    assert cal.seconds_per_day == 8 * 3600
    assert cal.add(at(2026, 3, 6, 16), "1wd").at == at(2026, 3, 9, 16)
    with pytest.raises(ValueError):
        WorkCalendar(("Asia/Shanghai", [("17:00", "09:00")]), overrides={})


def test_fast_policy_is_plain_seconds():
    fast = load_policy("fast")
    cal = WorkCalendar(fast, overrides={})
    start = at(2026, 10, 3, 3)  # a holiday night: irrelevant for calendar seconds
    limit = fast.handling_limit("complaint", "normal")
    assert cal.add(start, limit).at == start + timedelta(seconds=limit.seconds)
    assert cal.fraction(start, limit, fast.reminder_fraction).at == start + timedelta(seconds=30)


def test_shared_calendar_per_policy_uses_shipped_table():
    p = load_policy("sanya")
    assert calendar_for(p) is calendar_for(p)
    assert calendar_for(p).is_workday(date(2027, 1, 1)) == (False, True)


# -- override table files ------------------------------------------------------------------


def test_shipped_override_table_loads():
    table = load_overrides(DEFAULT_OVERRIDES)
    assert table and table[date(2027, 1, 1)] is False


def test_override_file(tmp_path):
    path = tmp_path / "o.yaml"
    path.write_text(
        "days:\n"
        "  2027-02-05: {workday: false, note: 春节}\n"
        "  '2027-02-20': {workday: true, note: 调休上班}\n",
        encoding="utf-8",
    )
    assert load_overrides(path) == {date(2027, 2, 5): False, date(2027, 2, 20): True}


@pytest.mark.parametrize(
    "body,needle",
    [
        ("days:\n  2027-02-30: {workday: false, note: x}\n", "is not a date"),
        ("days:\n  2027-02-05: {workday: 'nope', note: x}\n", "must be true or false"),
        ("days:\n  2027-02-05: {workday: false}\n", "note: missing"),
        ("days:\n  2027-02-05: {workday: false, note: x, colour: red}\n", "colour: unknown key"),
        ("dayz:\n  2027-02-05: {workday: false, note: x}\n", "unknown key(s) dayz"),
        ("days:\n  2027-02-05: {workday: false, note: x}\n  '2027-02-05': {workday: true, note: y}\n",
         "listed twice"),
        ("- 2027-02-05\n", "expected a mapping"),
    ],
)
def test_bad_override_file(tmp_path, body, needle):
    path = tmp_path / "o.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(CalendarError) as exc:
        load_overrides(path)
    assert needle in str(exc.value) and str(path) in str(exc.value)


def test_missing_override_file(tmp_path):
    with pytest.raises(CalendarError, match="not found"):
        load_overrides(tmp_path / "none.yaml")
