"""starter.py: each command on a real database (and the dev server where it needs Temporal);
bad input is one clear line on stderr, exit code 2, and changes nothing."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from hotline.store.tables import ApiKeyRow, OrderRow, UnitRow
from tests.harness import running_worker, seed_order_numbers

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, db=None, **env) -> subprocess.CompletedProcess:
    e = {**os.environ, **env}
    if db is not None:
        e["DATABASE_URL"] = db.url
    return subprocess.run([sys.executable, "starter.py", *args], cwd=ROOT, env=e, capture_output=True, text=True,
                          timeout=120)


def _count(db, table) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(table))


def test_apikey_create_prints_the_key_last_and_stores_only_a_hash(sqlite_db):
    r = cli("apikey", "create", "--role", "admin", db=sqlite_db)
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip().splitlines()[-1]
    assert key.startswith("hk_")
    with sqlite_db.session() as s:
        row = s.scalars(select(ApiKeyRow)).one()
        assert row.role == "admin" and key not in (row.key_hash, row.prefix)
    r = cli("apikey", "revoke", key, db=sqlite_db)
    assert r.returncode == 0 and "revoked 1" in r.stdout


def test_apikey_bad_role_is_one_line_and_creates_nothing(sqlite_db):
    for role in ("root", "department:NOPE"):
        r = cli("apikey", "create", "--role", role, db=sqlite_db)
        assert r.returncode == 2 and r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    assert _count(sqlite_db, ApiKeyRow) == 0


def test_units_import_refuses_a_malformed_file_whole(sqlite_db, tmp_path):
    good = cli("units", "import", "hotline/data/units.yaml", db=sqlite_db)
    assert good.returncode == 0, good.stderr
    before = _count(sqlite_db, UnitRow)
    bad = tmp_path / "units.yaml"
    bad.write_text("units:\n  - code: ZJJ\n    name: 住建局\n    type: bureau\n    districts: [YZQ]\n"
                   "    responsibilities: []\n  - code: ZJJ\n    name: 重复\n    type: planet\n    districts: [MARS]\n",
                   encoding="utf-8")
    r = cli("units", "import", str(bad), db=sqlite_db)
    assert r.returncode == 2 and "nothing changed" in r.stderr and "line " in r.stderr
    assert _count(sqlite_db, UnitRow) == before


def test_route_shows_ranking_and_evidence(sqlite_db):
    r = cli("route", "我家门口塘边路上离南滨医院500米左右那条排水沟堵了好久", "--district", "YZQ", db=sqlite_db)
    assert r.returncode == 0, r.stderr
    assert "nearest_duty" in r.stdout and "JTTZ" in r.stdout.splitlines()[1]


def test_intake_bad_input_is_one_line(sqlite_db, tmp_path):
    f = tmp_path / "o.json"
    f.write_text(json.dumps({"category": "gossip", "title": "x", "description": "y",
                             "petitioner": {"name": "a", "phone": "12345678"}}), encoding="utf-8")
    r = cli("intake", "--file", str(f), db=sqlite_db)
    assert r.returncode == 2 and "category" in r.stderr and "Traceback" not in r.stderr
    assert _count(sqlite_db, OrderRow) == 0


async def test_intake_show_act_list_on_the_dev_server(dev_env, sqlite_db):
    address = dev_env.client.service_client.config.target_host
    seed_order_numbers(sqlite_db)
    async with running_worker(dev_env.client, sqlite_db, "fast") as h:
        env = {"TEMPORAL_ADDRESS": address, "HOTLINE_TASK_QUEUE": h.queue, "HOTLINE_POLICY": "fast"}
        run = lambda *a: asyncio.to_thread(cli, *a, db=sqlite_db, **env)  # noqa: E731
        r = await run("intake", "--category", "complaint", "--title", "噪音扰民", "--description",
                      "工地夜间施工打桩噪音", "--name", "王小明", "--phone", "13800001234", "--district", "JYQ",
                      "--owner", "ZFJ")
        assert r.returncode == 0, r.stderr
        order_no = r.stdout.split()[1]
        assert "owner=ZFJ" in r.stdout and "stage=dispatched" in r.stdout
        r = await run("act", order_no, "reply", "--as", "ZFJ", "--json", '{"result": "x", "resolved": true}')
        assert r.returncode == 2 and "cannot reply an order in stage 'dispatched'" in r.stderr
        r = await run("act", order_no, "sign", "--as", "ZFJ")
        assert r.returncode == 0 and "stage=signed" in r.stdout
        # a co-handler promise nobody could ever supervise: refused here as the gateway refuses it
        plan = {"plan": "x", "co_handlers": [{"unit": "ZJJ", "task": "y", "due": "9999-12-31T00:00:00+08:00"}]}
        r = await run("act", order_no, "coordination-plan", "--as", "ZFJ", "--json", json.dumps(plan))
        assert r.returncode == 2 and "co_handlers.0.due" in r.stderr and "out of range" in r.stderr, r.stderr
        plan["co_handlers"][0]["due"] = "2099-12-31T00:00:00+08:00"
        r = await run("act", order_no, "coordination-plan", "--as", "ZFJ", "--json", json.dumps(plan))
        assert r.returncode == 2 and "too far ahead" in r.stderr, r.stderr
        r = await run("show", order_no)
        assert r.returncode == 0 and "sign" in r.stdout and "reply_by" in r.stdout
        r = await run("list", "--owner", "ZFJ")
        assert order_no in r.stdout


async def test_merge_and_unmerge_on_the_dev_server(dev_env, sqlite_db, tmp_path):
    """并单 from the command line: a request merged into an open order, a bad file and an unknown
    order refused in one line with nothing written, then the wrong merge undone."""
    from hotline.store.tables import MergedRequestRow
    address = dev_env.client.service_client.config.target_host
    seed_order_numbers(sqlite_db)
    async with running_worker(dev_env.client, sqlite_db, "fast") as h:
        env = {"TEMPORAL_ADDRESS": address, "HOTLINE_TASK_QUEUE": h.queue, "HOTLINE_POLICY": "fast"}
        run = lambda *a: asyncio.to_thread(cli, *a, db=sqlite_db, **env)  # noqa: E731
        r = await run("intake", "--category", "help", "--title", "塘边路排水沟堵了", "--description",
                      "下雨积水漫到路上", "--name", "李大海", "--phone", "13912345678", "--district", "YZQ",
                      "--owner", "ZJJ")
        assert r.returncode == 0, r.stderr
        order_no = r.stdout.split()[1]
        f = tmp_path / "again.json"
        f.write_text(json.dumps({"category": "help", "title": "塘边路水沟不通", "description": "路面淹了",
                                 "petitioner": {"name": "陈小红", "phone": "13600002222"},
                                 "location": {"district": "YZQ"}}, ensure_ascii=False), encoding="utf-8")
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"category": "help", "title": "x"}), encoding="utf-8")
        r = await run("merge", order_no, "--file", str(bad))
        assert r.returncode == 2 and "description" in r.stderr and "Traceback" not in r.stderr
        r = await run("merge", "SY20990101000001", "--file", str(f))
        assert r.returncode == 2 and "refused" in r.stderr and "Traceback" not in r.stderr
        assert _count(sqlite_db, MergedRequestRow) == 0
        r = await run("merge", order_no, "--file", str(f), "--note", "同一条沟")
        assert r.returncode == 0, r.stderr
        request_no = r.stdout.split()[1]
        assert f"merged into order {order_no}" in r.stdout and "co-petitioners=1" in r.stdout
        r = await run("unmerge", order_no, request_no, "--reason", "错并", "--as", "ZJJ")
        assert r.returncode == 2 and "refused" in r.stderr  # a unit may not undo a merge
        r = await run("unmerge", order_no, request_no, "--reason", "不是同一事项", "--as", "admin:li", "--owner", "SWJ")
        assert r.returncode == 0, r.stderr
        assert f"order {request_no}" in r.stdout and "owner=SWJ" in r.stdout and "stage=dispatched" in r.stdout
