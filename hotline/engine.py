"""What the HTTP app and CLI need from the workflow engine, without naming Temporal."""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from hotline.models import Action, IntakeRequest, OrderState


class ActionRefused(Exception):
    """The order refused the action: `kind` is Forbidden or InvalidAction; nothing changed."""

    def __init__(self, message: str, kind: str = "InvalidAction") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class OrderNotFound(Exception):
    pass


class OrderEngine(Protocol):
    async def start_order(self, order_no: str, req: IntakeRequest, owner: str, owner_reason: str,
                          routing: list[dict], created_at: datetime | None = None) -> None: ...

    async def state(self, order_no: str) -> OrderState: ...

    async def act(self, order_no: str, action: str, payload: Action) -> OrderState: ...

    async def supervision(self, unit: str) -> dict | None: ...
