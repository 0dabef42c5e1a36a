"""Reading a unit's supervision ledger from the database (the durable record of every year)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from hotline.store import Database
from hotline.store.tables import SupervisionEventRow


def ledger_view(db: Database, unit: str, live: dict | None = None, year: int | None = None) -> dict:
    year = year or (live or {}).get("year") or datetime.now(timezone.utc).year
    with db.session() as s:
        rows = s.scalars(select(SupervisionEventRow).where(SupervisionEventRow.unit_code == unit,
                                                           SupervisionEventRow.year == year)
                         .order_by(SupervisionEventRow.at, SupervisionEventRow.id)).all()

    def pick(*kinds):
        return [{"key": r.key, "kind": r.kind, "at": r.at.isoformat(), "order_no": r.order_no, "detail": r.detail}
                for r in rows if r.kind in kinds]

    return {"unit": unit, "year": year, "strikes": pick("strike"), "criticisms": pick("criticism"),
            "referrals": pick("referral", "referral_appendix", "staff_referral"),
            "live": (live or {}) and {k: live[k] for k in ("pending",) if k in live}}
