"""Merged requests (并单, issue 18) in the store, on SQLite and PostgreSQL: their numbers and
idempotency, the parents they may join, unmerging, the KPIs' count of matters and requests,
and the progress lookup by a merged request's own number and phone."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from hotline.domain.models import CoPetitioner, IntakeRequest, Stage
from hotline.reporting import kpi
from hotline.services.progress import progress
from hotline.simulation.life import new_order
from hotline.store.merges import (
    MergedRequest,
    MergeError,
    discard_request,
    get_request,
    mark_unmerged,
    requests_of,
    reserve_request,
)
from hotline.store.order_numbers import IdempotencyConflict, reserve_order, scoped_key
from hotline.store.tables import MergedRequestRow, OrderRow, SequenceRow, UnitRow

TZ = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 26 November, 10:00 in Sanya


def L(*a) -> datetime:
    return datetime(*a, tzinfo=TZ).astimezone(UTC)


def intake(name="李四", phone="13900005678", **over) -> IntakeRequest:
    body = {"channel": "phone", "category": "complaint", "title": "工地夜间施工噪音",
            "description": "迎宾路工地每晚十一点后还在打桩", "petitioner": {"name": name, "phone": phone},
            "location": {"district": "JYQ", "address": "吉阳区迎宾路"}}
    body.update(over)
    return IntakeRequest.model_validate(body)


def record_order(db, order_no: str, owner: str = "ZJJ", created: datetime = AT, stage: Stage = Stage.handling,
                 co: list[CoPetitioner] = (), name: str = "王小明", phone: str = "13800001234", **fields):
    """An order's read-model row as its workflow records it: the columns and the whole state."""
    st = new_order(order_no, created, owner, "complaint", "normal", "工地夜间施工噪音", "每晚打桩", "JYQ",
                   name, phone)
    st = st.model_copy(update={"stage": stage, "co_petitioners": list(co), "dispatched_at": created,
                               **fields})
    values = dict(workflow_id=st.workflow_id, stage=st.stage.value, owner=owner, category="complaint",
                  urgency="normal", channel="phone", title=st.title, district="JYQ",
                  petitioner_name=st.petitioner.name, petitioner_phone=st.petitioner.phone, created_at=created,
                  dispatched_at=created, replied_at=st.replied_at, replied_on_time=st.replied_on_time,
                  closed_at=st.closed_at, state=st.model_dump(mode="json"), last_seq=3, updated_at=created)
    with db.session() as s:
        row = s.get(OrderRow, order_no)
        if row is None:
            s.add(OrderRow(order_no=order_no, **values))
        else:
            for k, v in values.items():
                setattr(row, k, v)
    return st


def count(db, table) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(table))


# ---------------------------------------------------------------- recording


def test_the_migration_goes_down_and_up_again(any_db):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from hotline.store.db import MIGRATIONS
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection_engine"] = any_db.engine
    assert "merged_requests" in inspect(any_db.engine).get_table_names()
    command.downgrade(cfg, "0009")
    assert "merged_requests" not in inspect(any_db.engine).get_table_names()
    command.upgrade(cfg, "head")
    names = {i["name"] for i in inspect(any_db.engine).get_indexes("merged_requests")}
    assert {"ix_merged_requests_parent_order_no", "ix_merged_requests_kpi"} <= names


