"""Merged requests (并单, issue 18) in the store: recording, reading and unmerging them.

When many citizens report one matter, the operator merges a new request into the open order
already handling it instead of dispatching it again. The request keeps its own number (the
orders' series: a citizen's receipt looks the same either way) and its petitioner, but has
no workflow: the parent order's workflow takes it as a co-petitioner through its `merge`
update, sent by the gateway once the request is recorded here. A wrong merge is undone by
unmerging: the request becomes an order of its own under the same number.

Pure store functions, no Temporal; the gateway and the CLI call them around the updates.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import IntegrityError

from hotline.domain.codes import order_workflow_id
from hotline.domain.models import IntakeRequest, Stage
from hotline.store import Database
from hotline.store.order_numbers import IdempotencyConflict, _next_number
from hotline.store.tables import MergedRequestRow, OrderRow

__all__ = ["MergeError", "MergedRequest", "reserve_request", "discard_request", "get_request", "requests_of",
           "mark_unmerged", "IdempotencyConflict"]


class MergeError(ValueError):
    """A merge or unmerge the store refuses; the message says why. Nothing was written."""


class MergedRequest(BaseModel):
    """One row of `merged_requests`, with the intake as the model it was submitted as."""

    request_no: str
    parent_order_no: str
    intake: IntakeRequest
    petitioner_name: str
    petitioner_phone: str
    channel: str
    district: str | None
    title: str
    created_at: datetime
    merged_at: datetime
    merged_by: str
    idempotency_key: str | None = None
    idempotency_hash: str | None = None
    unmerged_at: datetime | None = None
    unmerged_by: str | None = None
    unmerge_reason: str | None = None

    @property
    def unmerged(self) -> bool:
        return self.unmerged_at is not None

    @classmethod
    def of(cls, row: MergedRequestRow) -> "MergedRequest":
        return cls(**{c.key: getattr(row, c.key) for c in MergedRequestRow.__table__.columns})


def merge_hash(req: IntakeRequest, parent_order_no: str) -> str:
    """What a retried merge must repeat to get the same request back: the body and the parent
    (the same request merged into another order is another merge)."""
    return hashlib.sha256(f"{parent_order_no}\n{req.model_dump_json()}".encode()).hexdigest()


def _actor(by: str) -> str:
    if not by or not by.strip() or len(by) > 64:
        raise MergeError("by must name who acts (1-64 characters)")
    return by


def _check_parent(s, parent_order_no: str) -> None:
    """The parent must be an order the read model knows (its first step recorded) and not closed."""
    found = s.execute(select(OrderRow.stage, OrderRow.state).where(OrderRow.order_no == parent_order_no)).first()
    if found is None or not found.state:
        merged = s.scalar(select(MergedRequestRow.parent_order_no)
                          .where(MergedRequestRow.request_no == parent_order_no))
        if merged is not None:
            raise MergeError(f"{parent_order_no} is a request merged into order {merged}, not an order; "
                             f"merge into {merged} instead")
        raise MergeError(f"no order {parent_order_no} is recorded; a request can only be merged into an "
                         "existing open order")
    if found.stage == Stage.closed.value:
        raise MergeError(f"order {parent_order_no} is closed; a request about it again needs an order of its own")


def reserve_request(db: Database, req: IntakeRequest, parent_order_no: str, by: str, idempotency_key: str | None,
                    now: datetime | None = None) -> tuple[str, bool]:
    """Records `req` as a request merged into `parent_order_no` and returns (request_no, created).

    The number comes from the orders' daily series. As for `hotline.store.order_numbers.reserve_order`: with a
    known (scoped) key and the same body and parent, the earlier request and created=False (even
    if the parent has closed since: the retry gets its number back); with another body or parent,
    or a key already used for an order, IdempotencyConflict. MergeError when the parent is not a
    recorded order or is closed. Nothing is written when it raises."""
    now = now or datetime.now(timezone.utc)
    _actor(by)
    digest = merge_hash(req, parent_order_no) if idempotency_key else None
    for _ in range(5):
        try:
            with db.writer() as s:  # one writer per process: numbers are taken in turn
                if idempotency_key:
                    found = s.execute(select(MergedRequestRow.request_no, MergedRequestRow.idempotency_hash)
                                      .where(MergedRequestRow.idempotency_key == idempotency_key)).first()
                    if found:
                        if found.idempotency_hash not in (None, digest):
                            raise IdempotencyConflict(
                                f"Idempotency-Key already used for request {found.request_no} with another request "
                                "body or order; use a new key for a new request")
                        return found.request_no, False
                    # one key, one outcome: a key that made an order does not also make a merged request
                    order_no = s.scalar(select(OrderRow.order_no).where(OrderRow.idempotency_key == idempotency_key))
                    if order_no is not None:
                        raise IdempotencyConflict(f"Idempotency-Key already used for order {order_no}; "
                                                  "use a new key for a new request")
                _check_parent(s, parent_order_no)
                request_no = _next_number(s, now)
                s.add(MergedRequestRow(
                    request_no=request_no, parent_order_no=parent_order_no, intake=req.model_dump(mode="json"),
                    petitioner_name=req.petitioner.name, petitioner_phone=req.petitioner.phone,
                    channel=req.channel.value, district=req.location.district, title=req.title,
                    created_at=now, merged_at=now, merged_by=by,
                    idempotency_key=idempotency_key, idempotency_hash=digest,
                ))
            return request_no, True
        except IntegrityError:
            continue  # a concurrent intake took the number or the key; look again
    raise RuntimeError("could not reserve a request number")


def discard_request(db: Database, request_no: str) -> bool:
    """Forgets a request just recorded whose order refused the merge (replied or closed in
    between), so a refused merge leaves nothing behind; its number stays used (a gap in the day's
    series, as after a failed intake). True if it was there. An unmerged request has an order of
    its own and is never discarded."""
    with db.session() as s:
        result = s.execute(delete(MergedRequestRow).where(MergedRequestRow.request_no == request_no,
                                                          MergedRequestRow.unmerged_at.is_(None)))
        # a DELETE's result is a CursorResult (it has rowcount); Session.execute is typed as returning Result
        return bool(cast(CursorResult[Any], result).rowcount)


def get_request(db: Database, request_no: str) -> MergedRequest | None:
    with db.session() as s:
        row = s.get(MergedRequestRow, request_no)
        return MergedRequest.of(row) if row is not None else None


def requests_of(db: Database, parent_order_no: str, include_unmerged: bool = False) -> list[MergedRequest]:
    """The requests merged into an order, oldest first; unmerged ones only when asked for."""
    q = select(MergedRequestRow).where(MergedRequestRow.parent_order_no == parent_order_no)
    if not include_unmerged:
        q = q.where(MergedRequestRow.unmerged_at.is_(None))
    with db.session() as s:
        return [MergedRequest.of(r) for r in s.scalars(q.order_by(MergedRequestRow.merged_at,
                                                                   MergedRequestRow.request_no))]


def mark_unmerged(db: Database, request_no: str, by: str, reason: str, owner: str,
                  now: datetime | None = None) -> IntakeRequest:
    """Undoes a wrong merge in the store and returns the request's intake, for the gateway to start
    the independent order (workflow `order-<request_no>`) with.

    Marks the request unmerged (when, by whom, why) and, in the same transaction, reserves its
    number as an order the way `reserve_order` writes a fresh orders row (stage intake, `owner`,
    no state yet), so the progress lookup answers for it as soon as its order records its first
    step. Idempotent: once unmerged, a call returns the same intake and writes nothing, whether
    or not the order has started since (the caller starts it if it has not). MergeError for a
    number that is not a merged request, or an empty actor or reason. Telling the parent's
    workflow (its `unmerge` update) is the caller's."""
    now = now or datetime.now(timezone.utc)
    _actor(by)
    if not reason or not reason.strip() or len(reason) > 2000:
        raise MergeError("an unmerge needs a reason (1-2000 characters)")
    if not owner or len(owner) > 16:
        raise MergeError("owner must be a unit code")
    for _ in range(5):
        try:
            with db.writer() as s:  # one writer per process: numbers are taken in turn
                row = s.get(MergedRequestRow, request_no, with_for_update=True)
                if row is None:
                    raise MergeError(f"{request_no} is not a merged request")
                req = IntakeRequest.model_validate(row.intake)
                if row.unmerged_at is not None:
                    return req
                row.unmerged_at, row.unmerged_by, row.unmerge_reason = now, by, reason
                if s.get(OrderRow, request_no) is None:
                    s.add(OrderRow(
                        order_no=request_no, workflow_id=order_workflow_id(request_no), idempotency_key=None,
                        idempotency_hash=None,
                        stage=Stage.intake.value, owner=owner, category=req.category.value,
                        urgency=req.urgency.value, channel=req.channel.value, title=req.title,
                        district=req.location.district, petitioner_name=req.petitioner.name,
                        petitioner_phone=req.petitioner.phone, created_at=now, updated_at=now, state={},
                    ))
            return req
        except IntegrityError:
            continue  # a concurrent unmerge wrote the order first; look again
    raise RuntimeError(f"could not unmerge {request_no}")
