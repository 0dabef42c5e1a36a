"""Learning from corrections (issue 19): record them, retrain, promote only if not worse.

Corrections are labelled examples in `routing_examples`: an operator's override at intake (the
owner given differs from the suggestion), an approved return (the unit the order went to was
right) and a rejected return (the owner was right). Only the request text with names and phone
numbers masked (hotline/domain/masking.py) is kept, with category, district and the right unit.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from hotline.domain.masking import mask_text
from hotline.domain.routing.model import RoutingModel, corpus_rows, train
from hotline.domain.routing.results import RoutingResult
from hotline.domain.routing.router import Router
from hotline.store import Database
from hotline.store.routing_models import ModelStore, make_router
from hotline.store.tables import (
    ActionRow,
    OrderRow,
    ReturnRequestRow,
    RoutingExampleRow,
    RoutingSuggestionRow,
)

CORRECTION_WEIGHT = 6.0  # a correction is a real call the hotline got wrong: it counts more
EVAL_SHARE = 5  # one correction in five (by a hash of its origin) is held out for the gate


def _now() -> datetime:
    return datetime.now(timezone.utc)


def add_example(db: Database, source: str, ref: str, text: str, unit: str, category: str | None,
                district: str | None, suggested: str | None = None, *, masked: bool = False) -> bool:
    """Record one labelled example once per (source, ref); False if it was already there."""
    text = text if masked else (mask_text(text) or "")
    with db.session() as s:
        exists = s.scalars(select(RoutingExampleRow.id).where(
            RoutingExampleRow.source == source, RoutingExampleRow.ref == ref)).first()
        if exists is not None:
            return False
        s.add(RoutingExampleRow(source=source, ref=ref, text=text, category=category,
                                district=district, unit_code=unit, suggested=suggested,
                                created_at=_now()))
        s.commit()
    return True


def record_intake(db: Database, order_no: str, req, result: RoutingResult, owner: str) -> None:
    """At intake: the suggestion with its model version; an override is a correction."""
    suggested = result.candidates[0].unit if result.candidates else None
    with db.session() as s:
        if s.get(RoutingSuggestionRow, order_no) is None:
            s.add(RoutingSuggestionRow(order_no=order_no, model_version=result.model_version,
                                       suggested=suggested, decision=result.decision, owner=owner,
                                       created_at=_now()))
            s.commit()
    if req.owner is not None and suggested is not None and req.owner != suggested:
        name, phone = req.petitioner.name, req.petitioner.phone
        text = mask_text(f"{req.title} {req.description}", name, phone) or ""
        add_example(db, "intake_override", order_no, text, req.owner, req.category.value,
                    req.location.district, suggested, masked=True)


def harvest_returns(db: Database) -> int:
    """Reviewed returns as corrections: approved, the new owner was right; rejected, the
    requesting owner was right. Read from the read model; each is recorded once."""
    added = 0
    with db.session() as s:
        reviewed = list(s.scalars(select(ReturnRequestRow).where(ReturnRequestRow.decision.is_not(None))))
        items = []
        for rr in reviewed:
            order = s.get(OrderRow, rr.order_no)
            if order is None:
                continue
            st = order.state or {}
            text = mask_text(f"{st.get('title', order.title)} {st.get('description', '')}",
                             order.petitioner_name, order.petitioner_phone) or ""
            if rr.decision == "approve":
                review = s.scalars(select(ActionRow).where(
                    ActionRow.order_no == rr.order_no, ActionRow.action == "return-review",
                    ActionRow.seq > rr.seq).order_by(ActionRow.seq)).first()
                unit = (review.detail or {}).get("new_owner") if review else None
                items.append(("return_approved", rr, text, unit or rr.claimed_unit, order))
            else:
                items.append(("return_rejected", rr, text, rr.unit_code, order))
    for source, rr, text, unit, order in items:
        added += add_example(db, source, f"{rr.order_no}#{rr.seq}", text, unit, order.category,
                             order.district, rr.unit_code, masked=True)
    return added


def corrections(db: Database) -> list[dict]:
    with db.session() as s:
        return [{"text": r.text, "category": r.category, "district": r.district,
                 "unit": r.unit_code, "source": r.source, "ref": r.ref}
                for r in s.scalars(select(RoutingExampleRow).order_by(RoutingExampleRow.id))]


def _held_back(ref: str) -> bool:
    return int(hashlib.sha256(ref.encode()).hexdigest(), 16) % EVAL_SHARE == 0


def accuracy(router: Router, rows: list[dict]) -> tuple[float, float]:
    if not rows:
        return 1.0, 1.0
    top1 = top3 = 0
    for r in rows:
        ranked = [c.unit for c in router.route(r["text"], r.get("category"), r.get("district")).candidates]
        top1 += ranked[:1] == [r["unit"]]
        top3 += r["unit"] in ranked[:3]
    return top1 / len(rows), top3 / len(rows)


class _Fixed:
    def __init__(self, model: RoutingModel | None):
        self.model = model

    def active(self) -> RoutingModel | None:
        return self.model


def retrain(db: Database, store: ModelStore, catalogue) -> dict:
    """Train on the shipped corpus plus the corrections (less a held-back fifth), compare with
    the promoted model on the held-out set plus that fifth, promote if not worse."""
    harvested = harvest_returns(db)
    fixes = corrections(db)
    gate_fixes = [r for r in fixes if _held_back(r["ref"])]
    train_fixes = [r for r in fixes if not _held_back(r["ref"])]
    rows = corpus_rows() + train_fixes
    weights = [1.0] * (len(rows) - len(train_fixes)) + [CORRECTION_WEIGHT] * len(train_fixes)
    new = train(rows, weights)
    old = store.active()
    heldout = corpus_rows("heldout.jsonl")
    report: dict[str, Any] = {"harvested": harvested, "corrections": len(fixes), "trained_on": len(rows),
              "gate_corrections": len(gate_fixes), "old": old.version if old else None,
              "new": new.version}
    for name, model in (("old", old), ("new", new)):
        router = make_router(catalogue=catalogue, models=_Fixed(model))
        report[f"{name}_heldout"] = accuracy(router, heldout)
        report[f"{name}_corrections"] = accuracy(router, gate_fixes)
    key = ("heldout", "corrections")
    new_score = sum(report[f"new_{k}"][0] for k in key)
    old_score = sum(report[f"old_{k}"][0] for k in key)
    report["promoted"] = old is None or new.version == old.version or new_score >= old_score - 1e-9
    if report["promoted"]:
        store.promote(new)
    else:
        store.save(new)  # kept for inspection, not used
    return report
