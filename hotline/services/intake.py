"""Intake as one operation shared by the HTTP API and the CLI: route, reserve, start."""
from __future__ import annotations

import asyncio

from sqlalchemy import select

from hotline.domain.models import IntakeRequest, OrderState, Stage
from hotline.domain.routing.router import Router
from hotline.runtime.metrics import ROUTING_DECISIONS
from hotline.services.port import WorkOrderPort
from hotline.services.routing_learning import record_intake
from hotline.store import Database
from hotline.store.order_numbers import reserve_order
from hotline.store.readmodel import load_order
from hotline.store.tables import UnitRow


class IntakeError(ValueError):
    pass


def choose_owner(db: Database, router: Router, req: IntakeRequest) -> tuple[str, str, list[dict]]:
    """(owner, reason, routing evidence). The operator's choice wins over the suggestion."""
    return _choose(db, router, req)[:3]


def _choose(db: Database, router: Router, req: IntakeRequest):
    result = router.route(f"{req.title} {req.description}", req.category.value, req.location.district)
    # each candidate names the model version that ranked it (issue 19)
    routing = [{**c.model_dump(mode="json"), "model_version": result.model_version}
               for c in result.candidates[:3]]
    if req.owner is not None:
        with db.session() as s:
            unit = s.get(UnitRow, req.owner)
        if unit is None or unit.type == "hotline":
            raise IntakeError(f"owner {req.owner!r} is not a unit that can own an order")
        return req.owner, "operator", routing, result
    if not result.candidates:
        raise IntakeError("no unit found for this request; choose an owner")
    return result.candidates[0].unit, f"routing:{result.decision}", routing, result


async def intake_order(db: Database, work_orders: WorkOrderPort, router: Router, req: IntakeRequest,
                       idempotency_key: str | None = None) -> OrderState:
    # Routing and the database off the event loop: a write waits for SQLite's one writer (the
    # worker's), and twenty callers at once must not queue behind each other's waits.
    owner, reason, routing, result = await asyncio.to_thread(_choose, db, router, req)
    # IdempotencyConflict: nothing changed
    order_no, created = await asyncio.to_thread(reserve_order, db, req, owner, idempotency_key)
    if created:
        ROUTING_DECISIONS.labels(reason).inc()  # operator, or routing:<decision> (a closed set)
        # suggestion, model version, override
        await asyncio.to_thread(record_intake, db, order_no, req, result, owner)

    if not created:  # a retried intake: the same order, never a second workflow
        known = await asyncio.to_thread(load_order, db, order_no)
        if known is not None and known.stage != Stage.intake:
            return known
        # reserved but not yet dispatched (a crash in between, or the first try still running):
        # the port starts it, or finds it started and asks the workflow for its dispatched order
    return await work_orders.start_order(order_no, req, owner, reason, routing)


def unit_codes(db: Database) -> set[str]:
    with db.session() as s:
        return set(s.scalars(select(UnitRow.code)))
