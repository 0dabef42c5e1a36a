"""Reading work orders: always from the read model every step writes, never from a workflow.

A query against a running workflow can corrupt its history (README, "Known SDK race"), and the
namespace refuses queries anyway. Each step of an order is recorded (with the whole state)
before the action that caused it answers, so the read model is as fresh as any answer a
client has received.
"""
from __future__ import annotations

from hotline.domain.models import OrderState
from hotline.store import Database
from hotline.store.tables import OrderRow


def load_order(db: Database, order_no: str) -> OrderState | None:
    """The order's last recorded state, None if no step of it has been recorded."""
    with db.session() as s:
        state = s.scalar(OrderRow.__table__.select().with_only_columns(OrderRow.state)
                         .where(OrderRow.order_no == order_no))
    return OrderState.model_validate(state) if state else None
