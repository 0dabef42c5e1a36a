"""Telling running orders that a year's schedule was entered (issue: 2027 arrives).

The read model says which open orders wait on a deadline that is provisional or falls in that
year; each gets the `calendar_changed` signal and recomputes those deadlines itself, through
its deadline activity, with an audit step (workflows/calendar_follow.py). Signals are
idempotent in effect: an order whose deadlines already follow the schedule records nothing.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from hotline.domain.contracts import CalendarChange
from hotline.store import Database
from hotline.store.tables import OrderRow

log = logging.getLogger("hotline.calendar")

DEADLINES = ("sign_by", "contact_by", "coordinate_by", "reply_by", "remind_at", "return_until",
             "callback_by", "answer_by", "escalate_at")


def orders_to_follow(db: Database, year: int, tz: str = "Asia/Shanghai") -> list[str]:
    """Open orders with a provisional deadline, or a deadline in `year`."""
    zone, out = ZoneInfo(tz), []
    with db.session() as s:
        rows = s.execute(select(OrderRow.order_no, OrderRow.state).where(OrderRow.stage != "closed")
                         .execution_options(yield_per=500))
        for order_no, state in rows:
            d = (state or {}).get("deadlines") or {}
            if d.get("provisional"):
                out.append(order_no)
                continue
            for name in DEADLINES:
                v = d.get(name)
                if v and datetime.fromisoformat(v).astimezone(zone).year == year:
                    out.append(order_no)
                    break
    return out


async def follow_calendar(db: Database, work_orders, year: int, notice: str, by: str,
                          concurrency: int = 20) -> tuple[int, list[str]]:
    """Signal every open order the new schedule touches. Returns (signalled, failed order numbers)."""
    orders = await asyncio.to_thread(orders_to_follow, db, year)
    change = CalendarChange(years=[year], notice=notice, by=by)
    sem, failed = asyncio.Semaphore(concurrency), []

    async def one(no: str) -> None:
        async with sem:
            try:
                await work_orders.calendar_changed(no, change)
            except Exception as exc:  # a closed or vanished order: nothing to follow
                log.warning("calendar %d: order %s not told: %s", year, no, type(exc).__name__)
                failed.append(no)
    await asyncio.gather(*(one(no) for no in orders))
    log.info("calendar %d: %d open orders told to recompute their deadlines", year, len(orders) - len(failed))
    return len(orders) - len(failed), failed
