"""并单 in the workflow, on the real time-skipping server: co-petitioners notified, surveyed and
answering each for themselves; the outcome from all who answered; unmerge; refusals."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from hotline.domain.models import (
    CallbackAction,
    ContactAction,
    MergeAction,
    Petitioner,
    ReplyAction,
    SignAction,
    Stage,
    UnmergeAction,
)
from hotline.services.port import ActionRefused
from hotline.store.tables import ActionRow, CallbackRow, OutboxRow
from tests.harness import running_worker

PHONES = ["13900000001", "13900000002", "13900000003"]


def merge(no: str, i: int) -> MergeAction:
    return MergeAction(by="admin:op", request_no=f"SY2026112790000{i}", note="同一条水沟",
                       petitioner=Petitioner(name=f"居民{i}", phone=PHONES[i]))


async def test_merged_petitioners_are_told_surveyed_and_decide_together(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db) as h:
        no, handle = await h.start(owner="ZJJ")
        before = await h.state(no)
        for i in range(3):
            st = await h.act(no, "merge", merge(no, i))
        assert [c.request_no for c in st.co_petitioners] == [f"SY2026112790000{i}" for i in range(3)]
        assert st.deadlines == before.deadlines  # no new deadline for a merged request
        with pytest.raises(ActionRefused, match="already part of"):
            await h.act(no, "merge", merge(no, 1))
        await h.act(no, "sign", SignAction(by="ZJJ"))
        await h.act(no, "contact", ContactAction(by="ZJJ", note="已联系主诉人 13812345678"))
        st = await h.act(no, "reply", ReplyAction(by="ZJJ", result="水沟已疏通，联系人13812345678", resolved=True))
        assert st.stage == Stage.callback
        # one answer per petitioner; the order waits for all of them
        st = await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=True,
                                                        satisfaction="satisfied"))
        assert st.stage == Stage.callback
        with pytest.raises(ActionRefused, match="already answered"):
            await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=False,
                                                       satisfaction="dissatisfied"))
        with pytest.raises(ActionRefused, match="not merged"):
            await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=True,
                                                       satisfaction="satisfied", request_no="SY20261127999999"))
        await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=True,
                                                   satisfaction="basically_satisfied", request_no="SY20261127900000"))
        await h.act(no, "callback", CallbackAction(by="admin:li", answered=False, request_no="SY20261127900001"))
        await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=False,
                                                   satisfaction="dissatisfied", request_no="SY20261127900001"))
        st = await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=True,
                                                        satisfaction="satisfied", request_no="SY20261127900002"))
        assert st.stage == Stage.closed and st.close_reason == "resolved"
        assert st.callback.resolved is True and st.callback.satisfaction.value == "satisfied"
        final = await handle.result()
    to = {n.to for n in final.notices if n.kind in ("contact", "reply", "survey")}
    assert to == {"petitioner", *(f"petitioner:SY2026112790000{i}" for i in range(3)), "HOTLINE"}
    for kind in ("contact", "reply", "survey"):
        assert sum(n.kind == kind and n.to.startswith("petitioner") for n in final.notices) == 4, kind
    with sqlite_db.session() as s:
        sms = s.scalars(select(OutboxRow).where(OutboxRow.order_no == no, OutboxRow.channel == "sms")).all()
        steps = [a.action for a in s.scalars(select(ActionRow).where(ActionRow.order_no == no).order_by(ActionRow.seq))]
        callbacks = s.scalars(select(CallbackRow).where(CallbackRow.order_no == no)).all()
    by_phone = {}
    for r in sms:
        by_phone.setdefault(r.recipient, []).append(r)
    for p in PHONES:  # each co-petitioner: merged, contact, reply, survey; by their own number
        assert sorted(r.kind for r in by_phone[p]) == ["contact", "merged", "reply", "survey"], p
        reply = next(r for r in by_phone[p] if r.kind == "reply")
        assert "13812345678" not in reply.body["subject"] and "SY202611279000" in reply.body["subject"]
        contact = next(r for r in by_phone[p] if r.kind == "contact")
        assert "note" not in contact.body  # the note was about the order's own petitioner
    assert steps.count("merge") == 3 and steps.count("petitioner-callback") == 5 and steps.count("callback") == 1
    assert len(callbacks) == 1 and callbacks[0].resolved is True  # the KPI counts the order once


async def test_a_majority_dissatisfied_reopens_and_everyone_is_asked_again(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db) as h:
        no, _ = await h.start(owner="ZJJ")
        await h.act(no, "merge", merge(no, 0))
        await h.act(no, "sign", SignAction(by="ZJJ"))
        await h.act(no, "reply", ReplyAction(by="ZJJ", result="已处理", resolved=False))
        await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=False,
                                                   satisfaction="dissatisfied"))
        st = await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=True,
                                                        satisfaction="satisfied", request_no="SY20261127900000"))
        # one each way: a tie is not resolved, and the less satisfied answer counts
        assert st.stage == Stage.reopened and st.reopens == 1
        st = await h.act(no, "reply", ReplyAction(by="ZJJ", result="已彻底疏通", resolved=True))
        assert st.co_petitioners[0].callback is None  # a new round
        st = await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=True,
                                                        satisfaction="satisfied"))
        assert st.stage == Stage.callback  # the co-petitioner is asked again


async def test_the_answer_window_decides_from_those_who_answered(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db, "fast") as h:
        no, handle = await h.start(owner="ZJJ")
        await h.act(no, "merge", merge(no, 0))
        await h.act(no, "sign", SignAction(by="ZJJ"))
        await h.act(no, "reply", ReplyAction(by="ZJJ", result="已处理", resolved=True))
        await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=True,
                                                   satisfaction="basically_satisfied", request_no="SY20261127900000"))
        await ts_env.sleep(timedelta(days=30))  # the answer window closes; the own petitioner never answered
        final = await handle.result()
    assert final.stage == Stage.closed and final.close_reason == "resolved"
    assert final.callback.satisfaction.value == "basically_satisfied"


async def test_unmerge_takes_the_request_out_and_lets_the_rest_decide(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db) as h:
        no, handle = await h.start(owner="ZJJ")
        await h.act(no, "merge", merge(no, 0))
        await h.act(no, "merge", merge(no, 1))
        with pytest.raises(ActionRefused, match="not merged"):
            await h.act(no, "unmerge", UnmergeAction(by="admin:op", request_no="SY20261127900009", reason="错并"))
        with pytest.raises(ActionRefused) as refused:
            await h.act(no, "unmerge", UnmergeAction(by="ZJJ", request_no="SY20261127900000", reason="错并"))
        assert refused.value.kind == "Forbidden"
        await h.act(no, "sign", SignAction(by="ZJJ"))
        await h.act(no, "reply", ReplyAction(by="ZJJ", result="已处理", resolved=True))
        await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=True,
                                                   satisfaction="satisfied"))
        await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=True,
                                                   satisfaction="satisfied", request_no="SY20261127900000"))
        st = await h.act(no, "unmerge", UnmergeAction(by="admin:op", request_no="SY20261127900001",
                                                      reason="不同路段，错并"))
        assert st.stage == Stage.closed and [c.request_no for c in st.co_petitioners] == ["SY20261127900000"]
        final = await handle.result()
    assert [a.action for a in final.actions][-3:] == ["unmerge", "callback", "close"]


async def test_merge_is_refused_after_the_reply(ts_env, sqlite_db):
    async with running_worker(ts_env.client, sqlite_db) as h:
        no, _ = await h.start(owner="ZJJ")
        await h.act(no, "sign", SignAction(by="ZJJ"))
        await h.act(no, "reply", ReplyAction(by="ZJJ", result="已处理", resolved=True))
        with pytest.raises(ActionRefused, match="cannot merge"):
            await h.act(no, "merge", merge(no, 0))
        st = await h.state(no)
        assert st.co_petitioners == []
