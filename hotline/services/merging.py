"""并单 as operations shared by the HTTP API and the CLI: merge a new request into an open order,
and undo a wrong merge.

Merging records the request first (its own number and petitioner, hotline/store/merges.py), then
tells the order (its `merge` update: a co-petitioner, no new deadline). If the order refuses
(it was replied or closed meanwhile), the request just recorded is discarded, so nothing
changed. Both operations are safe to retry: the same Idempotency-Key gets the same request, an
order that already has it answers as merged, and an unmerge started twice starts one order.
"""
from __future__ import annotations

import asyncio

from pydantic import BaseModel

from hotline.domain.actor import OFFICE, ActorError, parse_actor
from hotline.domain.models import IntakeRequest, MergeAction, OrderState, UnmergeAction
from hotline.domain.routing.router import Router
from hotline.services.intake import IntakeError, choose_owner
from hotline.services.port import ActionRefused, WorkOrderPort
from hotline.store import Database, merges
from hotline.store.readmodel import load_order


def _is_actor(by: str) -> bool:
    try:
        parse_actor(by)
        return True
    except ActorError:
        return False


class MergeAnswer(BaseModel):
    """A merged request: its own number, and the order it joined as it stands now."""

    request_no: str
    merged_into: str
    order: OrderState


async def merge_request(db: Database, work_orders: WorkOrderPort, parent: str, req: IntakeRequest, by: str,
                        idempotency_key: str | None = None, note: str = "") -> MergeAnswer:
    """Raises merges.MergeError (unknown or closed order), merges.IdempotencyConflict, or
    ActionRefused (the order cannot take a merge now); nothing is left behind by any of them."""
    request_no, created = await asyncio.to_thread(merges.reserve_request, db, req, parent, by, idempotency_key)
    # an intake operator merges on behalf of the hotline office (首接: the hotline received it)
    operator = None if _is_actor(by) else by
    action = MergeAction(by=OFFICE if operator else by, operator=operator, request_no=request_no,
                         petitioner=req.petitioner, channel=req.channel, note=note)
    try:
        st = await work_orders.act(parent, "merge", action)
    except ActionRefused as exc:
        known = await asyncio.to_thread(load_order, db, parent)
        if known is not None and any(c.request_no == request_no for c in known.co_petitioners):
            return MergeAnswer(request_no=request_no, merged_into=parent, order=known)  # a retry: merged before
        if created:
            await asyncio.to_thread(merges.discard_request, db, request_no)
        raise exc
    return MergeAnswer(request_no=request_no, merged_into=parent, order=st)


async def unmerge_request(db: Database, work_orders: WorkOrderPort, router: Router, parent: str, request_no: str,
                          by: str, reason: str, owner: str | None = None) -> OrderState:
    """Takes the request out of the order and starts it as an order of its own (same number,
    fresh deadlines), owned by `owner` or, without one, by the unit routing suggests. Returns
    the new order as dispatched."""
    found = await asyncio.to_thread(merges.get_request, db, request_no)
    if found is None or found.parent_order_no != parent:
        raise merges.MergeError(f"{request_no} is not a request merged into order {parent}")
    if not found.unmerged:
        try:
            await work_orders.act(parent, "unmerge", UnmergeAction(by=by, request_no=request_no, reason=reason))
        except ActionRefused:
            known = await asyncio.to_thread(load_order, db, parent)
            if known is None or any(c.request_no == request_no for c in known.co_petitioners):
                raise  # still merged: the order refused for another reason
    req = found.intake if owner is None else found.intake.model_copy(update={"owner": owner})
    try:  # the named owner is checked as at intake; without one, routing suggests
        chosen, why, routing = await asyncio.to_thread(choose_owner, db, router, req)
    except IntakeError:
        known = await asyncio.to_thread(load_order, db, parent)
        if owner is not None or known is None:
            raise
        chosen, why, routing = known.owner, "unmerged", []  # no suggestion: the order's owner
    intake = await asyncio.to_thread(merges.mark_unmerged, db, request_no, by, reason, chosen)
    return await work_orders.start_order(request_no, intake, chosen, why, routing)
