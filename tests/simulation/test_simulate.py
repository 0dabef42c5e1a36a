"""The history simulator: same rows as the activities write, deterministic, Sanya's headline."""
from __future__ import annotations

import hashlib
import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from pytest_postgresql.janitor import DatabaseJanitor
from sqlalchemy import text

from hotline.domain.policy import Duration, load_policy
from hotline.domain.workcal import calendar_for
from hotline.reporting import kpi
from hotline.simulation.clock import FastClock
from hotline.simulation.scenario import SimulationError, simulate
from hotline.store import Database
from hotline.store.order_numbers import reserve_order
from tests.store.test_store import REQ

POLICY = load_policy("sanya")
TABLES = {"orders": "order_no", "actions": "order_no, seq", "dispatches": "order_no, seq",
          "return_requests": "order_no, seq", "callbacks": "order_no, seq", "supervision_events": "key"}


@pytest.fixture
def twin_db(any_db, request, tmp_path):
    """A second empty database of the same kind as any_db."""
    if any_db.is_sqlite:
        db = Database(f"sqlite:///{tmp_path / 'twin.db'}")
        db.migrate()
        yield db
        db.dispose()
        return
    pg = request.getfixturevalue("pg_server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with DatabaseJanitor(user="postgres", host=pg["host"], port=pg["port"], dbname=name):
        db = Database(f"postgresql+psycopg2://postgres@{pg['host']}:{pg['port']}/{name}")
        db.migrate()
        yield db
        db.dispose()


def rows(db, skip=("id", "updated_at")) -> dict[str, list[dict]]:
    out = {}
    with db.engine.connect() as c:
        for table, order in TABLES.items():
            result = c.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))
            out[table] = [{k: _norm(v) for k, v in r._mapping.items() if k not in skip} for r in result]
    return out


def _norm(v):
    if isinstance(v, datetime):  # SQLite gives naive UTC, PostgreSQL aware
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).astimezone(UTC)
    if isinstance(v, str) and v[:1] in "{[":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def digest(db) -> str:
    return hashlib.sha256(repr(rows(db, skip=())).encode()).hexdigest()


def test_bulk_rows_are_the_rows_record_step_writes(any_db, twin_db):
    """Same seed: once through record_step / record_ledger_event step by step, once in bulk."""
    args = dict(months=1, orders_per_day=5, seed=7, until=date(2026, 4, 1), workers=1)
    exact = simulate(any_db, exact=True, **args)
    bulk = simulate(twin_db, **args)
    assert exact["orders"] == bulk["orders"] > 100
    a, b = rows(any_db), rows(twin_db)
    for table in TABLES:
        assert len(a[table]) == len(b[table]), table
        for x, y in zip(a[table], b[table], strict=True):  # the first differing row, by column
            assert x == y, (table, {k: (x[k], y.get(k)) for k in x if x[k] != y.get(k)})
    assert sum(len(v) for v in a.values()) > 1000


def test_same_seed_same_rows_whatever_the_number_of_workers(tmp_path):
    digests = []
    for n, workers in enumerate((1, 2, 1)):
        db = Database(f"sqlite:///{tmp_path / f'sim{n}.db'}")
        db.migrate()
        simulate(db, months=3, orders_per_day=6, seed=99 if n < 2 else 100, until=date(2026, 2, 1), workers=workers)
        digests.append(digest(db))
        db.dispose()
    assert digests[0] == digests[1] != digests[2]


def test_two_years_show_sanyas_drop_in_invalid_returns(sqlite_db):
    s = simulate(sqlite_db, months=24, orders_per_day=12, seed=12345, until=date(2026, 11, 1))
    assert s["orders"] > 8000 and s["ledger"].get("criticism", 0) > 0
    k = kpi.kpis(sqlite_db, "2025-11-01", "2026-11-01")
    assert -0.70 < k["invalid_returns"]["yoy"] < -0.45  # Sanya reported −58%
    assert 0.9 < k["response_rate"]["value"] < 1 and 0.8 < k["on_time_rate"]["value"] < 1
    assert 0.75 < k["resolution_rate"]["value"] < 0.95 and 0.8 < k["satisfaction_rate"]["value"] < 0.97
    assert k["satisfaction_rate"]["change"] > 0 and 5 < k["avg_handling_hours"]["value"] < 40
    assert k["criticisms"]["value"] > 0
    m = kpi.monthly_invalid_returns(sqlite_db, 2026)
    assert sum(m["this_year"][:10]) < sum(m["last_year"][:10])


def test_refuses_to_mix_into_real_or_earlier_simulated_history(sqlite_db):
    reserve_order(sqlite_db, REQ, "ZJJ", None, now=datetime(2026, 3, 2, tzinfo=UTC))
    with pytest.raises(SimulationError, match="1 real work orders"):
        simulate(sqlite_db, months=1, orders_per_day=2, until=date(2026, 4, 1))
    simulate(sqlite_db, months=1, orders_per_day=2, until=date(2026, 4, 1), force=True, workers=1)
    with pytest.raises(SimulationError, match="already holds .* simulated orders"):
        simulate(sqlite_db, months=1, orders_per_day=2, until=date(2026, 4, 1), force=True)


@pytest.mark.parametrize("kwargs,message", [
    ({"months": 0}, "months must be"), ({"months": "24"}, "months must be"),
    ({"orders_per_day": 0}, "orders per day"), ({"orders_per_day": 2.5}, "orders per day"),
    ({"until": date(2000, 6, 1)}, "would start in 1998"),
])
def test_bad_parameters(sqlite_db, kwargs, message):
    with pytest.raises(SimulationError, match=message):
        simulate(sqlite_db, **kwargs)


def test_fast_clock_is_the_calendar_instant_for_instant():
    cal = calendar_for(POLICY)
    clock = FastClock(cal, date(2024, 1, 1), date(2027, 6, 1))  # 2027: guessed days, provisional deadlines
    rng = random.Random(5)
    limits = [Duration.parse(x) for x in ("1wd", "2wd", "3wd", "5wd", "4wh", "2h", "30m", "24h", "12wd")]
    base = datetime(2024, 1, 2, tzinfo=UTC)
    for i in range(4000):
        t = base + timedelta(seconds=rng.randrange(int(3.3 * 365 * 86400)), microseconds=rng.randrange(10**6))
        if i % 5 == 0:
            t = t.replace(minute=0, second=0, microsecond=0)  # on span edges
        limit, f = rng.choice(limits), rng.choice((1.0, 0.75, rng.random()))
        d = cal.fraction(t, limit, f)
        assert clock.fraction(t, limit, f) == (d.at.astimezone(UTC), d.provisional), (t, limit, f)
        u = t + timedelta(hours=rng.uniform(0, 400))
        assert clock.working_seconds(t, u) == pytest.approx(cal.working_seconds_between(t, u), abs=1e-6)
