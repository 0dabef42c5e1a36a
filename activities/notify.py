"""Notification activity: writes the message to the transactional outbox, once per fact.

Delivery (webhook, SMS adapter) is the outbox dispatcher's job, with its own retries, so a
slow gateway never holds a workflow and a retried activity never sends twice.
"""
from __future__ import annotations

from temporalio import activity

from activities.store import write_state
from hotline.contracts import NotificationRequest
from hotline.faults import crash_point
from hotline.outbox import enqueue
from hotline.store import Database


class NotifyActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name="notify")
    def notify(self, req: NotificationRequest) -> bool:
        """Returns True when this call wrote the message, False when it was already there."""
        with self.db.writer() as s:
            written = enqueue(s, req)
            if req.state is not None and req.seq is not None:
                write_state(s, req.state, req.seq)
        crash_point(f"notify:{req.kind}")  # written, but the completion never reaches the server
        return written
