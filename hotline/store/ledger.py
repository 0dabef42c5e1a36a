"""A unit's supervision ledger in the database (the durable record of every year): recording
its facts once, and reading it."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from hotline.domain.contracts import NotificationRequest
from hotline.domain.supervision import LedgerEvent
from hotline.store import Database
from hotline.store.outbox import enqueue
from hotline.store.tables import SupervisionEventRow


def record_event(db: Database, ev: LedgerEvent) -> bool:
    """Record a strike, criticism, referral or appendix once, and queue its documents once
    (in the same transaction). False when it was recorded before."""
    with db.writer() as s:
        if s.scalar(select(SupervisionEventRow.id).where(SupervisionEventRow.key == ev.key)) is not None:
            return False
        s.add(SupervisionEventRow(key=ev.key, unit_code=ev.unit, year=ev.year, kind=ev.kind, at=ev.at,
                                  order_no=ev.order_no, detail=ev.detail))
        for to in ev.send_to:
            enqueue(s, NotificationRequest(key=f"{ev.key}:to:{to}", order_no=ev.order_no, kind=ev.kind,
                                           to=to, subject=ev.title, body={"document": ev.detail}))
    return True


def ledger_view(db: Database, unit: str, year: int | None = None) -> dict:
    """Everything from the database: the supervision workflow is never queried for a read."""
    year = year or datetime.now(timezone.utc).year
    with db.session() as s:
        rows = s.scalars(select(SupervisionEventRow).where(SupervisionEventRow.unit_code == unit,
                                                           SupervisionEventRow.year == year)
                         .order_by(SupervisionEventRow.at, SupervisionEventRow.id)).all()

    def pick(*kinds):
        return [{"key": r.key, "kind": r.kind, "at": r.at.isoformat(), "order_no": r.order_no, "detail": r.detail}
                for r in rows if r.kind in kinds]

    strikes = pick("strike")
    # the refusals still counting toward the next criticism: as of the last fact recorded
    pending: list = next((r.detail["pending_after"] for r in sorted(rows, key=lambda r: r.id, reverse=True)
                    if r.kind in ("strike", "strike_review") and "pending_after" in (r.detail or {})), [])
    reviews = pick("strike_review")
    reviewed = {e["detail"].get("key") for e in reviews}
    held = [e for e in strikes if (e["detail"] or {}).get("held") and e["detail"].get("key") not in reviewed]
    return {"unit": unit, "year": year, "strikes": strikes, "criticisms": pick("criticism"),
            "referrals": pick("referral", "referral_appendix", "staff_referral"),
            "held": held, "reviews": reviews, "live": {"pending": pending}}
