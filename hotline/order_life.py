"""Work orders replayed into the read model at given times, through the activities' own code.

`OrderLife` takes one order through the steps `WorkOrderWorkflow` takes (same order of
state changes, same step names and details, same timers: sign-for, reminder, supervision,
escalation, contact, coordination window, callback, unrated), at times it is told, and
hands every step to a sink as a `StepRecord` would be handed to the `record_step` activity.
Strikes go through the ladder's own `apply_strike` (hotline.supervision), in time order.

The sinks (`hotline.sim_sinks`) record the steps: through the activities one by one, or the
same rows in bulk, which is what makes 24 months × 50 orders a day take seconds rather than
many minutes. Deadlines come from WorkCalendar, or from `FastClock`, the same calendar
precomputed for a range of days.

Simulated facts are marked so they never collide with real ones: order numbers are
SY<yyyymmdd>9xxxxx (a real day's counter never gets near 900000), ledger keys start with
"sim:", and ledger events send no documents (nothing is written to the outbox).
`hotline.simulate` decides what happens to each order; this module only records it.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import UTC, date, datetime, timedelta

from hotline.contracts import Strike
from hotline.models import (
    ActionRecord, CallbackResult, Category, Channel, Location, Notice, OrderState, PendingRequest,
    PetitionerView, Satisfaction, Stage, Urgency,
)
from hotline.policy import Duration, Policy, load_policy
from hotline.supervision import Ledger, apply_strike, local_year
from hotline.workcal import WorkCalendar, calendar_for

SIM_BASE = 900000


def is_simulated(order_no: str) -> bool:
    return len(order_no) == 16 and order_no[10:].isdigit() and int(order_no[10:]) >= SIM_BASE


class Cut(Exception):
    """The next step of this order would happen after the end of the simulated history."""


# ---------------------------------------------------------------- sinks


def _model(cls, **values):
    """A pydantic model from values that are already valid (our own step records and notices):
    what `model_construct` does without its per-field default handling, which costs ~10 µs a
    call, times twenty calls an order."""
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


# ---------------------------------------------------------------- one order's life


class CalendarClock:
    """Deadlines straight from WorkCalendar, as the compute_deadlines activity computes them."""

    def __init__(self, cal: WorkCalendar) -> None:
        self.cal = cal

    def fraction(self, start: datetime, limit: Duration, f: float = 1.0) -> tuple[datetime, bool]:
        d = self.cal.fraction(start, limit, f)
        return d.at.astimezone(UTC), d.provisional

    def working_seconds(self, a: datetime, b: datetime) -> float:
        return self.cal.working_seconds_between(a, b)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


class FastClock:
    """`WorkCalendar.fraction` and `working_seconds_between` for a range of days, precomputed.

    The same calendar (days, working hours, provisional years) and the same rule (the earliest
    instant at which the working time has elapsed), on integer microseconds: W(t), the working
    time up to t, is piecewise linear over the day's working spans, so a deadline is one
    binary search. The tests check it against WorkCalendar instant for instant; outside its
    range it hands over to WorkCalendar itself. 60 µs → a few µs per deadline is most of what
    makes a two-year simulation take seconds.
    """

    def __init__(self, cal, first: date, last: date) -> None:
        self.cal, self.first, self.days = cal, first, (last - first).days + 1
        self.starts, self.ends, self.cum, self.cum_end = [], [], [], []
        self.unknown = [0]  # guessed (provisional) days before each day
        self.midnights = []
        self._lengths: dict[Duration, float] = {}
        total = 0
        for i in range(self.days):
            d = first + timedelta(days=i)
            self.midnights.append(_us(datetime(d.year, d.month, d.day, tzinfo=cal.tz)))
            workday, known = cal.is_workday(d)
            self.unknown.append(self.unknown[-1] + (not known))
            if workday:
                midnight = datetime(d.year, d.month, d.day, tzinfo=cal.tz)
                for a, b in cal.windows:
                    sa, sb = _us(midnight + timedelta(seconds=a)), _us(midnight + timedelta(seconds=b))
                    self.starts.append(sa)
                    self.ends.append(sb)
                    self.cum.append(total)
                    total += sb - sa
                    self.cum_end.append(total)
        self.lo, self.hi = _us(datetime(first.year, first.month, first.day, tzinfo=cal.tz)), _us(
            datetime(last.year, last.month, last.day, tzinfo=cal.tz))

    def _w(self, t: int) -> int:
        j = bisect_right(self.starts, t) - 1
        if j < 0:
            return 0
        return self.cum[j] + min(t, self.ends[j]) - self.starts[j]

    def _day(self, t: int) -> int:
        return bisect_right(self.midnights, t) - 1

    def fraction(self, start: datetime, limit: Duration, f: float = 1.0) -> tuple[datetime, bool]:
        if limit.kind == "calendar":
            return start.astimezone(UTC) + timedelta(seconds=round(limit.seconds * f)), False
        length = self._lengths.get(limit)
        if length is None:
            length = self._lengths[limit] = self.cal.working_length(limit).total_seconds()
        work = int(length if f == 1 else round(length * f)) * 1_000_000
        t0 = _us(start)
        if work > 0 and self.lo <= t0:
            w = self._w(t0) + work
            k = bisect_left(self.cum_end, w)
            if k < len(self.starts) and self.starts[k] < self.hi:
                at = self.starts[k] + w - self.cum[k]
                guessed = self.unknown[-1] and self.unknown[self._day(at) + 1] - self.unknown[self._day(t0)]
                return _EPOCH + at * _US, guessed > 0
        d = self.cal.fraction(start, limit, f)  # zero work or outside the range: the calendar itself
        return d.at.astimezone(UTC), d.provisional

    def working_seconds(self, a: datetime, b: datetime) -> float:
        ta, tb = _us(a), _us(b)
        if self.lo <= min(ta, tb) and max(ta, tb) < self.hi:
            return (self._w(tb) - self._w(ta)) / 1e6
        return self.cal.working_seconds_between(a, b)


def _us(t: datetime) -> int:
    return (t - _EPOCH) // _US


class OrderLife:
    """One order, step by step as WorkOrderWorkflow records it; timers fire on the way."""

    def __init__(self, sink, policy: Policy, st: OrderState, until: datetime, clock=None) -> None:
        self.sink, self.policy, self.st, self.until = sink, policy, st, until
        self.clock = clock or CalendarClock(calendar_for(policy))
        self.seq, self.last_at = 0, st.created_at
        self.timers: dict[str, tuple[datetime, object]] = {}
        self.strikes: list[Strike] = []
        self._before_return: Stage | None = None

    # -- machinery
    def due(self, name: str, start: datetime, limit: Duration, fraction: float | None = None) -> datetime:
        """A deadline as the compute_deadlines activity gives it (WorkCalendar.fraction / add)."""
        at, provisional = self.clock.fraction(start, limit, fraction or 1.0)
        prov = self.st.deadlines.provisional
        if provisional and name not in prov:
            prov.append(name)
        elif not provisional and name in prov:
            prov.remove(name)
        return at  # UTC, as workflow.now(): the store compares it after a round trip

    def step(self, at: datetime, action: str, by: str, detail: dict | None = None) -> None:
        self.seq += 1
        detail = detail or {}
        self.st.actions.append(_model(ActionRecord, seq=self.seq, action=action, by=by, at=at, detail=detail))
        self.sink.step(self.st, self.seq, action, by, at, detail)
        self.last_at = at

    def notice(self, at: datetime, kind: str, to: str, reason: str, fact: str) -> None:
        # Listed with the step that caused it, so the final state row already carries it.
        self.st.notices.append(_model(Notice, kind=kind, at=at, to=to, reason=reason,
                                      key=f"{self.st.order_no}:{kind}:{to}:{fact}"))

    def arm(self, name: str, at: datetime, fire) -> None:
        self.timers[name] = (at, fire)

    def disarm(self, *names: str) -> None:
        for n in names or list(self.timers):
            self.timers.pop(n, None)

    def advance(self, at: datetime) -> None:
        """Fire every timer due strictly before `at` (and before the end), earliest first."""
        at = min(at, self.until)
        while self.timers:
            name, (when, fire) = min(self.timers.items(), key=lambda kv: kv[1][0])
            if when >= at:
                return
            del self.timers[name]
            fire(when)

    def at(self, t: datetime) -> datetime:
        self.advance(t)
        if t >= self.until:
            raise Cut
        return t

    def finish(self) -> None:
        self.advance(self.until)
        self.sink.end_order(self.st, self.seq, self.last_at)

    def strike(self, t: datetime, kind: str, unit: str, fact: str, reason: str) -> None:
        self.strikes.append(Strike(key=f"{self.st.order_no}:{kind}:{unit}:{fact}", unit=unit, kind=kind,
                                   order_no=self.st.order_no, at=t, reason=reason))
        self.step(t, "strike", "system", {"unit": unit, "kind": kind, "reason": reason})

    # -- the workflow's steps (workflows/work_order.py, workflows/order_core.py)
    def intake(self, t: datetime, reason: str = "routing") -> None:
        s = self.st
        self.step(self.at(t), "intake", "hotline", {"channel": s.channel.value, "category": s.category.value,
                                                     "urgency": s.urgency.value})
        self.dispatch(t, "dispatch", {"reason": reason})

    def dispatch(self, t: datetime, action: str, detail: dict) -> None:
        s, p = self.st, self.policy
        handling = p.handling_limit(s.category.value, s.urgency.value)
        d = s.deadlines
        d.sign_by = self.due("sign_by", t, p.sign_limit(s.urgency.value))
        d.reply_by = self.due("reply_by", t, handling)
        d.remind_at = self.due("remind_at", t, handling, p.reminder_fraction)
        d.return_until = self.due("return_until", t, p.return_window_for(s.urgency.value))
        s.stage, s.dispatched_at = Stage.dispatched, t
        s.signed_at = s.contacted_at = s.signed_late = None
        s.overdue, s.co_handlers = False, []
        d.contact_by = d.coordinate_by = d.escalate_at = None
        owner = s.owner
        self.arm("sign", d.sign_by, self._sign_missed)
        self._arm_handling()
        self.notice(t, "dispatch", owner, f"new work order {s.order_no}: {s.title}", f"{action}{self.seq + 1}")
        self.step(t, action, "hotline", {"owner": owner, **detail})

    def _arm_handling(self) -> None:
        self.arm("reminder", self.st.deadlines.remind_at, self._remind)
        self.arm("supervision", self.st.deadlines.reply_by, self._supervise)
        self.disarm("escalation")

    def _sign_missed(self, t: datetime) -> None:
        s = self.st
        self.notice(t, "reminder", s.owner, f"sign for order {s.order_no} (签收超时)", "sign")
        self.notice(t, "supervision", s.owner, f"sign-for deadline missed on {s.order_no}", "sign")
        self.step(t, "sign-overdue", "system", {"owner": s.owner})

    def _remind(self, t: datetime) -> None:
        s = self.st
        self.notice(t, "reminder", s.owner, f"order {s.order_no} is due at {s.deadlines.reply_by.isoformat()} (催办)",
                    "handling")
        self.step(t, "reminder", "system", {"owner": s.owner})

    def _supervise(self, t: datetime) -> None:
        s = self.st
        s.overdue = True
        # The workflow sets escalate_at after these steps; set before, the row of the last step
        # already has it (the same final row whichever sink records the order).
        s.deadlines.escalate_at = self.due("escalate_at", t, self.policy.overdue_escalation)
        self.notice(t, "supervision", s.owner, f"order {s.order_no} missed its handling deadline (督办)", "handling")
        self.step(t, "supervision", "system", {"owner": s.owner})
        if s.signed_at is None:
            self.strike(t, "never_signed", s.owner, f"handling{self.seq}", "sign-for never done before the handling deadline")
        self.arm("escalation", s.deadlines.escalate_at, self._escalate)

    def _escalate(self, t: datetime) -> None:
        s = self.st
        self.notice(t, "escalation", s.owner, f"order {s.order_no} still unreplied after supervision", "escalation")
        self.strike(t, "overdue", s.owner, f"escalation{self.seq}",
                    f"still unreplied {self.policy.overdue_escalation} after the supervision notice")

    def sign(self, t: datetime) -> None:
        s, p = self.st, self.policy
        t = self.at(t)
        s.stage, s.signed_at = Stage.signed, t
        s.signed_late = bool(s.deadlines.sign_by and t > s.deadlines.sign_by)
        s.deadlines.contact_by = self.due("contact_by", t, p.contact_limit(s.urgency.value))
        s.deadlines.coordinate_by = self.due("coordinate_by", t, p.coordination_plan)
        self.disarm("sign")
        self.arm("contact", s.deadlines.contact_by, self._contact_missed)
        self.arm("coordination", s.deadlines.coordinate_by,
                 lambda at: self.step(at, "coordination-window-closed", "system", {"owner": self.st.owner}))
        self.step(t, "sign", s.owner, {"late": s.signed_late})

    def _contact_missed(self, t: datetime) -> None:
        self.notice(t, "supervision", self.st.owner, f"petitioner of {self.st.order_no} not contacted in time", "contact")
        self.step(t, "contact-overdue", "system", {"owner": self.st.owner})

    def contact(self, t: datetime, note: str) -> None:
        s = self.st
        t = self.at(t)
        s.contacted_at, s.stage = t, Stage.handling if s.stage == Stage.signed else s.stage
        self.disarm("contact")
        self.notice(t, "contact", "petitioner", f"您的工单{s.order_no}已由承办单位受理并联系您", f"contact{self.seq + 1}")
        self.step(t, "contact", s.owner, {"note": note})

    def extension(self, t: datetime, days: int, reason: str, review_at: datetime, approve: bool) -> None:
        s = self.st
        t = self.at(t)
        s.pending = PendingRequest(kind="extension", by=s.owner, at=t,
                                   payload={"by": s.owner, "days": days, "reason": reason})
        self.notice(t, "extension-request", "HOTLINE", f"{s.owner} asks {days}wd more on {s.order_no}", "ext")
        self.step(t, "extension-request", s.owner, {"days": days, "reason": reason})
        t = self.at(review_at)
        s.pending = None
        if approve:
            s.extension_days += days
            old, ext = s.deadlines.reply_by, self.policy.extension_for(days)
            s.deadlines.reply_by = self.due("reply_by", old, ext)
            s.deadlines.remind_at = self.due("remind_at", old, ext, self.policy.reminder_fraction)
            self._arm_handling()
        decision = "approve" if approve else "reject"
        self.notice(t, "extension-review", s.owner, f"extension {decision}d", "extrev")
        self.step(t, "extension-review", "admin:sim", {"decision": decision, "reason": "延期审核", "days": days,
                                                       "reply_by": s.deadlines.reply_by.isoformat()})

    def return_request(self, t: datetime, claimed: str, reason: str, basis: str, recommend: str) -> None:
        s = self.st
        t = self.at(t)
        self._before_return = s.stage
        s.stage, s.return_count = Stage.return_review, s.return_count + 1
        rec = {"decision": recommend, "reason": "权责清单比对", "evidence": {}}
        s.pending = PendingRequest(kind="return", by=s.owner, at=t, payload={
            "by": s.owner, "reason": reason, "claimed_unit": claimed, "basis": basis, "recommendation": rec})
        self.notice(t, "return-request", "HOTLINE", f"{s.owner} asks to return {s.order_no} to {claimed}", "ret")
        self.step(t, "return-request", s.owner, {"reason": reason, "claimed_unit": claimed, "basis": basis,
                                                 "recommendation": rec})

    def return_review(self, t: datetime, approve: bool, reason: str) -> None:
        s = self.st
        t = self.at(t)
        req, s.pending = s.pending, None
        requester = req.by
        if approve:
            new_owner = req.payload["claimed_unit"]
            s.previous_owners.append(s.owner)
            s.owner = new_owner
            self.disarm()
            self.notice(t, "return-approved", requester, f"return of {s.order_no} approved; released", "retrev")
            self.step(t, "return-review", "admin:sim", {"decision": "approve", "reason": reason,
                                                        "new_owner": new_owner, "released": requester})
            self.dispatch(t, "redispatch", {"reason": "return approved", "from": requester})
        else:
            s.stage = self._before_return or Stage.dispatched
            self.notice(t, "return-rejected", requester, f"return of {s.order_no} rejected (无效退单)", "retrev")
            self.step(t, "return-review", "admin:sim", {"decision": "reject", "reason": reason})
            self.strike(t, "invalid_return", requester, f"return{self.seq}", reason)

    def reply(self, t: datetime, resolved: bool, result: str) -> None:
        s, p = self.st, self.policy
        t = self.at(t)
        s.stage, s.replied_at = Stage.replied, t
        s.replied_on_time = bool(s.deadlines.reply_by is None or t <= s.deadlines.reply_by)
        s.resolved, s.reply_result = resolved, result
        self.disarm("reminder", "supervision", "escalation", "contact", "coordination")
        self.notice(t, "reply", "HOTLINE", f"{s.owner} replied on {s.order_no}", f"reply{self.seq + 1}")
        self.notice(t, "reply", "petitioner", f"您的工单{s.order_no}已办结答复：{result}", f"reply{self.seq + 1}")
        self.step(t, "reply", s.owner, {"result": result, "resolved": resolved, "on_time": s.replied_on_time})
        s.deadlines.callback_by = self.due("callback_by", t, p.callback_call)
        s.deadlines.answer_by = self.due("answer_by", t, p.callback_answer)
        s.stage, s.callback = Stage.callback, None
        self.arm("callback", s.deadlines.callback_by, lambda at: self.step(at, "callback-overdue", "system", {}))
        self.arm("answer", s.deadlines.answer_by, self._unrated)
        self.notice(t, "survey", "petitioner", f"请评价工单{s.order_no}的办理", f"survey{self.seq + 1}")
        self.step(t, "callback-start", "hotline", {"callback_by": s.deadlines.callback_by.isoformat()})

    def callback_unanswered(self, t: datetime) -> None:
        t = self.at(t)
        self.step(t, "callback", "admin:sim", {"answered": False})

    def _unrated(self, t: datetime) -> None:
        self.st.callback = CallbackResult(answered=False, unrated=True, at=t)
        self.step(t, "unrated", "system", {"answered": False})
        self._close(t, "unrated")

    def callback(self, t: datetime, resolved: bool, satisfaction: str) -> None:
        s = self.st
        t = self.at(t)
        s.callback = CallbackResult(answered=True, resolved=resolved, satisfaction=Satisfaction(satisfaction), at=t)
        self.disarm("callback", "answer")
        self.step(t, "callback", "admin:sim", {"answered": True, "resolved": resolved, "satisfaction": satisfaction})
        if resolved is False and satisfaction == "dissatisfied":
            if s.reopens < self.policy.max_reopens:
                return self._reopen(t)
            self.notice(t, "supervision", s.owner, f"{s.order_no} closed unresolved after {s.reopens} reopens",
                        "reopens")
            return self._close(t, "escalated")
        self._close(t, "resolved" if resolved else "unresolved")

    def _reopen(self, t: datetime) -> None:
        s, p = self.st, self.policy
        s.reopens += 1
        s.stage, s.replied_at, s.replied_on_time, s.overdue = Stage.reopened, None, None, False
        handling = p.handling_limit(s.category.value, s.urgency.value)
        s.deadlines.reply_by = self.due("reply_by", t, handling)
        s.deadlines.remind_at = self.due("remind_at", t, handling, p.reminder_fraction)
        s.deadlines.callback_by = s.deadlines.answer_by = s.deadlines.escalate_at = None
        self._arm_handling()
        self.notice(t, "reopen", s.owner, f"order {s.order_no} reopened (重办) after callback", f"reopen{s.reopens}")
        self.step(t, "reopen", "hotline", {"reopens": s.reopens, "reply_by": s.deadlines.reply_by.isoformat()})

    def _close(self, t: datetime, reason: str) -> None:
        s = self.st
        s.stage, s.closed_at, s.close_reason = Stage.closed, t, reason
        self.disarm()
        self.step(t, "close", "hotline", {"reason": reason})


def new_order(order_no: str, created: datetime, owner: str, category: str, urgency: str, title: str,
              description: str, district: str | None, name: str, phone: str, channel: str = "phone",
              policy: Policy | None = None) -> OrderState:
    policy = policy or load_policy("sanya")
    return OrderState(order_no=order_no, workflow_id=f"order-{order_no}", stage=Stage.intake, owner=owner,
                      category=Category(category), urgency=Urgency(urgency), channel=Channel(channel), title=title,
                      description=description, petitioner=PetitionerView(name=name, phone=phone),
                      location=Location(district=district), created_at=created,
                      policy=f"{policy.name}@{policy.version}")


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
