"""Reading a unit's supervision ledger from the database (the durable record of every year)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from hotline.store import Database
from hotline.store.tables import SupervisionEventRow


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
    pending = next((r.detail["pending_after"] for r in sorted(rows, key=lambda r: r.id, reverse=True)
                    if r.kind in ("strike", "strike_review") and "pending_after" in (r.detail or {})), [])
    reviews = pick("strike_review")
    reviewed = {e["detail"].get("key") for e in reviews}
    held = [e for e in strikes if (e["detail"] or {}).get("held") and e["detail"].get("key") not in reviewed]
    return {"unit": unit, "year": year, "strikes": strikes, "criticisms": pick("criticism"),
            "referrals": pick("referral", "referral_appendix", "staff_referral"),
            "held": held, "reviews": reviews, "live": {"pending": pending}}
