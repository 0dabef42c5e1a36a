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
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from hotline.domain.contracts import NotificationRequest
from hotline.domain.masking import mask_phone, mask_text
from hotline.store import Database
from hotline.store.sealed import is_sealed, sealed_key_id
from hotline.store.tables import OrderRow, OutboxRow, UnitRow

log = logging.getLogger("hotline.store.outbox")
# Backoff doubles up to 10 minutes: a receiver down for a day still gets its messages.
MAX_ATTEMPTS = 200
LEASE = timedelta(seconds=60)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


# Prepared once, values bound at execution: enqueue runs ~5 times an order, inside the
# action's write, and building statements per call cost more than the writes.
_OUT = OutboxRow.__table__
_KNOWN = select(_OUT.c.id, _OUT.c.wft, _OUT.c.status).where(_OUT.c.key == bindparam("k"))
_ADOPT = _OUT.update().where(_OUT.c.id == bindparam("i")).values(wft=bindparam("w"), token=bindparam("t"),
                                                                  status="held")
_UNIT_WEBHOOK = select(UnitRow.__table__.c.webhook_url).where(UnitRow.__table__.c.code == bindparam("u"))
_INSERT = _OUT.insert()


def enqueue(s: Session, req: NotificationRequest, token: str | None = None) -> bool:
    """Insert the message unless its key is already there. True when newly written.

    A message written by a local activity (`req.wft` set, with its execution's `token`) is held
    until that token is seen recorded in the order's history (hotline/store/commits.py). Written again
    by a later attempt (the earlier one never committed, and the order took the same path
    again), the held row is adopted by the later write."""
    known = s.execute(_KNOWN, {"k": req.key}).first()
    if known is not None:
        if req.wft is not None and known.wft is not None and known.wft <= req.wft and known.status in ("held", "void"):
            s.execute(_ADOPT, {"i": known.id, "w": req.wft, "t": token})
        return False
    if req.to == "petitioner" or req.to.startswith("petitioner:"):  # a merged request's petitioner too
        channel, recipient = "sms", req.petitioner_phone or ""
    else:
        channel = "webhook" if s.execute(_UNIT_WEBHOOK, {"u": req.to}).scalar() else "inbox"
        recipient = req.to
    ts = now_utc()
    held = req.wft is not None
    s.execute(_INSERT, {"key": req.key, "channel": channel, "recipient": recipient, "kind": req.kind,
                        "order_no": req.order_no, "body": {"subject": req.subject, **req.body},
                        "created_at": ts, "next_attempt_at": ts, "wft": req.wft, "token": token, "attempts": 0,
                        "status": "held" if held else "delivered" if channel == "inbox" else "pending",
                        "delivered_at": ts if channel == "inbox" and not held else None})
    return True


class SmsAdapter(Protocol):
    def send(self, phone: str, text: str, key: str) -> str: ...


class LoggingSmsAdapter:
    """Default SMS gateway: logs the message masked (hotline/domain/masking.py: the phone, numbers and,
    with a database to look the order up, the petitioner's name) and keeps it in `sent`."""

    def __init__(self, db: Database | None = None) -> None:
        self.db = db
        self.sent: list[tuple[str, str, str]] = []

    def _name(self, key: str) -> str:
        if self.db is None:
            return ""
        try:
            with self.db.session() as s:
                return s.scalar(select(OrderRow.petitioner_name).join(
                    OutboxRow, OutboxRow.order_no == OrderRow.order_no).where(OutboxRow.key == key)) or ""
        except Exception:  # a log line never stops a delivery
            return ""

    def send(self, phone: str, text: str, key: str) -> str:
        self.sent.append((phone, text, key))
        log.info("sms to %s: %s [%s]", mask_phone(phone), mask_text(text, self._name(key), phone), key)
        return f"log-{len(self.sent)}"


