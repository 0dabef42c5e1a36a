"""`starter.py calendar …`: the hotline office enters and reads the working calendar.

  starter.py calendar import FILE [--by NAME] [--dry-run]   validate a year's schedule whole, show
                                                            what it changes, store it
  starter.py calendar show YEAR                             the year's days off and make-up days, and
                                                            where each comes from
  starter.py calendar status                                is the coming year's schedule entered?

`add_commands(subparsers)` registers them (each sets `handler`). Bad input raises
`CalendarCliError` with one line per problem, each starting with the file's name; nothing is
stored then.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path

from hotline.runtime.settings import load_settings

MAX_FILE_BYTES = 256 * 1024
WORK = {True: "上班", False: "休息"}
SOURCES = {"database": "已录入的通知", "file": "随软件发布的调整表", "chinesecalendar": "chinesecalendar（官方）",
           "statutory": "法定节假日（推算）", "guess": "周一至周五（推算）"}


class CalendarCliError(ValueError):
    """Bad input to `calendar`; each line of the message is one problem."""


def add_commands(subparsers) -> None:
    c = subparsers.add_parser("calendar", help="the working calendar: enter a year's holiday schedule, show a year",
                              description="The State Council's yearly holiday schedule (节假日安排), as the hotline "
                                          "office enters it. Until a year is entered, its deadlines are provisional.")
    csub = c.add_subparsers(dest="calendar_cmd", required=True)
    ci = csub.add_parser("import", help="validate a year's schedule file whole, show the diff, store it")
    ci.add_argument("file", help="YAML: year, notice, days: {YYYY-MM-DD: {workday, note}}")
    ci.add_argument("--by", help="who enters it (default: the login name)")
    ci.add_argument("--dry-run", action="store_true", help="validate and show the diff; store nothing")
    ci.set_defaults(handler=cmd_import)
    cs = csub.add_parser("show", help="a year's days off and make-up working days, with their source")
    cs.add_argument("year", help="e.g. 2027")
    cs.set_defaults(handler=cmd_show)
    st = csub.add_parser("status", help="is the coming year's schedule entered? (warns from 1 November)")
    st.set_defaults(handler=cmd_status)


def _db():
    from hotline.store import Database
    db = Database(load_settings().database_url)
    db.check()
    db.migrate()
    return db


def _read(path: str) -> str:
    p = Path(path)
    try:
        if not p.is_file():
            raise CalendarCliError(f"{path}: no such file")
        if p.stat().st_size > MAX_FILE_BYTES:
            raise CalendarCliError(f"{path}: larger than {MAX_FILE_BYTES} bytes; a year's schedule is a few KiB")
        return p.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise CalendarCliError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise CalendarCliError(f"{path}: {exc.strerror or exc}") from None


def format_change(c) -> str:
    was = f"{WORK[c.assumed_workday]}（{SOURCES.get(c.assumed_source, c.assumed_source)}）"
    return f"  {c.day} {c.weekday}  原假定 {was} → {WORK[c.workday]}  {c.note}"


def cmd_import(args: argparse.Namespace) -> None:
    from hotline.domain.calendar_schedule import ScheduleError, parse_schedule
    from hotline.services.calendar_admin import CalendarImportError, diff, import_schedule
    text = _read(args.file)
    try:
        schedule = parse_schedule(text)
    except ScheduleError as exc:
        # main() prints "error: " before the message: every problem gets its own such line
        raise CalendarCliError("\nerror: ".join(f"{args.file} refused, nothing changed: {p}"
                                                for p in exc.problems)) from None
    by = args.by if args.by is not None else f"cli:{_login()}"
    db = _db()
    if args.dry_run:
        changes = diff(db, schedule.year, schedule)
        print(f"{args.file}: the {schedule.year} schedule is valid ({schedule.notice}); not stored (--dry-run)")
    else:
        try:
            result = import_schedule(db, schedule, by)
        except CalendarImportError as exc:
            raise CalendarCliError(f"{args.file} refused, nothing changed: {exc}") from None
        changes = result.changes
        print(f"{schedule.year} schedule {'replaced' if result.replaced else 'entered'} from {args.file} "
              f"by {result.entered_by} ({schedule.notice}): {result.days} days listed; {schedule.year} is confirmed")
    print(f"{len(changes)} day(s) differ from what the calendar assumed before:")
    for c in changes:
        print(format_change(c))
    if not args.dry_run:
        _tell_running_orders(db, schedule.year, schedule.notice, by)


def _tell_running_orders(db, year: int, notice: str, by: str) -> None:
    """Open orders recompute the deadlines the new schedule touches (their own audit steps)."""
    import asyncio

    from hotline.domain.policy import load_policy
    from hotline.runtime.settings import load_settings
    from hotline.services.calendar_rollout import follow_calendar
    from workflows.client import TemporalWorkOrders
    from workflows.connect import connect

    async def run() -> tuple[int, list[str]]:
        settings = load_settings()
        work_orders = TemporalWorkOrders(await connect(settings), settings.task_queue, load_policy(settings.policy))
        return await follow_calendar(db, work_orders, year, notice, by)
    try:
        told, failed = asyncio.run(run())
    except Exception as exc:  # the schedule is stored; the orders can be told again later
        print(f"warning: the schedule is stored, but running orders were not told ({type(exc).__name__}); "
              "run the import again once Temporal is reachable", file=sys.stderr)
        return
    print(f"{told} open order(s) told to recompute their deadlines"
          + (f"; {len(failed)} not reached" if failed else ""))


def cmd_show(args: argparse.Namespace) -> None:
    from hotline.domain.statutory import FIRST_YEAR, LAST_YEAR
    from hotline.services.calendar_admin import show_year, year_status
    try:
        year = int(args.year)
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValueError
    except ValueError:
        raise CalendarCliError(f"year {args.year!r}: give a year from {FIRST_YEAR} to {LAST_YEAR}") from None
    db = _db()
    st = year_status(db, year)
    if st.source == "database":
        at = st.entered_at.isoformat() if st.entered_at else "?"  # always set on an entered year
        print(f"{year}: confirmed — entered by {st.entered_by} at {at} from {st.notice}")
    elif st.source == "chinesecalendar":
        print(f"{year}: confirmed — the State Council's schedule as shipped in chinesecalendar")
    else:
        print(f"{year}: NOT confirmed — 工作日按周一至周五并扣除法定节假日推算，调休未知，期限均为暂定")
    for d in show_year(db, year):
        flag = "" if d.known else "  (推算)"
        print(f"  {d.day} {d.weekday}  {WORK[d.workday]}  {d.note or ''}  [{SOURCES.get(d.source, d.source)}]{flag}")


def cmd_status(args: argparse.Namespace) -> None:
    from hotline.services.calendar_admin import coming_year_status
    st = coming_year_status(_db(), datetime.now(UTC))
    if st.code:
        print(f"warning {st.code}: {st.message}")
    else:
        print(f"{st.year}: confirmed ({SOURCES.get(st.source, st.source)})")


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in a container: still say it came from the command line
        return "unknown"
