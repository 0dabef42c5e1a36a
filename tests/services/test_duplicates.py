"""Duplicate candidates at intake (issue 18, 并单): quality on the labelled set, the indexed slice
of the read model, and the answers of the real app (intake, routing) with a real worker."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from bench.duplicates_eval import evaluate, load_reports
from hotline.services.duplicates import find_duplicates
from hotline.store.tables import OrderRow
from tests.api.test_api import ORDER, H, live_api, prepare
from tests.harness import router

DITCH = {**ORDER, "category": "help", "title": "塘边路排水沟堵了", "owner": None,
         "description": "昨晚下雨水漫到路上，车都过不去，请联系我13912345678",
         "petitioner": {"name": "李大海", "phone": "13912345678"},
         "location": {"district": "YZQ", "address": "崖州区塘边路"}}


def test_precision_and_recall_on_the_labelled_pairs():
    """The figures of bench/duplicates_eval.py at the chosen threshold (bench/RESULTS.md)."""
    f = evaluate(router(), load_reports())
    assert f["same_pairs"] + f["different_pairs"] >= 100 and f["same_pairs"] >= 90
    assert f["precision"] >= 0.96 and f["recall"] >= 0.91, f
    assert f["precision_at_3"] >= 0.97, f
    assert f["near_misses"]["same_problem"][0] >= 50 and f["near_misses"]["same_problem"][1] == 0
    assert f["near_misses"]["same_place"][0] >= 50 and f["near_misses"]["same_place"][1] <= 3


def _row(no: str, district: str, title: str, stage: str, created: datetime) -> OrderRow:
    return OrderRow(order_no=no, workflow_id=f"order-{no}", stage=stage, owner="JTTZ", category="help",
                    urgency="normal", channel="phone", title=title, district=district, petitioner_name="张三丰",
                    petitioner_phone="13700001111", created_at=created, updated_at=created,
                    state={"title": title, "description": f"{title}，张三丰，电话13700001111"})


def test_only_open_orders_of_the_district_and_window_from_an_index(sqlite_db):
    now = datetime.now(timezone.utc)
    ditch = "塘边路排水沟堵塞积水"
    with sqlite_db.session() as s:
        s.add_all([_row("SY20260101000001", "YZQ", ditch, "dispatched", now - timedelta(days=1)),
                   _row("SY20260101000002", "YZQ", ditch, "closed", now - timedelta(days=1)),
                   _row("SY20260101000003", "YZQ", ditch, "handling", now - timedelta(days=9)),
                   _row("SY20260101000004", "TYQ", ditch, "handling", now - timedelta(days=1)),
                   _row("SY20260101000005", "YZQ", "港西路排水沟堵塞积水", "signed", now - timedelta(days=2))])
    found = find_duplicates(sqlite_db, router(), "塘边路的水沟堵了，路上全是积水", "YZQ")
    assert [c.order_no for c in found] == ["SY20260101000001"]  # not closed, old, elsewhere, other street
    assert found[0].evidence.places == ["塘边路"] and found[0].evidence.words
    assert "张三丰" not in found[0].model_dump_json() and "13700001111" not in found[0].model_dump_json()
    assert len(find_duplicates(sqlite_db, router(), "塘边路的水沟堵了，路上全是积水", "YZQ", days=10)) == 2
    # the candidates are one range of the (district, created_at, stage) index, not a scan
    with sqlite_db.session() as s:
        plan = s.execute(text("EXPLAIN QUERY PLAN SELECT order_no FROM orders WHERE district = 'YZQ' "
                              "AND created_at >= '2026-01-01' AND stage IN ('dispatched', 'signed') "
                              "ORDER BY created_at DESC")).all()
    assert any("ix_orders_open_district" in str(r) for r in plan), plan


async def test_intake_and_routing_answers_name_the_open_order_of_the_same_matter(ts_env, sqlite_db):
    keys = prepare(sqlite_db)
    async with live_api(ts_env.client, sqlite_db) as (c, h):
        r = await c.post("/api/v1/orders", headers=H(keys["intake"]), json=DITCH)
        assert r.status_code == 201, r.text
        first = r.json()
        assert first["duplicates"] == []
        again = {**DITCH, "title": "塘边路水沟不通", "description": "水沟全是淤泥垃圾，一下雨就积水，路面淹了",
                 "petitioner": {"name": "陈小红", "phone": "13600002222"}}
        r = await c.post("/api/v1/orders", headers=H(keys["intake"]), json=again)
        assert r.status_code == 201, r.text
        dups = r.json()["duplicates"]
        assert [d["order_no"] for d in dups] == [first["order_no"]]
        d = dups[0]
        assert set(d) == {"order_no", "title", "stage", "owner", "created_at", "score", "evidence"}
        assert d["stage"] == "dispatched" and d["owner"] == first["owner"] and "塘边路" in d["evidence"]["places"]
        other = json.dumps(dups, ensure_ascii=False)
        assert "李大海" not in other and "13912345678" not in other
        # another problem on the same street is not offered
        noise = {**again, "title": "塘边路工地夜间施工噪音", "description": "半夜还在打桩，吵得睡不着"}
        r = await c.post("/api/v1/orders", headers=H(keys["intake"]), json=noise)
        assert r.status_code == 201 and r.json()["duplicates"] == [], r.text
        # the routing endpoint gives the same candidates before anything is created
        r = await c.get("/api/v1/routing", headers=H(keys["intake"]),
                        params={"text": "塘边路排水沟又堵了，积水漫到路上", "district": "YZQ"})
        assert r.status_code == 200, r.text
        assert {d["order_no"] for d in r.json()["duplicates"]} >= {first["order_no"]}


def test_twenty_intakes_at_once_compute_each_new_orders_signature_once(sqlite_db, monkeypatch):
    """Twenty concurrent intakes that all miss the same new open orders: one computes their
    signatures, the others wait and find them cached (each used to compute them all)."""
    import threading

    from hotline.domain.routing.router import Router
    from hotline.services import duplicates

    now = datetime.now(timezone.utc)
    with sqlite_db.session() as s:
        s.add_all([_row(f"SY2026010100{i:04d}", "YZQ", f"塘边路排水沟堵塞积水 {i}", "dispatched",
                        now - timedelta(minutes=i)) for i in range(40)])
    fresh = Router(router().catalogue)  # a router of its own: nothing of it cached by other tests
    computed: list[str] = []
    real = duplicates.signature
    monkeypatch.setattr(duplicates, "signature", lambda r, text, d: computed.append(text) or real(r, text, d))
    start = threading.Barrier(20)
    results: list[int] = []

    def intake() -> None:
        start.wait()
        results.append(len(find_duplicates(sqlite_db, fresh, "塘边路的水沟堵了，路上全是积水", "YZQ")))

    threads = [threading.Thread(target=intake) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [3] * 20
    orders = [t for t in computed if t.startswith("塘边路排水沟")]
    assert len(orders) == 40 == len(set(orders))  # each open order's signature once, not once per intake