def test_a_merged_request_takes_the_next_number_of_the_orders_series(any_db):
    parent, _ = reserve_order(any_db, intake("王小明", "13800001234"), "ZJJ", None, now=AT)
    record_order(any_db, parent)
    req = intake()
    no, created = reserve_request(any_db, req, parent, "admin:chen", scoped_key("key1", "m-1"), now=AT)
    after, _ = reserve_order(any_db, intake("赵五", "13700009999"), "ZJJ", None, now=AT)
    assert (parent, no, after) == ("SY20261126000001", "SY20261126000002", "SY20261126000003") and created

    got = get_request(any_db, no)
    assert isinstance(got, MergedRequest) and got.intake == req
    assert (got.request_no, got.parent_order_no, got.merged_by, got.merged_at, got.created_at) == \
        (no, parent, "admin:chen", AT, AT)
    assert (got.petitioner_name, got.petitioner_phone, got.channel, got.district, got.title) == \
        ("李四", "13900005678", "phone", "JYQ", "工地夜间施工噪音")
    assert got.unmerged_at is None and not got.unmerged
    with any_db.session() as s:  # the request as submitted, address included
        assert s.get(MergedRequestRow, no).intake == req.model_dump(mode="json")
        assert s.get(OrderRow, no) is None  # a merged request is no work order
    assert [r.request_no for r in requests_of(any_db, parent)] == [no]
    assert get_request(any_db, "SY20261126999999") is None and requests_of(any_db, after) == []


def test_a_retry_gets_its_number_back_and_a_reused_key_is_refused(any_db):
    a = record_order(any_db, "SY20261126000101").order_no
    b = record_order(any_db, "SY20261126000102").order_no
    key = scoped_key("key1", "m-1")
    no, created = reserve_request(any_db, intake(), a, "admin:chen", key, now=AT)
    assert created
    assert reserve_request(any_db, intake(), a, "admin:chen", key, now=AT + timedelta(minutes=5)) == (no, False)
    with pytest.raises(IdempotencyConflict, match=no):  # same key, another body
        reserve_request(any_db, intake(description="另一件事"), a, "admin:chen", key)
    with pytest.raises(IdempotencyConflict, match=no):  # same key and body, another order
        reserve_request(any_db, intake(), b, "admin:chen", key)
    other, created = reserve_request(any_db, intake(), a, "admin:chen", scoped_key("key2", "m-1"))
    assert created and other != no  # another caller's key of the same name is its own
    assert len(requests_of(any_db, a)) == 2  # without a key, nothing to recognise a retry by
    order_no, _ = reserve_order(any_db, intake(), "ZJJ", scoped_key("key1", "o-1"))
    with pytest.raises(IdempotencyConflict, match=order_no):  # a key that made an order
        reserve_request(any_db, intake(), a, "admin:chen", scoped_key("key1", "o-1"))
    assert count(any_db, MergedRequestRow) == 2
    orders = count(any_db, OrderRow)
    with pytest.raises(IdempotencyConflict, match=no):  # and a key that merged a request makes no order
        reserve_order(any_db, intake(), "ZJJ", key)
    assert count(any_db, OrderRow) == orders

    # the parent closed since: a retry still gets its number back, a new merge is refused
    record_order(any_db, a, stage=Stage.closed, closed_at=AT)
    assert reserve_request(any_db, intake(), a, "admin:chen", key) == (no, False)
    with pytest.raises(MergeError, match="closed"):
        reserve_request(any_db, intake(), a, "admin:chen", scoped_key("key1", "m-2"))


def test_only_a_recorded_open_order_takes_a_merge(any_db):
    closed = record_order(any_db, "SY20261126000201", stage=Stage.closed, closed_at=AT).order_no
    reserved, _ = reserve_order(any_db, intake("王小明", "13800001234"), "ZJJ", None, now=AT)  # never started
    cases = [("SY20261126999999", "no order SY20261126999999 is recorded"), (closed, "is closed"),
             (reserved, f"no order {reserved} is recorded")]
    for parent, message in cases:
        with pytest.raises(MergeError, match=message):
            reserve_request(any_db, intake(), parent, "admin:chen", scoped_key("key1", parent), now=AT)
    open_ = record_order(any_db, "SY20261126000202").order_no
    no, _ = reserve_request(any_db, intake(), open_, "admin:chen", None, now=AT)
    with pytest.raises(MergeError, match=f"merged into order {open_}"):  # not into a merged request
        reserve_request(any_db, intake(), no, "admin:chen", None, now=AT)
    for by in ("", " ", "x" * 65):
        with pytest.raises(MergeError, match="by must"):
            reserve_request(any_db, intake(), open_, by, None, now=AT)
    assert count(any_db, MergedRequestRow) == 1  # only the one accepted
    with any_db.session() as s:  # refusals took no number
        assert s.get(SequenceRow, "20261126").last == 2


