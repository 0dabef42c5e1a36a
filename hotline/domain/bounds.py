"""Dates callers give, bounded before any arithmetic (issue 13).

A date far from now is never what a caller meant, and at the edges of Python's calendar
(year 1 at +14:00, year 9999 at -14:00) converting it to UTC overflows. Every date input is
checked against a plain window of years first; a promise such as a co-handler's completion time
must also fall within a horizon a supervisor can follow.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

FIRST_YEAR, LAST_YEAR = 2000, 2100
CO_HANDLER_HORIZON = timedelta(days=366)


def year_problem(value: datetime) -> str | None:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        return f"{value.isoformat()} is out of range (years {FIRST_YEAR}-{LAST_YEAR})"
    return None


def co_handler_due_problem(due: datetime, now: datetime | None = None) -> str | None:
    """Why a co-handler's promised completion time is refused, or None: in the future, within a year."""
    problem = year_problem(due)
    if problem:
        return problem
    now = now or datetime.now(timezone.utc)
    if due <= now:
        return f"{due.isoformat()} is already past"
    if due - now > CO_HANDLER_HORIZON:
        return (f"{due.isoformat()} is too far ahead: a co-handler's completion time must be within a year "
                f"({CO_HANDLER_HORIZON.days} days) from now")
    return None


def action_date_problem(action: object, now: datetime | None = None) -> str | None:
    """The first date of an action (the gateway's or the CLI's) outside its window, as
    `field: why`; None when all are fine. Not a model validator: models also decode payloads
    on replay, where "now" is long past."""
    for i, c in enumerate(getattr(action, "co_handlers", None) or []):
        problem = co_handler_due_problem(c.due, now)
        if problem:
            return f"co_handlers.{i}.due: {problem}"
    return None
