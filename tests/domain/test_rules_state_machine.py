"""The order rules under random action sequences (hypothesis): what must hold whatever happens.

A state machine takes one order through random actions by random actors at random times
(policy `fast`: every deadline within a minute, so the timers fire along the way), through the
simulator's executor of the rules. After every move:

* a refused action changed nothing (the check raises before any rule runs);
* closed is final: nothing is accepted and nothing fires after it;
* the owner changes only by an approved return review;
* a deadline's follow-up runs at most once per arming (timer, generation);
* strikes only for refusals: an invalid return (a rejected return review), never signed by the
  handling deadline, or still unreplied at escalation;
* steps are numbered 1..n and never go back in time.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from hotline.domain.contracts import ReturnRecommendation
from hotline.domain.models import (
    CallbackAction,
    CoHandlerDoneAction,
    CoHandlerTask,
    ContactAction,
    CoordinationPlanAction,
    ExtensionRequestAction,
    ExtensionReviewAction,
    MergeAction,
    Petitioner,
    ReplyAction,
    ReturnRequestAction,
    ReturnReviewAction,
    SignAction,
    Stage,
    UnmergeAction,
)
from hotline.domain.order_rules import RuleRefused
from hotline.domain.policy import load_policy
from hotline.simulation.life import SimulatedOrder, new_order

POLICY = load_policy("fast")
UNITS = ["ZJJ", "SWJ", "JTJ", "HOTLINE"]
ACTORS = UNITS + ["admin:ops"]
REQUESTS = ["SY20260302000101", "SY20260302000102"]
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class NoSink:
    def step(self, *a) -> None:
        pass

    def action_done(self, st) -> None:
        pass

    def end_order(self, *a) -> None:
        pass


def payloads(now: datetime, owner: str):
    """A strategy of (action, payload): mostly plausible, sometimes by the wrong actor."""
    by = st.one_of(st.just(owner), st.sampled_from(ACTORS))
    admin = st.one_of(st.just("admin:ops"), st.sampled_from(ACTORS))
    decision = st.sampled_from(["approve", "reject"])
    return st.one_of(
        st.builds(lambda b: ("sign", SignAction(by=b)), by),
        st.builds(lambda b: ("contact", ContactAction(by=b, note="已联系")), by),
        st.builds(lambda b, u, s: ("coordination-plan", CoordinationPlanAction(
            by=b, plan="联办", co_handlers=[CoHandlerTask(unit=u, task="配合", due=now + timedelta(seconds=s))])),
            by, st.sampled_from(UNITS), st.integers(-5, 40)),
        st.builds(lambda b: ("co-handler-done", CoHandlerDoneAction(by=b, note="完成")), st.sampled_from(ACTORS)),
        st.builds(lambda b, d: ("extension-request", ExtensionRequestAction(by=b, days=d, reason="需协调")),
                  by, st.integers(1, 12)),
        st.builds(lambda b, d: ("extension-review", ExtensionReviewAction(by=b, decision=d, reason="审核")), admin,
                  decision),
        st.builds(lambda b, u: ("return-request", ReturnRequestAction(by=b, reason="不属本单位", claimed_unit=u,
                                                                      basis="权责清单")), by, st.sampled_from(UNITS)),
        st.builds(lambda b, d, n: ("return-review", ReturnReviewAction(by=b, decision=d, reason="审核", new_owner=n)),
                  admin, decision, st.one_of(st.none(), st.sampled_from(UNITS))),
        st.builds(lambda b, r: ("reply", ReplyAction(by=b, result="已处理", resolved=r)), by, st.booleans()),
        st.builds(lambda b, a, r, s, q: ("callback", CallbackAction(by=b, answered=a, resolved=r if a else None,
                                                                    satisfaction=s if a else None, request_no=q)),
                  admin, st.booleans(), st.booleans(),
                  st.sampled_from(["satisfied", "basically_satisfied", "dissatisfied"]),
                  st.one_of(st.none(), st.none(), st.sampled_from(REQUESTS))),
        st.builds(lambda b, q: ("merge", MergeAction(by=b, request_no=q, petitioner=Petitioner(
            name="李四", phone="13912345678"))), admin, st.sampled_from(REQUESTS)),
        st.builds(lambda b, q: ("unmerge", UnmergeAction(by=b, request_no=q, reason="并错")), admin,
                  st.sampled_from(REQUESTS)),
    )


class OrderRules(RuleBasedStateMachine):
    @initialize()
    def receive(self) -> None:
        order = new_order("SY20260302000001", START, "ZJJ", "complaint", "normal", "工地噪音", "夜间施工", "JYQ",
                          "王小明", "13800001234", policy=POLICY)
        self.life = SimulatedOrder(NoSink(), POLICY, order, until=START + timedelta(days=30))
        self.life.recommendation = ReturnRecommendation(decision="approve", reason="权责清单比对")
        self.life.intake(START + timedelta(seconds=1), "operator")
        self.t = START + timedelta(seconds=1)
        self.closed_at_seq: int | None = None

    @rule(data=st.data(), gap=st.floats(0.001, 45))
    def act(self, data, gap: float) -> None:
        life, s = self.life, self.life.st
        self.t += timedelta(seconds=gap)
        life.advance(self.t)  # deadlines before this moment pass first
        self._note_close()
        action, payload = data.draw(payloads(self.t, s.owner))
        before, owner = s.model_dump(mode="json"), s.owner
        memory = (life.c.m.before_return, life.c.m.coordination_open, life.c.m.own_answer)
        try:
            life.act(self.t, action, payload)
        except RuleRefused:
            assert s.model_dump(mode="json") == before, f"a refused {action} changed the order"
            assert (life.c.m.before_return, life.c.m.coordination_open, life.c.m.own_answer) == memory
            return
        assert self.closed_at_seq is None, f"{action} accepted after the order closed"
        new = s.actions[len(before["actions"]):]
        if s.owner != owner:
            assert any(a.action == "return-review" and a.detail.get("decision") == "approve" for a in new), \
                f"the owner changed from {owner} to {s.owner} without an approved return"
        self._note_close()

    def _note_close(self) -> None:
        if self.life.st.stage == Stage.closed and self.closed_at_seq is None:
            self.closed_at_seq = len(self.life.st.actions)

    @invariant()
    def closed_is_final(self) -> None:
        if self.closed_at_seq is not None:
            assert self.life.st.stage == Stage.closed
            assert len(self.life.st.actions) == self.closed_at_seq, "a step after the order closed"
            assert not self.life.timers, "a timer still armed on a closed order"

    @invariant()
    def each_arming_fires_at_most_once(self) -> None:
        assert len(set(self.life.fired)) == len(self.life.fired)

    @invariant()
    def steps_are_numbered_and_in_time_order(self) -> None:
        acts = self.life.st.actions
        assert [a.seq for a in acts] == list(range(1, len(acts) + 1))
        assert all(x.at <= y.at for x, y in pairwise(acts))

    @invariant()
    def strikes_only_for_refusals(self) -> None:
        acts = self.life.st.actions
        strikes = [i for i, a in enumerate(acts) if a.action == "strike"]
        assert len(strikes) == len(self.life.strikes)
        for i, strike in zip(strikes, self.life.strikes, strict=True):
            before = [a for a in acts[:i] if a.at == acts[i].at]
            if strike.kind == "invalid_return":
                assert before and before[-1].action == "return-review" and before[-1].detail["decision"] == "reject"
            elif strike.kind == "never_signed":  # at the handling deadline, not signed since the last dispatch
                last = max(j for j, a in enumerate(acts[:i]) if a.action in ("dispatch", "redispatch"))
                assert not any(a.action == "sign" for a in acts[last:i])
                assert acts[i].at == self.life.st.deadlines.reply_by or any(
                    a.action == "supervision" for a in acts[i:])
            else:
                assert strike.kind == "overdue"
                assert any(n.kind == "escalation" and n.at == acts[i].at for n in self.life.st.notices)


OrderRules.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None,
                                        suppress_health_check=[HealthCheck.too_slow])
test_order_rules = OrderRules.TestCase