def test_a_merge_the_order_refused_is_discarded_and_its_key_free_again(any_db):
    parent = record_order(any_db, "SY20261126000251").order_no
    key = scoped_key("key1", "m-1")
    no, _ = reserve_request(any_db, intake(), parent, "admin:chen", key, now=AT)
    assert discard_request(any_db, no) is True
    assert get_request(any_db, no) is None and requests_of(any_db, parent, include_unmerged=True) == []
    assert discard_request(any_db, no) is False
    again, created = reserve_request(any_db, intake(), parent, "admin:chen", key, now=AT)
    assert created and again != no  # a new number: the discarded one is never reused
    mark_unmerged(any_db, again, "admin:wu", "不是同一工地", "ZJJ", now=AT)
    assert discard_request(any_db, again) is False and get_request(any_db, again).unmerged  # it is an order now


# ---------------------------------------------------------------- unmerging


def test_unmerging_makes_the_request_an_order_of_its_own_under_its_number(any_db):
    parent = record_order(any_db, "SY20261126000301").order_no
    req = intake()
    no, _ = reserve_request(any_db, req, parent, "admin:chen", None, now=AT)
    kept, _ = reserve_request(any_db, intake("赵五", "13700009999"), parent, "admin:chen", None, now=AT)
    later = AT + timedelta(hours=2)
    assert mark_unmerged(any_db, no, "admin:wu", "不是同一工地", "SWJ", now=later) == req

    got = get_request(any_db, no)
    assert got.unmerged
    assert (got.unmerged_at, got.unmerged_by, got.unmerge_reason) == (later, "admin:wu", "不是同一工地")
    with any_db.session() as s:  # reserved as reserve_order would: stage intake, no state until its first step
        row = s.get(OrderRow, no)
        assert (row.workflow_id, row.stage, row.owner, row.state, row.created_at) == \
            (f"order-{no}", "intake", "SWJ", {}, later)
        assert (row.petitioner_name, row.petitioner_phone, row.channel, row.title, row.district, row.category) == \
            ("李四", "13900005678", "phone", "工地夜间施工噪音", "JYQ", "complaint")
    assert [r.request_no for r in requests_of(any_db, parent)] == [kept]
    assert [r.request_no for r in requests_of(any_db, parent, include_unmerged=True)] == [no, kept]

    # again (a retried call): the same intake, nothing written
    assert mark_unmerged(any_db, no, "admin:li", "重复提交", "JTJ", now=later + timedelta(hours=1)) == req
    again = get_request(any_db, no)
    assert (again.unmerged_at, again.unmerged_by, again.unmerge_reason) == (later, "admin:wu", "不是同一工地")
    with any_db.session() as s:
        assert s.get(OrderRow, no).owner == "SWJ"
    assert count(any_db, OrderRow) == 2

    with pytest.raises(MergeError, match="not a merged request"):
        mark_unmerged(any_db, parent, "admin:wu", "原因", "SWJ")
    with pytest.raises(MergeError, match="reason"):
        mark_unmerged(any_db, kept, "admin:wu", " ", "SWJ")
    assert not get_request(any_db, kept).unmerged


# ---------------------------------------------------------------- KPIs


