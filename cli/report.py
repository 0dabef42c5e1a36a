"""`starter.py report` and `starter.py simulate` (issue 7).

  starter.py report --from 2026-01-01 --to 2026-11-01 [--unit ZJJ] [--out report.html]
  starter.py simulate [--months 24] [--orders-per-day 50] [--seed 12345] [--until 2026-11-01] [--force]

`add_commands(subparsers)` adds both; `HANDLERS` maps each to its function. Bad input raises
`ReportError` (a ValueError) with one line saying what is wrong; nothing is written then.
"""
from __future__ import annotations

import argparse
import re
from datetime import date
from pathlib import Path

from hotline.runtime.settings import load_settings


class ReportError(ValueError):
    """Bad input to `report` or `simulate`; the message is one line for the terminal."""


def add_commands(subparsers) -> None:
    r = subparsers.add_parser("report", help="KPI report for a period: table here, HTML with --out",
                              description="KPIs for [from, to) with last year's values, per-unit ranking and "
                                          "monthly invalid returns.")
    r.add_argument("--from", dest="from_", required=True, metavar="YYYY-MM-DD", help="first day (local time)")
    r.add_argument("--to", required=True, metavar="YYYY-MM-DD", help="end of the period, exclusive")
    r.add_argument("--unit", help="one unit's figures, e.g. ZJJ (the ranking still lists every unit)")
    r.add_argument("--out", metavar="FILE.html", help="also write a self-contained HTML report")
    r.add_argument("--top", metavar="N", help="list only the N worst units in the terminal")
    r.set_defaults(handler=cmd_report)
    s = subparsers.add_parser("simulate", help="generate realistic history into the read model",
                              description="Months of Sanya-like history (first-contact responsibility starting "
                                          "in the last 12 months) written into DATABASE_URL, to see the report "
                                          "on data. Deterministic for a seed and --until.")
    s.add_argument("--months", default="24", help="how many months (1-120, default 24)")
    s.add_argument("--orders-per-day", default="50", help="average orders a day (1-2000, default 50)")
    s.add_argument("--seed", default="12345", help="random seed (default 12345)")
    s.add_argument("--until", metavar="YYYY-MM-DD", help="end of the history, exclusive (default: 1st of this month)")
    s.add_argument("--workers", help="processes drawing the months (default: one per CPU)")
    s.add_argument("--force", action="store_true", help="write even into a database that holds real orders")
    s.set_defaults(handler=cmd_simulate)


def _db():
    from hotline.store import Database
    db = Database(load_settings().database_url)
    db.check()
    db.migrate()
    return db


def _opt_int(name: str, text: str | None, lo: int, hi: int | None = None) -> int | None:
    """An option without a default: None when not given."""
    return None if text is None else _int(name, text, lo, hi)


def _int(name: str, text: str, lo: int, hi: int | None = None) -> int:
    if not re.fullmatch(r"\s*\d+\s*", str(text)):
        raise ReportError(f"{name} must be a whole number, got {text!r}")
    value = int(text)
    if value < lo or (hi is not None and value > hi):
        raise ReportError(f"{name} must be from {lo}" + (f" to {hi}" if hi else " up") + f", got {value}")
    return value


def cmd_report(args: argparse.Namespace) -> None:
    from hotline.domain.policy import load_policy
    from hotline.reporting.kpi import KpiError, build_report
    from hotline.reporting.report import render_html, render_text
    top = _opt_int("--top", args.top, 1)
    out = Path(args.out) if args.out else None
    if out is not None and (out.is_dir() or not out.parent.is_dir()):
        raise ReportError(f"--out {args.out}: not a file in an existing folder")
    db = _db()
    try:
        report = build_report(db, args.from_, args.to, args.unit, load_policy(load_settings().policy))
    except KpiError as exc:
        raise ReportError(str(exc)) from None
    report["calendar_warning"] = _calendar_warning(db)
    print(render_text(report, top=top), end="")
    if out is not None:
        try:
            out.write_text(render_html(report), encoding="utf-8")
        except OSError as exc:
            raise ReportError(f"--out {args.out}: {exc.strerror or exc}") from None
        print(f"\nHTML report written to {out}")


def _calendar_warning(db) -> dict | None:
    """Deadlines are provisional when this year's or (from 1 November) next year's schedule is
    not entered: the report says so, since its on-time figures rest on them."""
    from datetime import UTC, datetime

    from hotline.services.calendar_admin import coming_year_status
    st = coming_year_status(db, datetime.now(UTC))
    return {"code": st.code, "message": st.message} if st.code else None


def cmd_simulate(args: argparse.Namespace) -> None:
    from hotline.simulation.scenario import SimulationError, simulate
    months = _int("--months", args.months, 1, 120)
    per_day = _int("--orders-per-day", args.orders_per_day, 1, 2000)
    seed = _int("--seed", args.seed, 0)
    workers = _opt_int("--workers", args.workers, 1, 64)
    until = None
    if args.until:
        try:
            until = date.fromisoformat(args.until)
        except ValueError:
            raise ReportError(f"--until {args.until!r} is not a date (YYYY-MM-DD)") from None
    db = _db()
    try:
        s = simulate(db, months=months, orders_per_day=per_day, seed=seed, until=until, force=args.force,
                     workers=workers)
    except SimulationError as exc:
        raise ReportError(str(exc)) from None
    inv = s["invalid_returns"]
    print(f"simulated {s['orders']:,} work orders ({s['steps']:,} steps) from {s['from']} to {s['until']} "
          f"in {s['seconds']} s (seed {s['seed']})")
    if inv["before"] and inv["after"]:
        print(f"invalid returns: {inv['before']} in the year before first-contact responsibility, {inv['after']} "
              f"in the year after ({(inv['after'] - inv['before']) / inv['before'] * 100:+.0f}%)")
    ledger = s.get("ledger", {})
    print(f"ledger: {ledger.get('strike', 0)} strikes, {ledger.get('criticism', 0)} criticisms, "
          f"{ledger.get('referral', 0)} referrals")
    end = date.fromisoformat(s["until"])
    year_before = end.replace(year=end.year - 1, day=28) if (end.month, end.day) == (2, 29) else \
        end.replace(year=end.year - 1)
    start = max(date.fromisoformat(s["from"]), year_before)
    print(f"see it: starter.py report --from {start} --to {end} --out report.html")


HANDLERS = {"report": cmd_report, "simulate": cmd_simulate}
