"""One simulated work order, taken through the order rules at the times it is told.

`SimulatedOrder` runs exactly the rules the workflow runs (hotline/domain/order_rules): the
same checks, state changes, steps, notices and strikes. It carries their effects out without
Temporal: a step goes to a sink (sinks.py: through the store activity's own code, or the same
rows in bulk), a deadline comes from a clock (clock.py), a timer is an entry that fires, with
its generation, when the scenario's next action comes after it, unless its wait became moot.
Strikes are kept, then go through the ladder's own `apply_strike` in time order
(`replay_ledger`).

Simulated facts are marked so they never collide with real ones: order numbers are
SY<yyyymmdd>9xxxxx (a real day's counter never gets near 900000), ledger keys start with
"sim:", and ledger events send no documents (nothing is written to the outbox).
`hotline.simulation.scenario` decides what happens to each order; this module only runs it.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Callable

from hotline.domain import order_rules as rules
from hotline.domain.codes import order_workflow_id
from hotline.domain.contracts import DeadlineValue, ReturnRecommendation, Strike
from hotline.domain.models import (
    Action,
    CallbackAction,
    Category,
    Channel,
    ContactAction,
    ExtensionRequestAction,
    ExtensionReviewAction,
    IntakeRequest,
    Location,
    OrderState,
    Petitioner,
    ReplyAction,
    ReturnRequestAction,
    ReturnReviewAction,
    ReviewDecision,
    SignAction,
    Stage,
    Urgency,
)
from hotline.domain.policy import Duration, Policy, load_policy
from hotline.domain.supervision import Ledger, apply_strike, local_year
from hotline.domain.workcal import calendar_for
from hotline.simulation.clock import CalendarClock

SIM_BASE = 900000
REVIEWER = "admin:sim"  # the hotline office, as simulated


def is_simulated(order_no: str) -> bool:
    return len(order_no) == 16 and order_no[10:].isdigit() and int(order_no[10:]) >= SIM_BASE


class Cut(Exception):
    """The next step of this order would happen after the end of the simulated history."""


class SimulatedOrder:
    """One order through the rules; timers fire on the way, as the workflow's would."""

    def __init__(self, sink, policy: Policy, st: OrderState, until: datetime, clock=None) -> None:
        self.sink, self.policy, self.st, self.until = sink, policy, st, until
        self.clock = clock or CalendarClock(calendar_for(policy))
        self.now = st.created_at
        self.c = rules.OrderContext(st, policy, lambda: self.now)
        self.last_at = st.created_at
        # timer → (when, generation, moot, follow-up, its arguments), in the order armed
        self.timers: dict[str, tuple[datetime, int, Callable[[], bool], str, tuple]] = {}
        self.generations: dict[str, int] = {}
        self.strikes: list[Strike] = []
        self.fired: list[tuple[str, int]] = []  # (timer, generation) of each follow-up run
        self._limits: dict[str, Duration] = {}
        self.recommendation: ReturnRecommendation | None = None  # what the next return request is told

    @property
    def seq(self) -> int:
        return self.c.seq

    # -- carrying out the rules' effects
    def _run(self, rule: rules.Rule) -> Any:
        result: Any = None
        while True:
            try:
                fx = rule.send(result)
            except StopIteration as stop:
                value = stop.value
                break
            result = self._effect(fx)
        self.sink.action_done(self.st)  # as the workflow writes an action when it lets go of the order
        # a wait whose condition now holds is over, as the workflow's wait_condition would be
        for name in [n for n, timer in self.timers.items() if timer[2]()]:
            del self.timers[name]
        return value

    def _effect(self, fx: rules.Effect) -> Any:
        if isinstance(fx, rules.Step):
            rec = fx.record
            self.sink.step(self.st, rec.seq, rec.action, rec.by, rec.at, rec.detail)
            self.last_at = rec.at
        elif isinstance(fx, rules.Arm):
            self.timers.pop(fx.timer, None)  # armed again: it waits behind those armed before
            gen = self.generations[fx.timer] = self.generations.get(fx.timer, 0) + 1
            self.timers[fx.timer] = (fx.at, gen, fx.done, fx.follow_up, fx.args)
        elif isinstance(fx, rules.Disarm):
            if fx.every:
                self.timers.clear()
            for name in fx.timers:
                self.timers.pop(name, None)
        elif isinstance(fx, rules.Deadlines):
            return self._deadlines(fx)
        elif isinstance(fx, rules.SendStrike):
            self.strikes.append(fx.strike)
        elif isinstance(fx, rules.Recommend):
            if self.recommendation is None:
                raise ValueError("a simulated return request needs the recommendation it gets")
            return self.recommendation
        elif isinstance(fx, rules.Refer):
            raise ValueError("staff referrals are not simulated")
        # Notify: the notice is in the order's state; simulated history sends nothing. Publish: no engine.
        return None

    def _deadlines(self, fx: rules.Deadlines) -> dict[str, DeadlineValue]:
        out: dict[str, DeadlineValue] = {}
        for item in fx.items:
            limit = self._limits.get(item.limit) or self._limits.setdefault(item.limit, Duration.parse(item.limit))
            start, guessed = item.start, False
            if item.after is not None:  # a link of a chain: from where the previous link ends
                start, guessed = out[item.after].at, out[item.after].provisional
            at, provisional = self.clock.fraction(start, limit, item.fraction or 1.0)
            out[item.name] = rules.fast_model(DeadlineValue, at=at, provisional=provisional or guessed)
        return out

    # -- time
    def advance(self, at: datetime) -> None:
        """Fire every timer due strictly before `at` (and before the end), earliest first."""
        at = min(at, self.until)
        while self.timers:
            name, (when, gen, moot, follow_up, args) = min(self.timers.items(), key=lambda kv: kv[1][0])
            if when >= at:
                return
            del self.timers[name]
            if moot():
                continue
            self.now = when.astimezone(UTC)  # a follow-up happens at its deadline, as the workflow dates it
            self.fired.append((name, gen))
            self._run(rules.FOLLOW_UPS[follow_up](self.c, gen, *args))

    def at(self, t: datetime) -> datetime:
        self.advance(t)
        if t >= self.until:
            raise Cut
        self.now = t
        return t

    def finish(self) -> None:
        self.advance(self.until)
        self.sink.end_order(self.st, self.seq, self.last_at)

    # -- actions, as the departments and the hotline office take them
    def act(self, t: datetime, action: str, a: Action) -> None:
        """One action at time t: checked as the workflow's validator checks it, then the rule."""
        self.at(t)
        check, rule = rules.ACTIONS[action]
        check(self.c, a)
        self._run(rule(self.c, a))

    def intake(self, t: datetime, reason: str = "routing") -> None:
        self.at(t)
        self._run(rules.intake(self.c, reason))

    def sign(self, t: datetime) -> None:
        self.act(t, "sign", SignAction(by=self.st.owner))

    def contact(self, t: datetime, note: str) -> None:
        self.act(t, "contact", ContactAction(by=self.st.owner, note=note))

    def extension(self, t: datetime, days: int, reason: str, review_at: datetime, approve: bool) -> None:
        self.act(t, "extension-request", ExtensionRequestAction(by=self.st.owner, days=days, reason=reason))
        self.act(review_at, "extension-review", ExtensionReviewAction(
            by=REVIEWER, decision=ReviewDecision.approve if approve else ReviewDecision.reject, reason="延期审核"))

    def return_request(self, t: datetime, claimed: str, reason: str, basis: str, recommend: str) -> None:
        self.recommendation = ReturnRecommendation(decision=recommend, reason="权责清单比对", evidence={})
        self.act(t, "return-request", ReturnRequestAction(by=self.st.owner, reason=reason, claimed_unit=claimed,
                                                          basis=basis))

    def return_review(self, t: datetime, approve: bool, reason: str) -> None:
        self.act(t, "return-review", ReturnReviewAction(
            by=REVIEWER, decision=ReviewDecision.approve if approve else ReviewDecision.reject, reason=reason))

    def reply(self, t: datetime, resolved: bool, result: str) -> None:
        self.act(t, "reply", ReplyAction(by=self.st.owner, resolved=resolved, result=result))

    def callback_unanswered(self, t: datetime) -> None:
        self.act(t, "callback", CallbackAction(by=REVIEWER, answered=False))

    def callback(self, t: datetime, resolved: bool, satisfaction: str) -> None:
        self.act(t, "callback", CallbackAction(by=REVIEWER, answered=True, resolved=resolved,
                                               satisfaction=satisfaction))

    @property
    def stage(self) -> Stage:
        return self.st.stage


