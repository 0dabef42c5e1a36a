"""The escalation ladder through a simulated year (SPEC §6), on the time-skipping server.

Strikes arrive by signal-with-start as the work orders send them. Between strikes the test
skips days of server time, so the 30-day window and the calendar year are real.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from hotline.domain.contracts import Strike
from hotline.domain.policy import load_policy
from hotline.domain.supervision import Ledger, SupervisionInput, apply_strike
from hotline.store.tables import OutboxRow, SupervisionEventRow
from tests.harness import running_worker
from tests.workflows.test_timers import until_ledger
from workflows.supervision import DepartmentSupervisionWorkflow

CST = ZoneInfo("Asia/Shanghai")
POLICY = load_policy("sanya")


async def _strike(env, queue: str, unit: str, n: int, kind: str = "invalid_return") -> Strike:
    s = Strike(key=f"SY{n:06d}:{kind}:{unit}:r1", unit=unit, kind=kind, order_no=f"SY{n:06d}",
               at=await env.get_current_time(), reason=f"refusal {n}")
    await env.client.start_workflow(DepartmentSupervisionWorkflow.run, SupervisionInput(unit=unit, policy=POLICY),
                                    id=f"supervision-{unit}", task_queue=queue, start_signal="strike",
                                    start_signal_args=[s])
    return s


def _events(db, unit: str, kind: str, year: int | None = None) -> list[SupervisionEventRow]:
    with db.session() as s:
        q = select(SupervisionEventRow).where(SupervisionEventRow.unit_code == unit, SupervisionEventRow.kind == kind)
        if year:
            q = q.where(SupervisionEventRow.year == year)
        return list(s.scalars(q.order_by(SupervisionEventRow.id)))


async def _until_events(db, unit: str, kind: str, n: int, year: int | None = None) -> None:
    import asyncio
    for _ in range(100):
        if len(_events(db, unit, kind, year)) >= n:
            return
        await asyncio.sleep(0.1)
    assert len(_events(db, unit, kind, year)) >= n


async def test_a_year_of_the_ladder(ts_env, sqlite_db):
    env, unit, day = ts_env, "ZFJ", timedelta(days=1)
    async with running_worker(env.client, sqlite_db, POLICY) as h:
        now = await env.get_current_time()
        await env.sleep(datetime(now.year + 1, 1, 5, 9, tzinfo=CST) - now)  # early January
        year = (await env.get_current_time()).astimezone(CST).year

        # two invalid returns within 30 days → one criticism
        await _strike(env, h.queue, unit, 1)
        await env.sleep(10 * day)
        await _strike(env, h.queue, unit, 2)
        led = await until_ledger(env.client, unit, lambda ldg: len(ldg.criticisms) == 1)
        assert len(led.criticisms) == 1 and led.criticisms[0].orders == ["SY000001", "SY000002"]
        assert led.pending == []  # the counter starts again

        # two more, spaced over 30 days → none
        await env.sleep(5 * day)
        await _strike(env, h.queue, unit, 3)
        await env.sleep(31 * day)
        await _strike(env, h.queue, unit, 4)
        led = await until_ledger(env.client, unit, lambda ldg: len(ldg.strikes) == 4)
        assert len(led.criticisms) == 1 and led.pending == ["SY000004:invalid_return:ZFJ:r1"]

        # a duplicate signal of the same fact changes nothing
        await _strike(env, h.queue, unit, 4)
        # overdue 5wd after supervision → a criticism on its own (the second)
        await env.sleep(20 * day)
        await _strike(env, h.queue, unit, 5, kind="overdue")
        led = await until_ledger(env.client, unit, lambda ldg: len(ldg.criticisms) == 2)
        assert len(led.strikes) == 5 and led.referral is None

        # a third criticism in the year → one discipline referral
        await env.sleep(3 * day)
        await _strike(env, h.queue, unit, 6)
        led = await until_ledger(env.client, unit, lambda ldg: ldg.referral is not None)
        assert len(led.criticisms) == 3 and led.referral.criticisms == [c.key for c in led.criticisms]

        # a fourth criticism is appended to that referral, not a second referral
        await env.sleep(40 * day)
        await _strike(env, h.queue, unit, 7, kind="overdue")
        led = await until_ledger(env.client, unit, lambda ldg: len(ldg.criticisms) == 4)
        assert led.referral.appended == [led.criticisms[3].key]

        await _until_events(sqlite_db, unit, "referral_appendix", 1)  # recorded after the criticism
        assert len(_events(sqlite_db, unit, "criticism", year)) == 4
        assert len(_events(sqlite_db, unit, "referral", year)) == 1
        assert len(_events(sqlite_db, unit, "referral_appendix", year)) == 1
        assert len(_events(sqlite_db, unit, "strike", year)) == 7
        with sqlite_db.session() as s:
            docs = s.scalars(select(OutboxRow).where(OutboxRow.kind == "criticism")).all()
            # each criticism goes to the unit and the city leadership, once
            assert sorted(d.recipient for d in docs) == sorted([unit, "LEADERSHIP"] * 4)
            referral = s.scalars(select(OutboxRow).where(OutboxRow.kind == "referral")).all()
            assert sorted(d.recipient for d in referral) == sorted(["DISCIPLINE", "LEADERSHIP", unit])
            dossier = referral[0].body["document"]
            assert len(dossier["criticisms"]) == 3 and len(dossier["strikes"]) == 6

        # the new year starts at zero; the database keeps last year's
        now = await env.get_current_time()
        await env.sleep(datetime(year + 1, 1, 2, 9, tzinfo=CST) - now)
        led = await until_ledger(env.client, unit, lambda ldg: ldg.year == year + 1)
        assert led.year == year + 1 and led.strikes == [] and led.criticisms == [] and led.referral is None
        await _strike(env, h.queue, unit, 8)
        led = await until_ledger(env.client, unit, lambda ldg: len(ldg.strikes) == 1)
        assert led.criticisms == []
        await _until_events(sqlite_db, unit, "strike", 1, year + 1)
        assert len(_events(sqlite_db, unit, "criticism", year)) == 4


def test_ladder_keys_depend_only_on_the_facts():
    """Replaying the same strikes gives the same keys: the database then refuses duplicates."""
    t0 = datetime(2027, 3, 1, 9, tzinfo=CST)
    strikes = [Strike(key=f"k{i}", unit="JTJ", kind="invalid_return", order_no=f"SY{i}", at=t0 + timedelta(days=i),
                      reason="r") for i in range(4)]

    def run() -> list[str]:
        led = Ledger(unit="JTJ", year=2027)
        return [e.key for s in strikes for e in apply_strike(led, s, POLICY, s.at)]

    first = run()
    assert first == run()
    assert [k for k in first if "criticism" in k] == ["JTJ:2027:criticism:1", "JTJ:2027:criticism:2"]
