"""Requests that wait for the hotline office: extension (延期) and return (退单), and the staff
referral. A rejected return is an invalid return (无效退单): the requester is struck."""
from __future__ import annotations

from hotline.domain.contracts import DeadlineItem, ReturnRecommendation, ReturnRecommendationRequest, StaffFlag
from hotline.domain.models import (
    ExtensionRequestAction,
    ExtensionReviewAction,
    FlagStaffAction,
    PendingRequest,
    ReturnRequestAction,
    ReturnReviewAction,
    ReviewDecision,
    Stage,
)
from hotline.domain.order_rules.basics import arm_handling, deadlines, disarm_all, notify, step, strike
from hotline.domain.order_rules.effects import OrderContext, Recommend, Refer, Rule
from hotline.domain.order_rules.handling import dispatch
from hotline.domain.order_rules.kinds import NoticeKind, StepKind


def extension_request(c: OrderContext, a: ExtensionRequestAction) -> Rule:
    s = c.s
    s.pending = PendingRequest(kind="extension", by=a.by, at=c.now(), payload=a.model_dump(mode="json"))
    yield from step(c, StepKind.EXTENSION_REQUEST, a.by, {"days": a.days, "reason": a.reason})
    yield from notify(c, NoticeKind.EXTENSION_REQUEST, "HOTLINE", f"{a.by} asks {a.days}wd more on {s.order_no}",
                      f"ext{c.seq}", reason=a.reason)


def extension_review(c: OrderContext, a: ExtensionReviewAction) -> Rule:
    s, p = c.s, c.policy
    req, s.pending = s.pending, None
    assert req is not None, "checks.extension_review: an extension request is pending"
    days = int(req.payload["days"])
    if a.decision == ReviewDecision.approve:
        s.extension_days += days
        old = s.deadlines.reply_by
        ext = str(p.extension_for(days))
        base = list(c.m.recipes.get("reply_by", []))  # the chain before this extension
        d = yield from deadlines(c, [
            DeadlineItem(name="reply_by", start=old, limit=ext),
            DeadlineItem(name="remind_at", start=old, limit=ext, fraction=p.reminder_fraction),
        ], f"handling deadline extended by {days}wd")
        s.deadlines.reply_by, s.deadlines.remind_at = d["reply_by"], d["remind_at"]
        if base:  # the extended deadline is the old one's chain plus this link (calendar changes)
            c.m.recipes["reply_by"] = base + [DeadlineItem(name="reply_by", start=old, limit=ext)]
            c.m.recipes["remind_at"] = base + [DeadlineItem(name="remind_at", start=old, limit=ext,
                                                            fraction=p.reminder_fraction)]
        yield from arm_handling(c, d["remind_at"], d["reply_by"])
    reply_by = s.deadlines.reply_by
    assert reply_by is not None, "an order under handling has its handling deadline (set at dispatch)"
    yield from step(c, StepKind.EXTENSION_REVIEW, a.by, {"decision": a.decision.value, "reason": a.reason,
                                                         "days": days, "reply_by": reply_by.isoformat()})
    yield from notify(c, NoticeKind.EXTENSION_REVIEW, s.owner, f"extension {a.decision.value}d: {a.reason}",
                      f"extrev{c.seq}", reply_by=reply_by.isoformat())


def return_request(c: OrderContext, a: ReturnRequestAction) -> Rule:
    s = c.s
    c.m.before_return = s.stage
    s.stage, s.return_count = Stage.return_review, s.return_count + 1
    s.pending = pending = PendingRequest(kind="return", by=a.by, at=c.now(), payload=a.model_dump(mode="json"))
    rec: ReturnRecommendation = yield Recommend(ReturnRecommendationRequest(
        order_no=s.order_no, requesting_unit=a.by, claimed_unit=a.claimed_unit,
        text=f"{s.title} {s.description}", category=s.category.value, district=s.location.district,
    ), f"recommendation on {a.by}'s return request")
    pending.payload["recommendation"] = rec.model_dump(mode="json")
    yield from step(c, StepKind.RETURN_REQUEST, a.by, {"reason": a.reason, "claimed_unit": a.claimed_unit,
                                                "basis": a.basis, "recommendation": rec.model_dump(mode="json")})
    yield from notify(c, NoticeKind.RETURN_REQUEST, "HOTLINE", f"{a.by} asks to return {s.order_no} to "
                      f"{a.claimed_unit}; recommendation: {rec.decision}", f"ret{c.seq}")


def return_review(c: OrderContext, a: ReturnReviewAction) -> Rule:
    """Approved: released, the order goes to the unit responsible (the only way the owner changes).
    Rejected: back where it was, and the requester is struck for an invalid return."""
    s = c.s
    req, s.pending = s.pending, None
    assert req is not None, "checks.return_review: a return request is pending"
    requester = req.by
    if a.decision == ReviewDecision.approve:
        new_owner = a.new_owner or req.payload["claimed_unit"]
        s.previous_owners.append(s.owner)
        s.owner = new_owner
        yield from disarm_all()
        yield from step(c, StepKind.RETURN_REVIEW, a.by, {"decision": "approve", "reason": a.reason,
                                                   "new_owner": new_owner, "released": requester})
        yield from notify(c, NoticeKind.RETURN_APPROVED, requester, f"return of {s.order_no} approved; released",
                          f"retrev{c.seq}")
        yield from dispatch(c, StepKind.REDISPATCH, {"reason": "return approved", "from": requester})
    else:
        s.stage = c.m.before_return or Stage.dispatched
        yield from step(c, StepKind.RETURN_REVIEW, a.by, {"decision": "reject", "reason": a.reason})
        yield from notify(c, NoticeKind.RETURN_REJECTED, requester,
                          f"return of {s.order_no} rejected (无效退单): {a.reason}", f"retrev{c.seq}")
        yield from strike(c, "invalid_return", requester, f"return{c.seq}", a.reason)


def flag_staff(c: OrderContext, a: FlagStaffAction) -> Rule:
    """A staff discipline referral, with the order's record as evidence; the step stands first."""
    s = c.s
    yield from step(c, StepKind.FLAG_STAFF, a.by, {"staff": a.staff, "reason": a.reason})
    yield Refer(StaffFlag(
        key=f"{s.order_no}:staff:{a.staff}:{c.seq}", unit=s.owner, staff=a.staff, order_no=s.order_no,
        at=c.now(), reason=a.reason, flagged_by=a.by,
        evidence={"actions": [x.model_dump(mode="json") for x in s.actions],
                  "notices": [n.model_dump(mode="json") for n in s.notices]},
    ))
