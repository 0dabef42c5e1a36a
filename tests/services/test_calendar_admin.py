"""The calendar as data the hotline office manages: a year's schedule validated whole (every
problem with its line), stored with who/when/which notice on SQLite and PostgreSQL, diffed
against what was assumed, used by the deadline activity at once, and entered through the CLI
and the admin API. The 2027 file is a made-up test fixture, not the official schedule."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from sqlalchemy import func, select

from activities.deadlines import DeadlineActivities
from hotline.domain.calendar_schedule import ScheduleError, parse_schedule
from hotline.domain.contracts import DeadlineItem, DeadlineRequest
from hotline.domain.policy import load_policy
from hotline.services.calendar_admin import (
    CalendarImportError,
    CalendarSource,
    coming_year_status,
    diff,
    import_schedule,
    load_calendar,
    show_year,
    stored_schedule,
    year_confirmed,
    year_status,
)
from hotline.store.tables import CalendarDayRow, CalendarYearRow

ROOT = Path(__file__).resolve().parents[2]
DRAFT = Path(__file__).parent.parent / "data" / "calendar_2027_draft.yaml"
TEXT = DRAFT.read_text(encoding="utf-8")
SH = ZoneInfo("Asia/Shanghai")
SANYA = load_policy("sanya")
START = datetime(2027, 1, 28, 10, 0, tzinfo=SH)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def rows(db) -> tuple[int, int]:
    with db.session() as s:
        return (s.scalar(select(func.count()).select_from(CalendarYearRow)),
                s.scalar(select(func.count()).select_from(CalendarDayRow)))


def reply_by(activities: DeadlineActivities, start: datetime = START, limit: str = "15wd"):
    res = activities.compute_deadlines(DeadlineRequest(policy=SANYA, items=[
        DeadlineItem(name="reply_by", start=start, limit=limit)]))
    return res.values["reply_by"]


# ---------------------------------------------------------------- the file


def test_the_draft_2027_schedule_is_valid():
    s = parse_schedule(TEXT, expect_year=2027)
    assert s.year == 2027 and "非官方" in s.notice and len(s.days) == 33
    assert [d.day for d in s.make_up_days] == [date(2027, 1, 31), date(2027, 2, 20), date(2027, 5, 8),
                                               date(2027, 9, 26), date(2027, 10, 9)]
    assert s.days[0].line == line_of(TEXT, "2027-01-01:")


def _schedule_from_chinesecalendar(year: int) -> str:
    """The State Council's schedule of `year` as chinesecalendar has it, written as our file.
    Late-December days arranged for next year's New Year go to next year's file."""
    def for_next_year(d: date) -> bool:
        if not (d.month == 12 and d.day >= 25) or chinese_calendar.is_workday(d) == (d.weekday() < 5):
            return False
        if chinese_calendar.is_workday(d):
            return True  # a make-up Saturday or Sunday before the New Year
        x = d
        while x.year == d.year:  # a day off in the block that runs into 1 January
            if chinese_calendar.is_workday(x):
                return False
            x += timedelta(days=1)
        return True

    lines = [f"year: {year}", "notice: 国务院办公厅通知（取自chinesecalendar）", "days:"]
    d = date(year - 1, 12, 25)
    while d <= date(year, 12, 31):
        mine = for_next_year(d) if d.year < year else not for_next_year(d)
        workday = chinese_calendar.is_workday(d)
        off, name = chinese_calendar.get_holiday_detail(d)
        if mine and (workday != (d.weekday() < 5) or (name and off)):
            lines.append(f"  {d}: {{workday: {str(workday).lower()}, note: {json.dumps(name or '调休')}}}")
        d += timedelta(days=1)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("year", range(2005, 2027))
def test_every_official_schedule_since_2005_passes_the_rules(year):
    """The pairing rule (make-up days ≤ weekday holidays beyond the statutory ones, each within
    14 days of a holiday) and the statutory check hold for every schedule ever published."""
    schedule = parse_schedule(_schedule_from_chinesecalendar(year), expect_year=year)
    assert schedule.make_up_days


def _replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


BAD = {
    "duplicate date": (lambda t: _replace(t, '  2027-02-12: {workday: false, note: "春节"}\n',
                                          '  2027-02-12: {workday: false, note: "春节"}\n'
                                          '  2027-02-09: {workday: false, note: "春节"}\n'),
                       '2027-02-12: {workday: false', "2027-02-09 is listed twice", 1),
    "date outside the year": (lambda t: t + '  2028-01-03: {workday: false, note: "下一年"}\n',
                              "2028-01-03", "2028-01-03 is not in 2027", 0),
    "调休 on a weekday": (lambda t: t + '  2027-02-17: {workday: true, note: "调休上班"}\n',
                          "2027-02-17", "must be a Saturday or Sunday", 0),
    "missing statutory holiday": (lambda t: _replace(t, '  2027-02-05: {workday: false, note: "春节（除夕）"}\n', ""),
                                  "days:", "2027-02-05 (周五) is 春节（除夕）, a statutory holiday", 0),
    "statutory holiday as a working day": (lambda t: _replace(t, '2027-02-06: {workday: false',
                                                              '2027-02-06: {workday: true'),
                                           "2027-02-06", "cannot be a working day", 0),
    "unpaired make-up day": (lambda t: t + '  2027-07-17: {workday: true, note: "调休上班"}\n',
                             "2027-07-17", "not within 14 days", 0),
    "bad YAML": (lambda t: t + '  2027-11-01: {workday: false, note: "x"\n', "2027-11-01", "not valid YAML", 1),
    "unknown top-level key": (lambda t: _replace(t, "year: 2027\n", "year: 2027\nregion: 海南\n"),
                              "region:", "unknown key 'region'", 0),
    "unknown entry key": (lambda t: _replace(t, '2027-06-09: {workday: false, note: "端午节"}',
                                             '2027-06-09: {workday: false, note: "端午节", half: true}'),
                          "2027-06-09", "unknown key 'half'", 0),
    "workday not a boolean": (lambda t: _replace(t, '2027-06-09: {workday: false', '2027-06-09: {workday: maybe'),
                              "2027-06-09", "must be true or false", 0),
    "not a date": (lambda t: t + '  2027-02-30: {workday: false, note: "x"}\n', "2027-02-30", "is not a date", 0),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_malformed_schedule_is_refused_with_the_line_named(case, sqlite_db):
    change, where, message, offset = BAD[case]
    text = change(TEXT)
    with pytest.raises(ScheduleError) as exc:
        parse_schedule(text)
    expected_line = line_of(text, where) + offset
    assert any(p.startswith(f"line {expected_line}: ") and message in p for p in exc.value.problems), \
        (expected_line, exc.value.problems)
    assert rows(sqlite_db) == (0, 0)


def test_too_many_make_up_days_for_the_holidays_given():
    text = ("year: 2027\nnotice: 测试\ndays:\n"
            + "".join(f"  {d}: {{workday: false, note: 法定}}\n" for d in
                      ("2027-01-01", "2027-02-05", "2027-02-08", "2027-04-05", "2027-06-09", "2027-09-15",
                       "2027-10-01"))
            + "  2027-02-20: {workday: true, note: 调休上班}\n")
    with pytest.raises(ScheduleError) as exc:
        parse_schedule(text)
    assert exc.value.problems == [f"line {line_of(text, '2027-02-20')}: 1 make-up working days but only 0 weekday "
                                  "holiday(s) beyond the statutory ones to pay for: every 调休上班 day must be "
                                  "paired with a holiday"]


def test_the_year_must_be_the_one_asked_for():
    with pytest.raises(ScheduleError) as exc:
        parse_schedule(TEXT, expect_year=2028)
    assert exc.value.problems == [f"line {line_of(TEXT, 'year: 2027')}: the file is the schedule of 2027, not of 2028"]


@pytest.mark.parametrize("text", ["", "- 2027-01-01\n", "year: [2027]\nnotice: x\ndays: {}\n", "\x01", "[" * 5000])
def test_not_a_schedule_at_all(text):
    with pytest.raises(ScheduleError) as exc:
        parse_schedule(text)
    assert exc.value.problems and all(p.startswith("line ") for p in exc.value.problems)


def test_the_new_year_holiday_may_reach_into_the_year_before():
    text = _schedule_from_chinesecalendar(2019)  # 2018-12-29 上班, 2018-12-30..2019-01-01 放假
    s = parse_schedule(text)
    assert {d.day: d.workday for d in s.days if d.day.year == 2018} == \
        {date(2018, 12, 29): True, date(2018, 12, 31): False}  # Sun 30 Dec is off anyway
    with pytest.raises(ScheduleError, match="only the last week of 2018"):
        parse_schedule(text.replace("days:\n", "days:\n  2018-12-01: {workday: false, note: x}\n"))


# ---------------------------------------------------------------- stored, diffed, used


def test_import_stores_the_year_shows_the_diff_and_deadlines_use_it(any_db):
    db = any_db
    source = CalendarSource(db, ttl=3600)
    activities = DeadlineActivities(source)
    before = reply_by(activities)
    assert before.at == datetime(2027, 2, 22, 10, 0, tzinfo=SH) and before.provisional  # statutory 春节 only
    assert not year_confirmed(db, 2027) and year_status(db, 2026).source == "chinesecalendar"

    schedule = parse_schedule(TEXT)
    changes = diff(db, 2027, schedule)
    result = import_schedule(db, schedule, "admin:王主任", now=datetime(2026, 12, 10, 9, 0, tzinfo=UTC))
    assert [c.day for c in result.changes] == [c.day for c in changes] and not result.replaced
    by_day = {c.day: c for c in changes}
    assert len(changes) == 16
    assert by_day[date(2027, 2, 9)].assumed_workday and not by_day[date(2027, 2, 9)].workday
    assert by_day[date(2027, 2, 20)].workday and by_day[date(2027, 2, 20)].assumed_source == "guess"
    assert date(2027, 2, 5) not in by_day  # 除夕 was already assumed off, by law

    st = year_status(db, 2027)
    assert (st.confirmed, st.source, st.entered_by) == (True, "database", "admin:王主任")
    assert st.notice == schedule.notice and st.entered_at == datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
    with db.session() as s:
        row = s.get(CalendarDayRow, (2027, date(2027, 2, 20)))
        assert (row.workday, row.note, row.entered_by) == (True, "春节调休上班", "admin:王主任")
    assert rows(db) == (1, 33)

    # the activity follows at once (an import invalidates every source in this process):
    # Jan 29, Sun Jan 31 (make-up), Feb 1-4, Feb 15-19, Sat Feb 20 (make-up), Feb 22-24
    after = reply_by(activities)
    assert after.at == datetime(2027, 2, 24, 10, 0, tzinfo=SH) and not after.provisional
    assert stored_schedule(db, 2027).overrides() == schedule.overrides()
    assert [c.day for c in diff(db, 2027)] == [c.day for c in changes]

    shown = {d.day: d for d in show_year(db, 2027)}
    assert shown[date(2027, 2, 20)].source == "database" and shown[date(2027, 2, 20)].workday
    assert shown[date(2027, 2, 5)].note == "春节（除夕）" and shown[date(2027, 2, 5)].known

    # entered again: replaced whole, still one year
    again = import_schedule(db, parse_schedule(_replace(TEXT, '  2027-06-09: {workday: false, note: "端午节"}\n',
                                                        '  2027-06-09: {workday: false, note: "端午节"}\n'
                                                        '  2027-06-10: {workday: false, note: "端午节"}\n'
                                                        '  2027-06-11: {workday: false, note: "端午节"}\n'
                                                        '  2027-06-13: {workday: true, note: "端午节调休上班"}\n')),
                            "admin:李")
    assert again.replaced and rows(db) == (1, 36)


def test_nothing_is_stored_when_the_name_is_bad(sqlite_db):
    with pytest.raises(CalendarImportError):
        import_schedule(sqlite_db, parse_schedule(TEXT), " ")
    assert rows(sqlite_db) == (0, 0)


def test_merged_overrides_database_wins_over_the_shipped_table(sqlite_db):
    shipped = {date(2027, 1, 1): False, date(2027, 3, 1): False, date(2028, 1, 3): False}
    before = load_calendar(sqlite_db, shipped)
    assert dict(before) == shipped and not before.confirmed_years
    import_schedule(sqlite_db, parse_schedule(TEXT), "t")
    merged = load_calendar(sqlite_db, shipped)
    assert merged.confirmed_years == {2027} and merged.version != before.version
    assert date(2027, 3, 1) not in merged  # the entered year replaces the table's days of 2027
    assert merged[date(2028, 1, 3)] is False and merged[date(2027, 2, 20)] is True
    assert load_calendar(sqlite_db, shipped, exclude_year=2027) == before


def test_a_source_rereads_after_its_ttl_or_when_told(sqlite_db):
    now = [0.0]
    source = CalendarSource(sqlite_db, ttl=60, clock=lambda: now[0])
    first = source.version
    with sqlite_db.session() as s:  # written behind the source's back (another process)
        s.add(CalendarYearRow(year=2030, notice="n", entered_by="t", entered_at=datetime.now(UTC)))
    assert source.version == first
    now[0] = 61
    assert source.version != first and 2030 in source.overrides().confirmed_years
    with sqlite_db.session() as s:
        s.delete(s.get(CalendarYearRow, 2030))
    source.invalidate()
    assert source.version == first


def test_a_failed_reread_keeps_the_last_good_calendar(sqlite_db, caplog):
    now = [0.0]
    source = CalendarSource(sqlite_db, ttl=1, clock=lambda: now[0])
    good = source.overrides()
    sqlite_db.engine.dispose()
    with sqlite_db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE calendar_years RENAME TO calendar_years_gone")
    now[0] = 5
    with caplog.at_level(logging.WARNING, logger="hotline.calendar"):
        assert source.overrides() is good
    assert any("keeping version" in r.getMessage() for r in caplog.records)
    with sqlite_db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE calendar_years_gone RENAME TO calendar_years")


# ---------------------------------------------------------------- is next year in?


def test_coming_year_status(sqlite_db):
    def at(y, m, d):
        return datetime(y, m, d, 12, 0, tzinfo=SH)
    assert coming_year_status(sqlite_db, at(2026, 10, 31)).code is None  # 2026 known; too early for 2027
    st = coming_year_status(sqlite_db, datetime(2026, 10, 31, 16, 30, tzinfo=UTC))  # 1 Nov 00:30 in Sanya
    assert (st.year, st.confirmed, st.code) == (2027, False, "calendar_next_year_unconfirmed")
    assert "2027年的节假日安排尚未录入" in st.message and "暂定" in st.message
    assert coming_year_status(sqlite_db, at(2027, 3, 1)).code == "calendar_year_unconfirmed"
    import_schedule(sqlite_db, parse_schedule(TEXT), "t")
    st = coming_year_status(sqlite_db, at(2026, 12, 1))
    assert (st.year, st.confirmed, st.source, st.code, st.message) == (2027, True, "database", None, None)
    assert coming_year_status(sqlite_db, at(2027, 11, 1)).code == "calendar_next_year_unconfirmed"


def test_the_kpi_report_carries_the_warning():
    from hotline.reporting.report import _calendar_warning_lines
    report = {"calendar_warning": {"code": "calendar_next_year_unconfirmed", "message": "2027年的节假日安排尚未录入"}}
    assert _calendar_warning_lines(report) == ["warning calendar_next_year_unconfirmed: 2027年的节假日安排尚未录入"]
    assert _calendar_warning_lines({}) == []


# ---------------------------------------------------------------- CLI


def cli(db, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "starter.py", "calendar", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "DATABASE_URL": db.url})


def test_cli_import_show_and_status(sqlite_db, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TEXT + '  2027-02-17: {workday: true, note: "调休上班"}\n', encoding="utf-8")
    r = cli(sqlite_db, "import", str(bad))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        f"error: {bad} refused, nothing changed: line {line_of(bad.read_text(encoding='utf-8'), '2027-02-17')}: "
        "2027-02-17 is a 周三, already a working day: a make-up working day (调休上班) must be a Saturday or Sunday"]
    two = tmp_path / "two.yaml"
    two.write_text(TEXT.replace("year: 2027", "year: 2027\ncolour: red") + "  2028-01-01: {workday: false, note: x}\n",
                   encoding="utf-8")
    r = cli(sqlite_db, "import", str(two))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 2 and all(x.startswith(f"error: {two} refused") for x in lines)
    assert cli(sqlite_db, "import", str(tmp_path / "none.yaml")).returncode == 2
    assert rows(sqlite_db) == (0, 0)

    r = cli(sqlite_db, "import", str(DRAFT), "--dry-run")
    assert r.returncode == 0 and "not stored" in r.stdout and rows(sqlite_db) == (0, 0)
    r = cli(sqlite_db, "import", str(DRAFT), "--by", "王主任")
    assert r.returncode == 0, r.stderr
    assert "2027 schedule entered" in r.stdout and "16 day(s) differ" in r.stdout
    assert "2027-02-20 周六  原假定 休息（周一至周五（推算）） → 上班  春节调休上班" in r.stdout
    assert year_status(sqlite_db, 2027).entered_by == "王主任"

    r = cli(sqlite_db, "show", "2027")
    assert r.returncode == 0 and "2027: confirmed — entered by 王主任" in r.stdout and "春节（除夕）" in r.stdout
    r = cli(sqlite_db, "show", "2031")
    assert r.returncode == 0 and "NOT confirmed" in r.stdout and "春节" in r.stdout
    r = cli(sqlite_db, "show", "twenty")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert cli(sqlite_db, "status").returncode == 0


# ---------------------------------------------------------------- admin API


@pytest.fixture
def api(sqlite_db):
    from hotline.api.app import create_app
    from tests.api.test_api import prepare
    from tests.harness import router
    return create_app(sqlite_db, None, router()), prepare(sqlite_db), sqlite_db


async def test_api_enter_read_and_refuse(api):
    from tests.api.test_api import H, api_client, assert_error
    app, keys, db = api
    yaml_h = {"Content-Type": "application/yaml"}
    async with api_client(app) as c:
        for who in ("intake", "ZJJ"):
            assert_error(await c.post("/api/v1/calendar/2027", headers={**H(keys[who]), **yaml_h},
                                      content=TEXT.encode()), 403)
        assert_error(await c.post("/api/v1/calendar/2027", content=TEXT.encode()), 401)
        bad = TEXT + '  2027-02-09: {workday: false, note: "重复"}\n  2027-03-03: {workday: true, note: x}\n'
        err = assert_error(await c.post("/api/v1/calendar/2027", headers={**H(keys["admin"]), **yaml_h},
                                        content=bad.encode()), 422, "nothing changed")
        assert err["code"] == "invalid_calendar" and len(err["details"]) == 2
        assert err["details"][0].startswith(f"line {len(TEXT.splitlines()) + 1}: 2027-02-09 is listed twice")
        err = assert_error(await c.post("/api/v1/calendar/2028", headers=H(keys["admin"]), content=TEXT.encode()),
                           422)
        assert "not of 2028" in err["details"][0]
        assert_error(await c.post("/api/v1/calendar/2027", headers=H(keys["admin"]), content=b"  "), 422)
        assert_error(await c.post("/api/v1/calendar/2027", headers=H(keys["admin"]), content=b"\xff\xfe"), 400)
        assert_error(await c.post("/api/v1/calendar/1899", headers=H(keys["admin"]), content=TEXT.encode()), 422)
        assert rows(db) == (0, 0)

        r = await c.get("/api/v1/calendar/2027", headers=H(keys["ZJJ"]))
        assert r.status_code == 200 and r.json()["confirmed"] is False and r.json()["source"] == "provisional"
        spring = [d for d in r.json()["days"] if d["day"] == "2027-02-05"][0]
        assert spring == {"day": "2027-02-05", "weekday": "周五", "workday": False, "known": False,
                          "source": "statutory", "note": "春节（除夕）"}
        assert_error(await c.get("/api/v1/calendar/2027/diff", headers=H(keys["ZJJ"])), 404)

        r = await c.post("/api/v1/calendar/2027?dry_run=true", headers=H(keys["admin"]), content=TEXT.encode())
        assert r.status_code == 200 and r.json()["stored"] is False and len(r.json()["changes"]) == 16
        assert rows(db) == (0, 0)
        r = await c.post("/api/v1/calendar/2027", headers={**H(keys["admin"]), **yaml_h}, content=TEXT.encode())
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["stored"] and body["entered_by"].startswith("admin:") and body["days"] == 33
        assert {"day": "2027-02-20", "weekday": "周六", "assumed_workday": False, "assumed_source": "guess",
                "workday": True, "note": "春节调休上班"} in body["changes"]

        r = await c.get("/api/v1/calendar/2027", headers=H(keys["intake"]))
        assert r.json()["confirmed"] is True and r.json()["source"] == "database"
        assert r.json()["notice"].startswith("测试用草案")
        r = await c.get("/api/v1/calendar/2027/diff", headers=H(keys["admin"]))
        assert r.status_code == 200 and len(r.json()["changes"]) == 16
        r = await c.get("/api/v1/calendar/status", headers=H(keys["ZJJ"]))
        assert r.status_code == 200 and {"year", "confirmed", "source", "code", "message"} <= set(r.json())