def test_one_matter_reported_twenty_times_is_one_order_and_twenty_requests(any_db):
    parent, _ = reserve_order(any_db, intake("王小明", "13800001234"), "ZJJ", None, now=L(2026, 3, 2, 9))
    record_order(any_db, parent, owner="ZJJ", created=L(2026, 3, 2, 9), stage=Stage.callback,
                 replied_at=L(2026, 3, 3, 9), replied_on_time=True)
    record_order(any_db, "SY20250302000001", owner="ZJJ", created=L(2025, 3, 2, 9))  # last year: one order
    nos = [reserve_request(any_db, intake(name=f"市民{i:02d}", phone=f"139000056{i:02d}"), parent, "admin:chen",
                           None, now=L(2026, 3, 2, 10 + i // 4, i))[0] for i in range(19)]
    reserve_request(any_db, intake(), parent, "admin:chen", None, now=L(2026, 4, 1))  # the next period's
    k = kpi.kpis(any_db, "2026-03-01", "2026-04-01")
    assert (k["orders"]["value"], k["requests"]["value"], k["merged_requests"]["value"]) == (1, 20, 19)
    assert (k["orders"]["last_year"], k["requests"]["last_year"], k["merged_requests"]["last_year"]) == (1, 1, 0)
    # the matter is judged once: one replied order, not twenty
    assert (k["on_time_rate"]["numerator"], k["on_time_rate"]["denominator"]) == (1, 1)
    assert k["response_rate"]["denominator"] == 0 and k["resolution_rate"]["denominator"] == 0
    zjj = kpi.kpis(any_db, "2026-03-01", "2026-04-01", unit="ZJJ")  # the parent's owner answers them all
    assert (zjj["orders"]["value"], zjj["requests"]["value"], zjj["merged_requests"]["value"]) == (1, 20, 19)

    # a wrong merge undone: the request is an order of its own (SWJ's), no longer merged
    mark_unmerged(any_db, nos[0], "admin:wu", "不是同一工地", "SWJ", now=L(2026, 3, 5, 9))
    k = kpi.kpis(any_db, "2026-03-01", "2026-04-01")
    assert (k["orders"]["value"], k["requests"]["value"], k["merged_requests"]["value"]) == (2, 20, 18)
    zjj = kpi.kpis(any_db, "2026-03-01", "2026-04-01", unit="ZJJ")
    swj = kpi.kpis(any_db, "2026-03-01", "2026-04-01", unit="SWJ")
    assert (zjj["orders"]["value"], zjj["requests"]["value"], zjj["merged_requests"]["value"]) == (1, 19, 18)
    assert (swj["orders"]["value"], swj["requests"]["value"], swj["merged_requests"]["value"]) == (1, 1, 0)
    assert k["on_time_rate"]["denominator"] == 1

    report = kpi.build_report(any_db, "2026-03-01", "2026-04-01")
    assert {n: report["kpis"][n]["value"] for n in ("orders", "requests", "merged_requests")} == \
        {"orders": 2, "requests": 20, "merged_requests": 18}
    ranked = {r["unit"]: r["kpis"] for r in report["ranking"]}
    assert (ranked["ZJJ"]["requests"], ranked["SWJ"]["requests"]) == (19, 1)
    assert kpi.requests(any_db, "2026-04-01", "2026-05-01")["value"] == 1
    from hotline.reporting.report import render_html, render_text
    assert "Requests 诉求量" in render_text(report) and "并单量" in render_html(report)


# ---------------------------------------------------------------- progress lookup


REPLY = ("经核查，王小明、李四、赵五反映的夜间施工噪音属实，已责令停工。"
         "李四留的电话13900005678、"
         "赵五留的电话13700009999已登记，回访电话将打到13800001234。")
PRIVATE = ("王小明", "李四", "赵五", "13800001234", "13900005678", "13700009999", "迎宾路", "打桩")


def _merged_world(db):
    with db.session() as s:
        s.add(UnitRow(code="ZJJ", name="三亚市住房和城乡建设局", type="department", districts=[]))
    parent = record_order(db, "SY20261126000401").order_no
    li, _ = reserve_request(db, intake("李四", "13900005678"), parent, "admin:chen", None, now=AT)
    zhao, _ = reserve_request(db, intake("赵五", "13700009999"), parent, "admin:chen", None, now=AT)
    pending, _ = reserve_request(db, intake("钱六", "13600004321"), parent, "admin:chen", None, now=AT)
    co = [CoPetitioner(request_no=no, name=name, phone=phone, merged_at=AT)
          for no, name, phone in ((li, "李四", "13900005678"), (zhao, "赵五", "13700009999"))]
    # the workflow took two of the merges; the third it has not (yet)
    record_order(db, parent, stage=Stage.callback, co=co, replied_at=AT + timedelta(days=1), reply_result=REPLY,
                 contacted_at=AT + timedelta(hours=1))
    return parent, li, zhao, pending


def test_a_merged_request_number_answers_with_its_orders_progress(any_db):
    parent, li, zhao, pending = _merged_world(any_db)
    own = progress(any_db, parent, "1234")
    mine = progress(any_db, li, "5678")
    assert own is not None and mine is not None
    assert (own.request_no, own.merged_into) == (None, None)
    assert (mine.order_no, mine.request_no, mine.merged_into) == (parent, li, parent)
    # exactly what the order's own petitioner sees
    differ = {"request_no", "merged_into"}
    assert mine.model_dump(exclude=differ) == own.model_dump(exclude=differ)
    assert mine.stage == "正在回访" and mine.owner == "三亚市住房和城乡建设局"
    assert mine.reply.text == ("经核查，王**、李*、赵*反映的夜间施工噪音属实，已责令停工。"
                               "李*留的电话139****5678、"
                               "赵*留的电话137****9999已登记，回访电话将打到138****1234。")
    for p in (own, mine, progress(any_db, zhao, "9999")):
        text = p.model_dump_json()
        for private in PRIVATE:
            assert private not in text, private

    # one answer for every wrong try
    assert progress(any_db, li, "1234") is None  # the order's petitioner's digits
    assert progress(any_db, li, "9999") is None  # another co-petitioner's
    assert progress(any_db, parent, "5678") is None  # a co-petitioner's digits on the order's number
    assert progress(any_db, pending, "4321") is None  # not taken by the order's workflow
    assert progress(any_db, "SY20261126999999", "5678") is None


def test_an_unmerged_request_number_answers_as_its_own_order_once_it_exists(any_db):
    parent, li, zhao, _ = _merged_world(any_db)
    mark_unmerged(any_db, li, "admin:wu", "不是同一工地", "ZJJ", now=AT + timedelta(hours=3))
    assert progress(any_db, li, "5678") is None  # its order has not recorded a step yet
    # its order's first steps recorded, the request's petitioner its own
    record_order(any_db, li, created=AT + timedelta(hours=3), stage=Stage.dispatched, name="李四", phone="13900005678")
    p = progress(any_db, li, "5678")
    assert p is not None and (p.order_no, p.request_no, p.merged_into) == (li, None, None)
    assert p.stage == "已转交承办单位，等待签收" and p.reply is None
    assert progress(any_db, zhao, "9999").merged_into == parent  # the others stay merged


def test_the_tracking_page_says_which_order_a_merged_request_joined(sqlite_db):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from hotline.api.routes.track import TrackLimits
    from hotline.console import track_pages
    from hotline.runtime.settings import Limits
    parent, li, _, _ = _merged_world(sqlite_db)
    app = FastAPI()
    app.include_router(track_pages.router)
    app.state.db, app.state.track_limits = sqlite_db, TrackLimits(Limits(track_per_ip=None, track_per_order=None))
    c = TestClient(app)
    r = c.post("/console/track", data={"order_no": li, "phone_last4": "5678"})
    assert r.status_code == 200 and f"已并入工单 {parent}" in r.text and "正在回访" in r.text
    assert "三亚市住房和城乡建设局" in r.text and "李*留的电话139****5678" in r.text
    for private in PRIVATE:
        assert private not in r.text, private
    own = c.post("/console/track", data={"order_no": parent, "phone_last4": "1234"})
    assert own.status_code == 200 and "track-merged" not in own.text and f"已并入工单 {parent}" not in own.text
    wrong = c.post("/console/track", data={"order_no": li, "phone_last4": "1234"})
    unknown = c.post("/console/track", data={"order_no": "SY20261126999999", "phone_last4": "1234"})
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.text.replace(li, "X") == unknown.text.replace("SY20261126999999", "X")  # the same page
