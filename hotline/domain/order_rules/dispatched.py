"""An order as intake leaves it, known before its workflow runs.

Intake's answer (the number, the owner, the deadlines read back to the caller) is what the
intake rule makes of the order: the same rule, driven here with the deadlines computed by the
gateway, gives the state the workflow will reach when it runs that rule at the same instant
with the same deadlines (they travel in the workflow's input). Nothing else the rule yields
(steps to write, notices, timers) happens here: the workflow does it, after the answer.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from hotline.domain.contracts import DeadlineItem, DeadlineResult, DeadlineValue
from hotline.domain.models import IntakeRequest, OrderState
from hotline.domain.order_rules.effects import Deadlines, OrderContext
from hotline.domain.order_rules.handling import intake, new_order_state
from hotline.domain.policy import Policy


def dispatched_order(order_no: str, workflow_id: str, req: IntakeRequest, owner: str, owner_reason: str,
                     routing: list[dict], created_at: datetime, policy: Policy,
                     compute: Callable[[list[DeadlineItem]], dict[str, DeadlineValue]],
                     ) -> tuple[OrderState, DeadlineResult]:
    """(the order after intake at `created_at`, the deadlines it was given). `compute` is the
    calendar's answer for a list of deadline items; intake asks it once."""
    c, given = dispatched_context(order_no, workflow_id, req, owner, owner_reason, routing, created_at, policy, compute)
    return c.s, given


def dispatched_context(order_no: str, workflow_id: str, req: IntakeRequest, owner: str, owner_reason: str,
                       routing: list[dict], created_at: datetime, policy: Policy,
                       compute: Callable[[list[DeadlineItem]], dict[str, DeadlineValue]],
                       ) -> tuple[OrderContext, DeadlineResult]:
    """As `dispatched_order`, with what the rules remember of the order (its context)."""
    s = new_order_state(order_no, workflow_id, req, owner, created_at, policy, routing)
    c = OrderContext(s, policy, lambda: created_at)
    rule = intake(c, owner_reason)
    given: dict[str, DeadlineValue] = {}
    answer = None
    while True:
        try:
            fx = rule.send(answer)
        except StopIteration:
            return c, DeadlineResult(values=given)
        answer = None
        if isinstance(fx, Deadlines):
            if given:
                raise AssertionError("intake computes its deadlines once; the workflow's input carries one set")
            given = answer = compute(fx.items)
