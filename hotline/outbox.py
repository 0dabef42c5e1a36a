"""Transactional outbox and its dispatcher (SPEC §8 Notifications).

`enqueue` writes a message once per fact (unique key). The dispatcher claims due messages
with a lease (so two worker replicas never deliver the same row at once), delivers them by
webhook (HMAC-SHA256 signed) or through the SMS adapter, and retries with backoff. Each
delivery carries its key in `X-Hotline-Delivery`, so a receiver can drop a redelivery after
a crash between "sent" and "marked delivered".
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from datetime import datetime, timedelta, timezone
from typing import Protocol

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hotline.contracts import NotificationRequest
from hotline.models import mask_phone
from hotline.store import Database
from hotline.store.tables import OutboxRow, UnitRow

log = logging.getLogger("hotline.outbox")
# Backoff doubles up to 10 minutes: a receiver down for a day still gets its messages.
MAX_ATTEMPTS = 200
LEASE = timedelta(seconds=60)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def enqueue(s: Session, req: NotificationRequest) -> bool:
    """Insert the message unless its key is already there. True when newly written."""
    if s.scalar(select(OutboxRow.id).where(OutboxRow.key == req.key)) is not None:
        return False
    if req.to == "petitioner":
        channel, recipient = "sms", req.petitioner_phone or ""
    else:
        unit = s.get(UnitRow, req.to)
        channel = "webhook" if unit is not None and unit.webhook_url else "inbox"
        recipient = req.to
    ts = now_utc()
    s.add(OutboxRow(key=req.key, channel=channel, recipient=recipient, kind=req.kind,
                    order_no=req.order_no, body={"subject": req.subject, **req.body},
                    created_at=ts, next_attempt_at=ts,
                    status="delivered" if channel == "inbox" else "pending",
                    delivered_at=ts if channel == "inbox" else None))
    s.flush()
    return True


class SmsAdapter(Protocol):
    def send(self, phone: str, text: str, key: str) -> str: ...


class LoggingSmsAdapter:
    """Default SMS gateway: logs the message (phone masked) and keeps it in `sent`."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, phone: str, text: str, key: str) -> str:
        self.sent.append((phone, text, key))
        log.info("sms to %s: %s [%s]", mask_phone(phone), text, key)
        return f"log-{len(self.sent)}"


def sign_body(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class OutboxDispatcher:
    def __init__(self, db: Database, sms: SmsAdapter | None = None,
                 http: httpx.Client | None = None, default_secret: str | None = None) -> None:
        self.db = db
        self.sms = sms or LoggingSmsAdapter()
        self.http = http or httpx.Client(timeout=10)
        # Units get their own secret (POST /api/v1/units/{code}/webhook-secret); until then the
        # hotline-wide HOTLINE_WEBHOOK_SECRET signs their webhooks.
        self.default_secret = default_secret or os.environ.get("HOTLINE_WEBHOOK_SECRET", "hotline-dev-secret")

    def _claim(self, row_id: int) -> bool:
        ts = now_utc()
        with self.db.session() as s:
            res = s.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row_id, OutboxRow.status.in_(("pending", "sending")),
                       OutboxRow.next_attempt_at <= ts)
                .values(status="sending", next_attempt_at=ts + LEASE)
            )
            return res.rowcount == 1

    def run_once(self, limit: int = 100) -> int:
        """Deliver what is due; returns how many were delivered."""
        with self.db.session() as s:
            due = s.scalars(
                select(OutboxRow.id).where(OutboxRow.status.in_(("pending", "sending")),
                                           OutboxRow.next_attempt_at <= now_utc())
                .order_by(OutboxRow.id).limit(limit)
            ).all()
        delivered = 0
        for row_id in due:
            if not self._claim(row_id):
                continue  # another dispatcher has it
            delivered += self._deliver(row_id)
        return delivered

    def _deliver(self, row_id: int) -> int:
        with self.db.session() as s:
            row = s.get(OutboxRow, row_id)
            unit = s.get(UnitRow, row.recipient) if row.channel == "webhook" else None
            try:
                if row.channel == "sms":
                    self.sms.send(row.recipient, row.body.get("subject", ""), row.key)
                elif row.channel == "webhook":
                    body = json.dumps({"key": row.key, "kind": row.kind, "order_no": row.order_no,
                                       **row.body}, ensure_ascii=False, sort_keys=True).encode()
                    secret = (unit.webhook_secret if unit else None) or self.default_secret
                    resp = self.http.post(unit.webhook_url, content=body, headers={
                        "Content-Type": "application/json",
                        "X-Hotline-Signature": sign_body(secret, body),
                        "X-Hotline-Delivery": row.key,
                    })
                    resp.raise_for_status()
                row.status, row.delivered_at = "delivered", now_utc()
                row.attempts += 1
                return 1
            except Exception as exc:  # any delivery failure is retried later, never lost
                row.attempts += 1
                row.last_error = str(exc)[:500]
                if row.attempts >= MAX_ATTEMPTS:
                    row.status = "failed"
                    log.error("outbox %s gave up after %d attempts: %s", row.key, row.attempts, exc)
                else:
                    row.status = "pending"
                    row.next_attempt_at = now_utc() + timedelta(seconds=min(2 ** row.attempts, 600))
                return 0
