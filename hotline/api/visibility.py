"""What a caller sees of an order: the read model, masked unless the caller handles the order.

Shared by the order, action and merge routes and by the web console, so every door shows an
order the same way.
"""
from __future__ import annotations

from hotline.api.errors import ApiError
from hotline.domain.models import OrderState
from hotline.store import Database
from hotline.store.apikeys import Principal
from hotline.store.readmodel import load_order


def may_see_identity(p: Principal, st: OrderState) -> bool:
    """Owner, co-handlers and admins see the petitioner; everyone else a masked copy."""
    return p.role == "admin" or (p.role == "department" and (
        p.unit == st.owner or p.unit in {c.unit for c in st.co_handlers}))


def view(p: Principal, st: OrderState) -> OrderState:
    return st if may_see_identity(p, st) else st.masked()


def read_order(db: Database, order_no: str) -> OrderState:
    """From the read model, never by querying the running workflow (see hotline.store.readmodel)."""
    st = load_order(db, order_no)
    if st is None:
        raise ApiError(404, f"order {order_no} not found")
    return st
