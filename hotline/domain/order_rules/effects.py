"""What the order rules ask for, and the context they decide in.

A rule (an action, or a deadline's follow-up) is a generator: it changes the order's state
itself and yields effects, in the order they must happen. The workflow (workflows/order_core.py)
carries each effect out as Temporal commands: activities, timers, search attributes. The
simulator (hotline/simulation/life.py) carries the same effects out at the times it is told,
writing through the same sinks. Two effects return a value into the rule: `Deadlines` (the
computed instants) and `Recommend` (the responsibility lists' recommendation).

Nothing here does I/O or reads a clock: `OrderContext.now` is the workflow's clock, or the
simulated instant.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Generator

from hotline.domain.contracts import DeadlineItem, ReturnRecommendationRequest, StaffFlag, Strike
from hotline.domain.models import ActionRecord, CallbackResult, Notice, OrderState, Stage
from hotline.domain.policy import Policy


@dataclass(slots=True)
class Step:
    """An audit step, already appended to the order's actions: write it."""
    record: ActionRecord


@dataclass(slots=True)
class Notify:
    """A notice, already appended to the order's notices: send it (its key makes it once)."""
    notice: Notice
    body: dict[str, Any]


@dataclass(slots=True)
class Deadlines:
    """Compute these deadlines on the official calendar; the rule receives {name: DeadlineValue}."""
    items: list[DeadlineItem]
    summary: str
    reload_calendar: bool = False  # a schedule was just entered: read the calendar again first


@dataclass(slots=True)
class Recommend:
    """Ask the responsibility lists whether a return request holds; the rule receives the answer."""
    request: ReturnRecommendationRequest
    summary: str


@dataclass(slots=True)
class SendStrike:
    """A refusal strike for the unit's ledger (the escalation ladder decides what it leads to)."""
    strike: Strike


@dataclass(slots=True)
class Refer:
    """A staff discipline referral leaves the order."""
    flag: StaffFlag


@dataclass(slots=True)
class Arm:
    """Wait for a deadline: unless `done` holds by `at`, run the follow-up rule named `follow_up`
    (order_rules.FOLLOW_UPS) with the timer's generation. Arming a name again replaces it."""
    timer: str
    at: datetime
    done: Callable[[], bool]
    follow_up: str
    summary: str
    args: tuple = ()


@dataclass(slots=True)
class Disarm:
    """Stop waiting for these timers (or for every timer). A follow-up already running finishes."""
    timers: tuple[str, ...] = ()
    every: bool = False


@dataclass(slots=True)
class Publish:
    """Show the state in the engine's search attributes now (orders started before the lock)."""


Effect = Step | Notify | Deadlines | Recommend | SendStrike | Refer | Arm | Disarm | Publish
Rule = Generator[Effect, Any, Any]


class RuleRefused(ValueError):
    """The order refuses the action as it stands; `kind` is InvalidAction or Forbidden. Nothing
    changed: a check raises before any rule runs."""

    def __init__(self, message: str, kind: str = "InvalidAction") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(slots=True)
class OrderMemory:
    """What the rules remember of an order beyond its state (never shown, never in the read model)."""
    before_return: Stage | None = None  # where a rejected return request goes back to
    coordination_open: bool = True  # the coordination-plan window (联办方案) has not closed
    own_answer: CallbackResult | None = None  # the order's own petitioner's callback, with co-petitioners
    recipes: dict[str, list[DeadlineItem]] = field(default_factory=dict)  # how each deadline was computed


@dataclass(slots=True)
class OrderContext:
    """One order as the rules see it: its state, its policy and memory, and the time now.

    `patched` and `serial` keep orders started by older releases on the path they began on
    (the workflow's `workflow.patched`); the simulator and new orders take the current path.
    """
    s: OrderState
    policy: Policy
    now: Callable[[], datetime]
    m: OrderMemory = field(default_factory=OrderMemory)
    serial: bool = True
    patched: Callable[[str], bool] = lambda change: True

    @property
    def seq(self) -> int:
        """The order's last step (each step appends one action)."""
        return len(self.s.actions)
