"""Writes of a workflow task that never committed (hotline/store/commits.py), on both databases.

A local activity writes while its task runs. Here task 20 of an order records steps 5 and 6
(a reply, with its notices), then dies uncommitted; the order goes on from step 5 in task 24
another way (the reply was lost; a reminder fires instead). What counts is what the history
recorded: the phantom steps are gone with their KPI rows, the phantom notices are never sent,
the read model follows task 24 and, where the last word was the phantom's, the order is asked
to write its state again. A second attempt of the *same* task (same started event id, as
Temporal records a retried task) is told apart by its token. On the dev server, the tokens are
read back from a real order's history.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select

from activities.notify import NotifyActivities
from activities.store import StoreActivities
from hotline.domain.contracts import NotificationRequest, StepRecord
from hotline.domain.models import OrderState, Stage
from hotline.store.commits import decide, pending, settle
from hotline.store.tables import ActionRow, CallbackRow, OrderRow, OutboxRow
from tests.harness import intake, running_worker

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


def _state(stage: Stage, n: int = 0) -> OrderState:
    req = intake()
    return OrderState(order_no="SY00000000000777", workflow_id="order-SY00000000000777", stage=stage, owner="ZJJ",
                      category=req.category, urgency=req.urgency, channel=req.channel, title=req.title,
                      description=req.description, petitioner={"name": "王小明", "phone": "13800001234"},
                      location=req.location, created_at=NOW, policy="sanya@test", reopens=n)


def _step(store, seq, action, stage, wft) -> str:
    return store.record_step(StepRecord(seq=seq, action=action, by="ZJJ", at=NOW, state=_state(stage), wft=wft,
                                        detail={"answered": True} if action == "callback" else {}))


def _notice(notify, key, wft, seq, stage) -> str:
    return notify.notify(NotificationRequest(key=key, order_no="SY00000000000777", kind=key.split(":")[1], to="ZJJ",
                                             subject="x", state=_state(stage), seq=seq, wft=wft))


def _settle(db, no, recorded, length):
    writes = pending(db).get(no, set())
    confirmed, voided = decide(writes, set(recorded), length)
    return settle(db, no, confirmed, voided)


def test_a_phantom_task_is_superseded_then_voided(any_db):
    store, notify = StoreActivities(any_db), NotifyActivities(any_db)
    no = "SY00000000000777"
    ok = [_step(store, seq, action, Stage.handling, wft=seq * 3)
          for seq, action in ((1, "intake"), (2, "dispatch"), (3, "sign"), (4, "contact"))]
    assert not _settle(any_db, no, ok, 13)
    # task 20 (never committed): a reply, its notice, a callback row
    _step(store, 5, "reply", Stage.replied, wft=20)
    _notice(notify, f"{no}:reply:ZJJ:reply5", 20, 5, Stage.replied)
    _step(store, 6, "callback", Stage.callback, wft=20)
    with any_db.session() as s:
        assert s.get(OrderRow, no).stage == "callback"  # the read model ran ahead of the history
        assert s.scalar(select(OutboxRow.status).where(OutboxRow.key == f"{no}:reply:ZJJ:reply5")) == "held"
    assert {w for _, w in pending(any_db)[no]} == {20}
    assert not _settle(any_db, no, ok, 20)  # the history has not reached task 20's end: wait
    # task 24 goes on from step 5 another way: a reminder
    t1 = _step(store, 5, "reminder", Stage.handling, wft=24)
    t2 = _notice(notify, f"{no}:reminder:ZJJ:handling1", 24, 5, Stage.handling)
    with any_db.session() as s:
        assert [(a.seq, a.action) for a in s.scalars(select(ActionRow).where(ActionRow.order_no == no)
                                                     .order_by(ActionRow.seq))][-1] == (5, "reminder")
        assert s.scalar(select(CallbackRow.id).where(CallbackRow.order_no == no)) is None
        assert s.get(OrderRow, no).stage == "handling"  # the later task's write won at a lower step
    assert not _settle(any_db, no, ok + [t1, t2], 30)
    with any_db.session() as s:
        status = dict(s.execute(select(OutboxRow.key, OutboxRow.status).where(OutboxRow.order_no == no)).all())
        assert all(a.confirmed for a in s.scalars(select(ActionRow).where(ActionRow.order_no == no)))
    assert status == {f"{no}:reply:ZJJ:reply5": "void", f"{no}:reminder:ZJJ:handling1": "delivered"}
    assert pending(any_db) == {}


def test_a_second_attempt_of_the_same_task_is_told_apart_by_its_token(any_db):
    store, notify = StoreActivities(any_db), NotifyActivities(any_db)
    no = "SY00000000000777"
    first = [_step(store, 1, "intake", Stage.intake, wft=3), _step(store, 2, "dispatch", Stage.dispatched, wft=3),
             _notice(notify, f"{no}:dispatch:ZJJ:dispatch2", 3, 2, Stage.dispatched)]
    # attempt 1 of task 3 never committed; attempt 2 (same started id) does the same and commits
    second = [_step(store, 1, "intake", Stage.intake, wft=3), _step(store, 2, "dispatch", Stage.dispatched, wft=3),
              _notice(notify, f"{no}:dispatch:ZJJ:dispatch2", 3, 2, Stage.dispatched)]
    assert not set(first) & set(second)
    assert not _settle(any_db, no, second, 10)
    with any_db.session() as s:
        row = s.scalars(select(OutboxRow).where(OutboxRow.order_no == no)).one()
        assert (row.status, row.token) == ("delivered", second[2])  # one message, sent once
        assert [a.token for a in s.scalars(select(ActionRow).where(ActionRow.order_no == no))] == second[:2]
    # a sign recorded by a task that never committed, and nothing after it: resync
    _step(store, 3, "sign", Stage.signed, wft=11)
    assert _settle(any_db, no, second, 14)
    with any_db.session() as s:
        assert s.scalar(select(ActionRow.id).where(ActionRow.order_no == no, ActionRow.seq == 3)) is None


async def test_recorded_tokens_are_read_from_the_history(dev_env, sqlite_db):
    from hotline.domain.models import SignAction
    from workflows.commits import recorded_tokens

    async with running_worker(dev_env.client, sqlite_db) as h:
        no, handle = await h.start(owner="ZJJ")
        await h.act(no, "sign", SignAction(by="ZJJ"))
        with sqlite_db.session() as s:
            tokens = {a.token for a in s.scalars(select(ActionRow).where(ActionRow.order_no == no))}
        recorded, length = await recorded_tokens(dev_env.client, f"order-{no}")
        # one write per action (ONE_WRITE): intake with its dispatch, then the sign
        assert None not in tokens and len(tokens) == 2 and tokens <= recorded and length > 10
        # only the tail from a task on: the sign's own writes, not intake's or dispatch's
        with sqlite_db.session() as s:
            rows = s.execute(select(ActionRow.action, ActionRow.token, ActionRow.wft)
                             .where(ActionRow.order_no == no)).all()
        sign = [r for r in rows if r.action == "sign"]
        assert len(sign) == 1
        tail, tail_length = await recorded_tokens(dev_env.client, f"order-{no}", since=sign[0].wft)
        assert tail_length == length and sign[0].token in tail
        assert not tail & {r.token for r in rows if r.wft < sign[0].wft}
        history = await handle.fetch_history()
        assert length == len(history.events)  # read backwards, the newest event gives the length


async def test_recorded_tokens_on_a_server_without_the_backwards_read(ts_env, sqlite_db):
    """The time-skipping server has no GetWorkflowExecutionHistoryReverse: the history is read
    forwards, with the same answer."""
    from hotline.domain.models import SignAction
    from workflows.commits import recorded_tokens

    async with running_worker(ts_env.client, sqlite_db) as h:
        no, handle = await h.start(owner="ZJJ")
        await h.act(no, "sign", SignAction(by="ZJJ"))
        with sqlite_db.session() as s:
            rows = s.execute(select(ActionRow.action, ActionRow.token, ActionRow.wft)
                             .where(ActionRow.order_no == no)).all()
        sign = next(r for r in rows if r.action == "sign")
        everything, length = await recorded_tokens(ts_env.client, f"order-{no}")
        tail, tail_length = await recorded_tokens(ts_env.client, f"order-{no}", since=sign.wft)
        assert {r.token for r in rows} <= everything
        assert length == tail_length == len((await handle.fetch_history()).events)
        assert sign.token in tail and not tail & {r.token for r in rows if r.wft < sign.wft}


async def test_an_answer_confirms_its_writes_at_once(dev_env, sqlite_db):
    """No commit watcher runs here: an action's answer alone confirms the writes it names (its
    task committed, or the answer would not have come), so its audit rows stand and its held
    notices go out at once. An engine without `confirm` leaves them held for the watcher."""
    import uuid

    from hotline.domain.models import CallbackAction, ContactAction, ReplyAction, SignAction
    from hotline.domain.policy import load_policy
    from hotline.runtime.settings import load_settings
    from tests.harness import Harness, router, seed_order_numbers
    from worker import make_worker
    from workflows.client import TemporalWorkOrders

    def unconfirmed(no: str) -> int:
        with sqlite_db.session() as s:
            return s.scalar(select(func.count()).select_from(ActionRow).where(
                ActionRow.order_no == no, ActionRow.confirmed.is_(False)))

    def outbox(no: str) -> set[str]:
        with sqlite_db.session() as s:
            return set(s.scalars(select(OutboxRow.status).where(OutboxRow.order_no == no)))

    seed_order_numbers(sqlite_db)
    queue, policy = f"q-{uuid.uuid4().hex[:8]}", load_policy("sanya")
    async with make_worker(dev_env.client, sqlite_db, load_settings({"HOTLINE_TASK_QUEUE": queue}),
                           policy=policy, router=router()):
        h = Harness(dev_env.client, sqlite_db, queue, policy, False)  # its engine confirms, as the gateway's
        no, _ = await h.start(owner="ZJJ")
        assert unconfirmed(no) == 0 and outbox(no) and "held" not in outbox(no)  # intake and dispatch
        await h.act(no, "sign", SignAction(by="ZJJ"))
        await h.act(no, "contact", ContactAction(by="ZJJ", note="已电话联系"))
        assert unconfirmed(no) == 0 and "held" not in outbox(no)
        plain = TemporalWorkOrders(dev_env.client, queue, policy, search_attributes=False)  # no confirm
        await plain.act(no, "reply", ReplyAction(by="ZJJ", result="已处理", resolved=True))
        left = unconfirmed(no)
        assert left >= 1 and "held" in outbox(no)  # the answer named them, nobody confirmed: the watcher's
        await h.act(no, "callback", CallbackAction(
            by="admin:test", answered=True, resolved=True, satisfaction="satisfied"))
        assert unconfirmed(no) == left  # the callback's own writes stand; the reply's still wait
        from workflows.commits import settle_round
        assert await settle_round(sqlite_db, dev_env.client) == 1  # the watcher settles the rest
        assert unconfirmed(no) == 0 and "held" not in outbox(no)
