"""Reading work orders: always from the read model every step writes, never from a workflow.

A query against a running workflow can corrupt its history (README, "Known SDK race"), and the
namespace refuses queries anyway. Each step of an order is recorded (with the whole state)
before the action that caused it answers, so the read model is as fresh as any answer a
client has received.
"""
from __future__ import annotations

from sqlalchemy import bindparam, or_

from hotline.domain.models import OrderState
from hotline.store import Database
from hotline.store.recording import state_values
from hotline.store.tables import OrderRow


def load_order(db: Database, order_no: str) -> OrderState | None:
    """The order's last recorded state, None if no step of it has been recorded."""
    with db.session() as s:
        state = s.scalar(OrderRow.__table__.select().with_only_columns(OrderRow.state)
                         .where(OrderRow.order_no == order_no))
    return OrderState.model_validate(state) if state else None


def remember_dispatch(db: Database, st: OrderState) -> bool:
    """The order as intake answered it (number, owner, deadlines), into its reserved row while
    its workflow has recorded nothing yet: an order page opened the moment the operator reads
    the number back shows what was read back. The workflow's first write (the same state, with
    its audit rows and notices) replaces it; a row it already wrote is left alone. Step 0: any
    step the workflow records is newer. True when written."""
    values = {k: v for k, v in state_values(st, 0).items() if k != "last_seq"}
    with db.writer() as s:
        return bool(s.connection().execute(_REMEMBER, {**values, "o": st.order_no}).rowcount)


_O = OrderRow.__table__
# Only a row no step was recorded into yet (reserved by intake, no write of any task).
_REMEMBER = _O.update().where(_O.c.order_no == bindparam("o"), or_(_O.c.last_seq.is_(None), _O.c.last_seq == 0),
                              _O.c.last_wft.is_(None), _O.c.last_token.is_(None))
