"""What the HTTP app and CLI need from the workflow engine, without naming Temporal."""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from hotline.domain.contracts import CalendarChange, StrikeReview
from hotline.domain.models import Action, IntakeRequest, OrderState


class ActionRefused(Exception):
    """The order refused the action: `kind` is Forbidden or InvalidAction; nothing changed."""

    def __init__(self, message: str, kind: str = "InvalidAction") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class OrderNotFound(Exception):
    pass


class WorkOrderPort(Protocol):
    """Start orders and act on them. There is no read here on purpose: every read comes from
    the read model in the database, never from a running workflow."""

    async def start_order(self, order_no: str, req: IntakeRequest, owner: str, owner_reason: str,
                          routing: list[dict], created_at: datetime | None = None) -> OrderState:
        """Start the order and return it once dispatched."""

    async def act(self, order_no: str, action: str, payload: Action) -> OrderState:
        """Apply one action; its answer is the order after it. Raises ActionRefused, OrderNotFound."""

    async def review_strike(self, unit: str, review: "StrikeReview") -> None:
        """Confirm or void a strike held because its deadline was provisional."""

    async def calendar_changed(self, order_no: str, change: "CalendarChange") -> None:
        """Tell a running order that a year's official schedule was entered."""
