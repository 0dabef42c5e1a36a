"""Working-time deadlines on the official calendar, armed and fired on the time-skipping server
(policy `sanya`): across a weekend, across National Day with its make-up Saturday, and in a
year the calendar does not know yet (provisional)."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hotline.domain.models import ContactAction, SignAction
from tests.harness import intake, notices, running_worker, until

CST = ZoneInfo("Asia/Shanghai")


async def _skip_to(env, target: datetime) -> None:
    now = await env.get_current_time()
    assert target > now, "the target instant must be in the test server's future"
    await env.sleep(target - now)


def _next_friday_16h(today: date) -> datetime:
    """A Friday whose weekend and Monday are ordinary (no holiday, no make-up day)."""
    import chinese_calendar as cc
    d = today + timedelta(days=1)
    while True:
        if d.weekday() == 4:
            days = [d + timedelta(days=i) for i in range(4)]
            try:
                plain = [cc.is_workday(x) for x in days] == [True, False, False, True]
            except NotImplementedError:
                plain = True  # beyond the package: Mon–Fri is what is assumed anyway
            if plain:
                return datetime(d.year, d.month, d.day, 16, 0, tzinfo=CST)
        d += timedelta(days=1)


async def test_a_deadline_across_the_weekend(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "sanya") as h:
        friday = _next_friday_16h((await ts_env.get_current_time()).astimezone(CST).date())
        await _skip_to(ts_env, friday)
        no, _ = await h.start(owner="SJJ", req=intake(category="consultation"))  # 1wd to reply
        st = await h.state(no)
        monday = friday + timedelta(days=3)
        assert st.deadlines.reply_by.astimezone(CST) == monday.replace(second=st.deadlines.reply_by.second,
                                                                         microsecond=st.deadlines.reply_by.microsecond)
        await h.act(no, "sign", SignAction(by="SJJ"))
        await h.act(no, "contact", ContactAction(by="SJJ", note="已联系"))
        await _skip_to(ts_env, monday - timedelta(minutes=5))  # over the weekend: not yet overdue
        st = await h.state(no)
        assert not st.overdue and notices(st, "supervision") == []
        assert len(notices(st, "reminder", "SJJ")) == 1  # 75% of 1wd came on Monday morning
        await ts_env.sleep(timedelta(minutes=10))
        st = await until(h, no, lambda s: s.overdue)
        assert st.overdue and len(notices(st, "supervision", "SJJ")) == 1


# The hotline's own entries for 2027's National Day, as it would add them from the State
# Council's notice: 1–7 October off, Saturday 9 October a make-up working day (调休).
OCT_2027 = {date(2027, 9, 30): True, **{date(2027, 10, d): False for d in range(1, 8)},
            date(2027, 10, 8): True, date(2027, 10, 9): True, date(2027, 10, 10): False,
            **{date(2027, 10, d): True for d in range(11, 16)}}


async def test_national_day_with_its_make_up_saturday(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "sanya", calendar_overrides=OCT_2027) as h:
        await _skip_to(ts_env, datetime(2027, 9, 30, 10, 0, tzinfo=CST))
        no, _ = await h.start(owner="ZJJ", req=intake(category="complaint"))  # 5wd
        st = await h.state(no)
        # Thu 30 Sep 10:00 + 5wd: Fri 8 Oct, Sat 9 Oct (make-up), Mon 11, Tue 12, Wed 13 Oct 10:00
        assert st.deadlines.reply_by.astimezone(CST).replace(second=0, microsecond=0) == \
            datetime(2027, 10, 13, 10, 0, tzinfo=CST)
        assert "reply_by" not in st.deadlines.provisional  # every day on the way is known
        await h.act(no, "sign", SignAction(by="ZJJ"))
        await h.act(no, "contact", ContactAction(by="ZJJ", note="已联系"))
        await _skip_to(ts_env, datetime(2027, 10, 13, 9, 50, tzinfo=CST))
        assert not (await h.state(no)).overdue  # the holiday week did not count
        await ts_env.sleep(timedelta(minutes=15))
        st = await until(h, no, lambda s: s.overdue)
        assert len(notices(st, "supervision", "ZJJ")) == 1


async def test_a_2027_deadline_without_the_schedule_is_provisional(ts_env, sqlite_db, caplog):
    async with running_worker(ts_env.client, sqlite_db, "sanya", calendar_overrides={}) as h:
        await _skip_to(ts_env, datetime(2027, 3, 10, 10, 0, tzinfo=CST))  # a Wednesday
        with caplog.at_level("WARNING", logger="hotline.calendar"):
            no, _ = await h.start(owner="ZJJ", req=intake(category="help"))  # 3wd
            st = await h.state(no)
        assert "reply_by" in st.deadlines.provisional and "remind_at" in st.deadlines.provisional
        # Mon–Fri assumed: Wed 10:00 + 3wd = Mon 15 March 10:00
        assert st.deadlines.reply_by.astimezone(CST).replace(second=0, microsecond=0) == \
            datetime(2027, 3, 15, 10, 0, tzinfo=CST)
        assert any("provisional" in r.getMessage() for r in caplog.records)
