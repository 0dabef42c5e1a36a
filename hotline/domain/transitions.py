"""The allowed state changes of a work order, as one table everyone can read (SPEC §3).

An action not in the table for the order's current stage is refused by the update's
validator: it never enters the workflow history and the order stays as it was.
"""
from __future__ import annotations

from dataclasses import dataclass

from hotline.domain.models import Stage

S = Stage
WORKING = frozenset({S.signed, S.handling, S.reopened})


@dataclass(frozen=True)
class Transition:
    action: str
    from_stages: frozenset[Stage]
    to_stage: Stage | None  # None: the stage does not change
    actor: str  # owner | co_handler | admin
    note: str = ""


TABLE: dict[str, Transition] = {t.action: t for t in (
    Transition("sign", frozenset({S.dispatched}), S.signed, "owner", "签收"),
    Transition("contact", WORKING, S.handling, "owner", "先行联系"),
    Transition("coordination-plan", frozenset({S.signed, S.handling}), None, "owner",
               "联办方案, within 12h of signing"),
    Transition("co-handler-done", WORKING | {S.return_review}, None, "co_handler", "联办单位 reports to the owner"),
    Transition("extension-request", WORKING, None, "owner", "延期申请, before the deadline"),
    Transition("return-request", frozenset({S.dispatched, S.signed, S.handling}), S.return_review, "owner",
               "退单申请, within the return window"),
    Transition("reply", WORKING, S.replied, "owner", "答复; the owner, never a co-handler"),
    Transition("return-review", frozenset({S.return_review}), None, "admin",
               "approve → dispatched to the new owner; reject → back to the stage before"),
    Transition("extension-review", WORKING, None, "admin", "only while an extension request waits"),
    Transition("callback", frozenset({S.callback}), None, "admin",
               "回访 → closed, or reopened when unresolved and dissatisfied"),
    Transition("flag-staff", frozenset(set(S) - {S.intake}), None, "admin", "staff discipline referral"),
    Transition("merge", WORKING | {S.dispatched, S.return_review}, None, "admin",
               "并单: a request about the same matter joins the order, before its reply; no new deadline"),
    Transition("unmerge", frozenset(set(S) - {S.intake, S.closed}), None, "admin",
               "a wrong merge undone: the request becomes an order of its own"),
)}

# Stage changes made by the workflow itself (timers and follow-ups), for the reader's benefit.
AUTOMATIC: dict[tuple[Stage, str], Stage] = {
    (S.intake, "dispatch"): S.dispatched,
    (S.return_review, "redispatch"): S.dispatched,
    (S.replied, "callback-start"): S.callback,
    (S.callback, "reopen"): S.reopened,
    (S.callback, "close"): S.closed,
    (S.callback, "unrated"): S.closed,
}


class TransitionError(ValueError):
    pass


def check(action: str, stage: Stage) -> Transition:
    t = TABLE.get(action)
    if t is None:
        raise TransitionError(f"unknown action {action!r}; known: {', '.join(sorted(TABLE))}")
    if stage not in t.from_stages:
        allowed = ", ".join(sorted(s.value for s in t.from_stages))
        raise TransitionError(f"cannot {action} an order in stage {stage.value!r} (allowed in: {allowed})")
    return t


# Which kind of key may take each action, read from the table's actor column (models.py cannot
# hold these: this module imports it). The owner and co-handlers act with their department's key.
ADMIN_ACTIONS: frozenset[str] = frozenset(a for a, t in TABLE.items() if t.actor == "admin")
DEPARTMENT_ACTIONS: frozenset[str] = frozenset(a for a, t in TABLE.items() if t.actor in ("owner", "co_handler"))