def sign_body(secret: str, body: bytes, at: int) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`: the time is signed with the
    body, so a captured delivery cannot be replayed later (hotline.store.webhooks.verify)."""
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


class NoWebhookSecret(RuntimeError):
    pass


class OutboxDispatcher:
    def __init__(self, db: Database, sms: SmsAdapter | None = None,
                 http: httpx.Client | None = None, default_secret: str | None = None) -> None:
        self.db = db
        self.sms = sms or LoggingSmsAdapter(db)
        self.http = http or httpx.Client(timeout=10)
        # Units get their own secret (POST /api/v1/units/{code}/webhook-secret); until then a
        # hotline-wide HOTLINE_WEBHOOK_SECRET, if configured, signs their webhooks. There is no
        # built-in one: a unit with neither is not sent anything (a forged body would verify).
        self.default_secret = default_secret or os.environ.get("HOTLINE_WEBHOOK_SECRET") or None
        self.last_claimed = 0  # rows the last run_once claimed: a full batch means more may be due

    def run_once(self, limit: int = 100) -> int:
        """Deliver what is due; returns how many were delivered.

        Two transactions per batch, whatever its size: one claims and loads the rows, the other
        records every outcome (on SQLite each commit is costly and all writers queue for it)."""
        ts = now_utc()
        self.last_claimed = 0
        if not self._anything_due(ts):
            return 0  # idle polls stay reads: no write lock taken on SQLite every second
        rows, units = self._claim(ts, limit)
        self.last_claimed = len(rows)
        if not rows:
            return 0
        # The whole batch shares one lease: stop starting deliveries well before it runs out, so
        # that no other dispatcher re-claims a row this one is still going to send.
        deadline, delivered = ts + LEASE / 2, 0
        for row in rows:
            if now_utc() >= deadline:
                row.status, row.next_attempt_at = "pending", now_utc()  # hand it back, untried
                continue
            delivered += self._deliver(row, units.get(row.recipient))
        with self.db.writer() as s:
            s.add_all(rows)  # the rows' changes are flushed as UPDATEs by primary key
        return delivered

    @staticmethod
    def _due(ts: datetime) -> tuple:
        # "sending" too: a row whose lease ran out belongs to a dispatcher that died
        return OutboxRow.status.in_(("pending", "sending")), OutboxRow.next_attempt_at <= ts

    def _anything_due(self, ts: datetime) -> bool:
        with self.db.session() as s:
            return s.scalar(select(OutboxRow.id).where(*self._due(ts)).limit(1)) is not None

    def _claim(self, ts: datetime, limit: int) -> tuple[list[OutboxRow], dict[str, UnitRow]]:
        """Lease up to `limit` due rows in one statement, and load the units their webhooks need."""
        due = (select(OutboxRow.id).where(*self._due(ts))
               .order_by(OutboxRow.id).limit(limit)
               # PostgreSQL: a concurrent claimer skips the rows locked here instead of waiting and
               # claiming them too. SQLite has no FOR UPDATE (SQLAlchemy omits it): its single
               # writer lock already makes the claim atomic.
               .with_for_update(skip_locked=True))
        with self.db.writer() as s:
            rows = s.scalars(
                update(OutboxRow).where(OutboxRow.id.in_(due))
                .values(status="sending", next_attempt_at=ts + LEASE)
                .returning(OutboxRow),
                execution_options={"synchronize_session": False},
            ).all()
            codes = {r.recipient for r in rows if r.channel == "webhook"}
            units = {u.code: u for u in s.scalars(select(UnitRow).where(UnitRow.code.in_(codes)))} if codes else {}
        return sorted(rows, key=lambda r: r.id), units  # RETURNING has no order

    def _deliver(self, row: OutboxRow, unit: UnitRow | None) -> int:
        """Send one claimed row and set its outcome on the (detached) row; 1 when delivered."""
        try:
            if row.channel == "sms":
                self.sms.send(row.recipient, row.body.get("subject", ""), row.key)
            elif row.channel == "webhook":
                body = json.dumps({"key": row.key, "kind": row.kind, "order_no": row.order_no,
                                   **row.body}, ensure_ascii=False, sort_keys=True).encode()
                secret = (unit.webhook_secret if unit else None) or self.default_secret
                if is_sealed(secret):  # read back still sealed: its key has left the ring
                    raise NoWebhookSecret(f"the webhook secret of unit {row.recipient} is sealed with key "
                                          f"{sealed_key_id(secret)!r}, not in the key ring: put that key back or "
                                          f"set a new secret with POST /api/v1/units/{row.recipient}/webhook-secret")
                if not secret:
                    raise NoWebhookSecret(f"unit {row.recipient} has a webhook URL but no secret: set one with "
                                          f"POST /api/v1/units/{row.recipient}/webhook-secret")
                if unit is None or not unit.webhook_url:  # removed since the row was written: retried, then failed
                    raise LookupError(f"unit {row.recipient} has no webhook URL")
                resp = self.http.post(unit.webhook_url, content=body, headers={
                    "Content-Type": "application/json",
                    "X-Hotline-Signature": sign_body(secret, body, int(now_utc().timestamp())),
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
