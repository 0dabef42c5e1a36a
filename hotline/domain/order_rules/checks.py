"""Whether an order takes an action as it stands: the transition table, the actor, the deadlines.

Each check raises `RuleRefused` and changes nothing. The workflow runs them as its updates'
validators (a refused action never enters the history) and once more when the action holds the
order's lock; the simulator runs them before each scripted action.
"""
from __future__ import annotations

from hotline.domain import transitions
from hotline.domain.actor import ActorError, parse_actor
from hotline.domain.models import (
    Action,
    CallbackAction,
    CoHandlerDoneAction,
    CoordinationPlanAction,
    ExtensionRequestAction,
    MergeAction,
    ReturnRequestAction,
    ReturnReviewAction,
    ReviewDecision,
    UnmergeAction,
)
from hotline.domain.order_rules.effects import OrderContext, RuleRefused
from hotline.domain.order_rules.handling import co_handler
from hotline.domain.order_rules.merging import MAX_CO_PETITIONERS


def is_admin(by: str) -> bool:
    """A named admin ("admin:<name>") or the hotline office, by the actor's kind: never by how the
    text begins ("administrator-spoof" is no actor at all)."""
    try:
        return parse_actor(by).is_admin
    except ActorError:
        return False


def allowed(c: OrderContext, action: str, by: str) -> None:
    """The transition table (stage) and who may act (owner, co-handler, the hotline office)."""
    s = c.s
    try:
        t = transitions.check(action, s.stage)
    except transitions.TransitionError as exc:
        raise RuleRefused(str(exc)) from None
    try:  # typed: a unit acts as owner or co-handler, an admin only as the hotline office
        unit = parse_actor(by).unit
    except ActorError as exc:
        raise RuleRefused(str(exc), "Forbidden") from None
    if t.actor == "owner" and unit != s.owner:
        raise RuleRefused(f"only the owner {s.owner} may {action} order {s.order_no}; {by} may not", "Forbidden")
    if t.actor == "admin" and not is_admin(by):
        raise RuleRefused(f"only the hotline office may {action}; {by} may not", "Forbidden")
    if t.actor == "co_handler" and unit not in {x.unit for x in s.co_handlers}:
        raise RuleRefused(f"{by} is not a co-handler of order {s.order_no}", "Forbidden")


def plain(action: str):
    """A check that is the table's and the actor's only."""
    def check(c: OrderContext, a: Action) -> None:
        allowed(c, action, a.by)
    return check


def coordination_plan(c: OrderContext, a: CoordinationPlanAction) -> None:
    allowed(c, "coordination-plan", a.by)
    s, now = c.s, c.now()
    if s.co_handlers:
        raise RuleRefused(f"order {s.order_no} already has a coordination plan")
    if not c.m.coordination_open or (s.deadlines.coordinate_by and now > s.deadlines.coordinate_by):
        due = s.deadlines.coordinate_by
        assert due is not None, "a signed order has its coordination deadline (set at signing)"
        raise RuleRefused(f"the coordination plan was due by {due.isoformat()} "
                          "(12h after signing); coordinate directly and reply as owner")
    units = [x.unit for x in a.co_handlers]
    if len(set(units)) != len(units):
        raise RuleRefused("each co-handler may appear once in the plan")
    for x in a.co_handlers:
        if x.unit in (s.owner, "HOTLINE"):
            raise RuleRefused(f"{x.unit} cannot be a co-handler of this order")
        if x.due <= now:
            raise RuleRefused(f"the promised completion time for {x.unit} is already past")


def co_handler_done(c: OrderContext, a: CoHandlerDoneAction) -> None:
    allowed(c, "co-handler-done", a.by)
    if co_handler(c, a.by).done:
        raise RuleRefused(f"{a.by} already reported its task done")


def extension_request(c: OrderContext, a: ExtensionRequestAction) -> None:
    allowed(c, "extension-request", a.by)
    s, cap = c.s, c.policy.max_extension_days
    if s.pending is not None:
        raise RuleRefused(f"a {s.pending.kind} request is already waiting for review")
    if s.deadlines.reply_by and c.now() >= s.deadlines.reply_by:
        raise RuleRefused("an extension must be requested before the handling deadline")
    if s.extension_days + a.days > cap:
        raise RuleRefused(f"extension of {a.days}wd would exceed the {cap}wd allowed per order "
                          f"({s.extension_days}wd already granted)")


def extension_review(c: OrderContext, a: Action) -> None:
    allowed(c, "extension-review", a.by)
    if c.s.pending is None or c.s.pending.kind != "extension":
        raise RuleRefused("no extension request is waiting for review")


def return_request(c: OrderContext, a: ReturnRequestAction) -> None:
    allowed(c, "return-request", a.by)
    s = c.s
    if s.pending is not None:
        raise RuleRefused(f"a {s.pending.kind} request is already waiting for review")
    if s.deadlines.return_until and c.now() > s.deadlines.return_until:
        raise RuleRefused(f"the return window closed at {s.deadlines.return_until.isoformat()}; "
                          "under first-contact responsibility the owner keeps the order")
    if a.claimed_unit in (s.owner, "HOTLINE"):
        raise RuleRefused(f"{a.claimed_unit} cannot be the unit claimed responsible")


def return_review(c: OrderContext, a: ReturnReviewAction) -> None:
    allowed(c, "return-review", a.by)
    if c.s.pending is None or c.s.pending.kind != "return":
        raise RuleRefused("no return request is waiting for review")
    if a.decision == ReviewDecision.approve and a.new_owner in (c.s.owner, "HOTLINE"):
        raise RuleRefused(f"{a.new_owner} cannot become the new owner")


def reply(c: OrderContext, a: Action) -> None:
    allowed(c, "reply", a.by)
    if c.s.pending is not None:
        raise RuleRefused(f"a {c.s.pending.kind} request is waiting for review")


def callback(c: OrderContext, a: CallbackAction) -> None:
    allowed(c, "callback", a.by)
    if a.answered and (a.resolved is None or a.satisfaction is None):
        raise RuleRefused("an answered callback needs resolved and satisfaction")
    s = c.s
    if a.request_no is None:
        if s.co_petitioners and c.m.own_answer is not None:
            raise RuleRefused(f"the petitioner of {s.order_no} has already answered the callback")
        return
    co = next((x for x in s.co_petitioners if x.request_no == a.request_no), None)
    if co is None:
        raise RuleRefused(f"request {a.request_no} is not merged into order {s.order_no}")
    if co.callback is not None and co.callback.answered:
        raise RuleRefused(f"the petitioner of {a.request_no} has already answered the callback")


def merge(c: OrderContext, a: MergeAction) -> None:
    allowed(c, "merge", a.by)
    s = c.s
    if a.request_no == s.order_no or any(x.request_no == a.request_no for x in s.co_petitioners):
        raise RuleRefused(f"request {a.request_no} is already part of order {s.order_no}")
    if len(s.co_petitioners) >= MAX_CO_PETITIONERS:
        raise RuleRefused(f"order {s.order_no} already has {MAX_CO_PETITIONERS} merged requests")


def unmerge(c: OrderContext, a: UnmergeAction) -> None:
    allowed(c, "unmerge", a.by)
    if not any(x.request_no == a.request_no for x in c.s.co_petitioners):
        raise RuleRefused(f"request {a.request_no} is not merged into order {c.s.order_no}")
