"""Notification activity: writes the message to the transactional outbox, once per fact.

Delivery (webhook, SMS adapter) is the outbox dispatcher's job, with its own retries, so a
slow gateway never holds a workflow and a retried activity never sends twice.
"""
from __future__ import annotations

from temporalio import activity

from hotline.domain.contracts import NotificationRequest
from hotline.runtime.faults import crash_point
from hotline.store import Database
from hotline.store.outbox import enqueue
from hotline.store.recording import new_token, write_state


class NotifyActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name="notify")
    def notify(self, req: NotificationRequest) -> bool | str:
        """A regular activity: True when this call wrote the message, False when it was already
        there. A local one (`req.wft` set): the token of this execution, held until the history
        records it (hotline/store/commits.py)."""
        token = new_token() if req.wft is not None else None
        with self.db.writer() as s:
            written = enqueue(s, req, token)
            if req.state is not None and req.seq is not None:
                write_state(s, req.state, req.seq, req.wft, token)
        crash_point(f"notify:{req.kind}")  # written, but the completion never reaches the server
        return token if token is not None else written
