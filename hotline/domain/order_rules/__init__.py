"""The work order's rules, written once: every action and every deadline's follow-up.

`ACTIONS[name]` is (check, rule): the check refuses an action without changing anything; the
rule changes the state and yields the effects (effects.py) in the order they must happen.
`FOLLOW_UPS[name]` is what runs when a deadline passes with its wait not moot (basics.TIMERS
says which deadline arms which). The workflow (workflows/) and the simulator
(hotline/simulation/) both run these, and differ only in how they carry the effects out;
tests/domain/test_rules_differential.py holds them to the same steps, notices and rows.
"""
from __future__ import annotations

from typing import Callable

from hotline.domain.order_rules import checks, closing, handling, merging, requests
from hotline.domain.order_rules.basics import TIMERS, arm, fast_model
from hotline.domain.order_rules.dispatched import dispatched_context, dispatched_order
from hotline.domain.order_rules.effects import (
    Arm,
    Deadlines,
    Disarm,
    Effect,
    Notify,
    OrderContext,
    OrderMemory,
    Publish,
    Recommend,
    Refer,
    Rule,
    RuleRefused,
    SendStrike,
    Step,
)
from hotline.domain.order_rules.handling import intake, new_order_state
from hotline.domain.order_rules.merging import MAX_CO_PETITIONERS, phone_of

ACTIONS: dict[str, tuple[Callable, Callable[..., Rule]]] = {
    "sign": (checks.plain("sign"), handling.sign),
    "contact": (checks.plain("contact"), handling.contact),
    "coordination-plan": (checks.coordination_plan, handling.coordination_plan),
    "co-handler-done": (checks.co_handler_done, handling.co_handler_done),
    "extension-request": (checks.extension_request, requests.extension_request),
    "extension-review": (checks.extension_review, requests.extension_review),
    "return-request": (checks.return_request, requests.return_request),
    "return-review": (checks.return_review, requests.return_review),
    "reply": (checks.reply, closing.reply),
    "callback": (checks.callback, closing.callback),
    "flag-staff": (checks.plain("flag-staff"), requests.flag_staff),
    "merge": (checks.merge, merging.merge),
    "unmerge": (checks.unmerge, merging.unmerge),
}

FOLLOW_UPS: dict[str, Callable[..., Rule]] = {
    "sign_missed": handling.sign_missed,
    "remind": handling.remind,
    "supervise": handling.supervise,
    "escalate": handling.escalate,
    "contact_missed": handling.contact_missed,
    "coordination_closed": handling.coordination_closed,
    "co_missed": handling.co_missed,
    "callback_late": closing.callback_late,
    "unrated": closing.unrated,
}

__all__ = [
    "ACTIONS", "FOLLOW_UPS", "TIMERS", "MAX_CO_PETITIONERS", "Arm", "Deadlines", "Disarm", "Effect", "Notify",
    "OrderContext", "OrderMemory", "Publish", "Recommend", "Refer", "Rule", "RuleRefused", "SendStrike", "Step",
    "arm", "checks", "dispatched_context", "dispatched_order", "fast_model", "intake", "new_order_state", "phone_of",
]
