"""The intake answer kept in the read model until the order's first write (SQLite and PostgreSQL):
an order page opened while the workflow has not run yet shows what the operator read back, and
never hides a state the workflow wrote."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hotline.domain import order_rules as rules
from hotline.domain.codes import order_workflow_id
from hotline.domain.contracts import DeadlineValue
from hotline.domain.models import Stage
from hotline.domain.policy import load_policy
from hotline.store.order_numbers import reserve_order
from hotline.store.readmodel import load_order, remember_dispatch
from hotline.store.recording import write_order
from tests.harness import intake

AT = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)


def _answer(order_no: str, owner: str = "ZJJ"):
    def compute(items):
        return {i.name: DeadlineValue(at=AT + timedelta(hours=n + 1)) for n, i in enumerate(items)}
    st, _ = rules.dispatched_order(order_no, order_workflow_id(order_no), intake(), owner, "operator", [], AT,
                                   load_policy("fast"), compute)
    return st


def test_a_reserved_order_reads_as_answered_until_written(any_db):
    order_no, _ = reserve_order(any_db, intake(), "ZJJ", None, now=AT)
    assert load_order(any_db, order_no) is None  # reserved, nothing recorded
    answer = _answer(order_no)
    assert remember_dispatch(any_db, answer)
    assert load_order(any_db, order_no) == answer and answer.stage == Stage.dispatched


def test_the_workflows_write_wins_whichever_comes_first(any_db):
    order_no, _ = reserve_order(any_db, intake(), "ZJJ", None, now=AT)
    answer = _answer(order_no)
    signed = answer.model_copy(update={"stage": Stage.signed, "signed_at": AT + timedelta(minutes=5)})
    with any_db.writer() as s:  # the workflow already wrote (a later state, from its task 3)
        write_order(s, signed, 3, 3, "tok:x")
    assert not remember_dispatch(any_db, answer)
    assert load_order(any_db, order_no) == signed
    # and the other way: the answer first, then the workflow's first write replaces it
    other, _ = reserve_order(any_db, intake(), "ZJJ", None, now=AT)
    first = _answer(other)
    assert remember_dispatch(any_db, first)
    moved = first.model_copy(update={"owner": "ZFJ"})
    with any_db.writer() as s:
        write_order(s, moved, 2, 3, "tok:y")
    assert load_order(any_db, other) == moved
    assert not remember_dispatch(any_db, first)  # a late answer changes nothing
    assert load_order(any_db, other) == moved
