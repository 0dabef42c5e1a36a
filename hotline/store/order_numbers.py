"""Intake bookkeeping in the store: order numbers and the idempotency reservation.

The reservation row is written before the workflow starts, so the same Idempotency-Key
always maps to the same order number, whatever retries the caller makes.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hotline.domain.codes import ORDER_NO_PREFIX, order_workflow_id
from hotline.domain.models import IntakeRequest, Stage
from hotline.store import Database
from hotline.store.tables import MergedRequestRow, OrderRow, SequenceRow

TZ = ZoneInfo("Asia/Shanghai")


def _next_number(s, now: datetime) -> str:
    day = now.astimezone(TZ).strftime("%Y%m%d")
    row = s.get(SequenceRow, day, with_for_update=True)
    if row is None:
        row = SequenceRow(day=day, last=0)
        s.add(row)
    row.last += 1
    s.flush()
    return f"{ORDER_NO_PREFIX}{day}{row.last:06d}"


class IdempotencyConflict(ValueError):
    """The Idempotency-Key was used before, by the same caller, for another request."""


def body_hash(req: IntakeRequest) -> str:
    """What a retried request must repeat to get the same order back."""
    return hashlib.sha256(req.model_dump_json().encode()).hexdigest()


def scoped_key(scope: str, key: str | None) -> str | None:
    """A caller's Idempotency-Key is its own: two API keys (or channels) never share an order."""
    return f"{scope}:{key}" if key else None


def reserve_order(db: Database, req: IntakeRequest, owner: str, idempotency_key: str | None,
                  now: datetime | None = None) -> tuple[str, bool]:
    """Returns (order_no, created). With a known (scoped) key and the same body, the earlier
    order and created=False; with another body, IdempotencyConflict and nothing changes."""
    now = now or datetime.now(timezone.utc)
    digest = body_hash(req) if idempotency_key else None
    for _ in range(5):
        try:
            with db.writer() as s:  # one writer per process: numbers are taken in turn
                if idempotency_key:
                    found = s.execute(select(OrderRow.order_no, OrderRow.idempotency_hash)
                                      .where(OrderRow.idempotency_key == idempotency_key)).first()
                    if found:
                        if found.idempotency_hash not in (None, digest):
                            raise IdempotencyConflict(
                                f"Idempotency-Key already used for order {found.order_no} with another request "
                                "body; use a new key for a new request")
                        return found.order_no, False
                    # one key, one outcome: a key that merged a request (并单) does not also make an order
                    merged = s.scalar(select(MergedRequestRow.request_no)
                                      .where(MergedRequestRow.idempotency_key == idempotency_key))
                    if merged is not None:
                        raise IdempotencyConflict(f"Idempotency-Key already used for request {merged}, merged "
                                                  "into an order; use a new key for a new request")
                order_no = _next_number(s, now)
                s.add(OrderRow(
                    order_no=order_no, workflow_id=order_workflow_id(order_no), idempotency_key=idempotency_key,
                    idempotency_hash=digest,
                    stage=Stage.intake.value, owner=owner, category=req.category.value,
                    urgency=req.urgency.value, channel=req.channel.value, title=req.title,
                    district=req.location.district, petitioner_name=req.petitioner.name,
                    petitioner_phone=req.petitioner.phone, created_at=now, updated_at=now, state={},
                ))
            return order_no, True
        except IntegrityError:
            continue  # a concurrent intake took the number or the key; look again
    raise RuntimeError("could not reserve an order number")