def new_order(order_no: str, created: datetime, owner: str, category: str, urgency: str, title: str,
              description: str, district: str | None, name: str, phone: str, channel: str = "phone",
              policy: Policy | None = None) -> OrderState:
    """An order as the workflow receives it (the rules' own `new_order_state`)."""
    policy = policy or load_policy("sanya")
    req = IntakeRequest(channel=Channel(channel), category=Category(category), urgency=Urgency(urgency), title=title,
                        description=description, petitioner=Petitioner(name=name, phone=phone),
                        location=Location(district=district))
    return rules.new_order_state(order_no, order_workflow_id(order_no), req, owner, created, policy)


def replay_ledger(strikes: list[Strike], policy: Policy, sink) -> dict[str, int]:
    """Strikes in time order through the ladder, one ledger per unit and year, as the
    supervision workflows would; each fact keyed "sim:…" and sent to nobody."""
    ledgers: dict[tuple[str, int], Ledger] = {}
    counts: dict[str, int] = {}
    for strike in sorted(strikes, key=lambda x: (x.at, x.key)):
        year = local_year(strike.at, policy.timezone)
        ledger = ledgers.setdefault((strike.unit, year), Ledger(unit=strike.unit, year=year))
        for ev in apply_strike(ledger, strike, policy, strike.at):
            sink.ledger(ev.model_copy(update={"key": f"sim:{ev.key}", "send_to": []}))
            counts[ev.kind] = counts.get(ev.kind, 0) + 1
    return counts
