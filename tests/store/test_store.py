"""The store on SQLite and on a real PostgreSQL: migrations, intake reservation, outbox."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, inspect, select

from hotline.domain.contracts import NotificationRequest
from hotline.domain.models import IntakeRequest
from hotline.store.order_numbers import reserve_order
from hotline.store.outbox import LoggingSmsAdapter, OutboxDispatcher, enqueue
from hotline.store.tables import OrderRow, OutboxRow

REQ = IntakeRequest.model_validate({
    "channel": "phone", "category": "complaint", "title": "噪音", "description": "工地夜间施工噪音",
    "petitioner": {"name": "王小明", "phone": "13800001234"}, "location": {"district": "JYQ"}})


def test_migrations_create_every_table(any_db):
    names = set(inspect(any_db.engine).get_table_names())
    assert {"units", "responsibility_entries", "orders", "actions", "dispatches", "return_requests",
            "callbacks", "supervision_events", "outbox", "api_keys", "alembic_version"} <= names


def test_order_numbers_are_unique_and_idempotent(any_db):
    at = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)
    a, created_a = reserve_order(any_db, REQ, "ZJJ", "key-1", now=at)
    b, created_b = reserve_order(any_db, REQ, "ZJJ", "key-1", now=at)
    c, _ = reserve_order(any_db, REQ, "ZJJ", None, now=at)
    assert (a, created_a, created_b) == (b, True, False)
    assert a == "SY20261126000001" and c == "SY20261126000002"
    with any_db.session() as s:
        assert s.scalar(select(func.count()).select_from(OrderRow)) == 2


def test_outbox_writes_once_per_fact_and_delivers_once(any_db):
    req = NotificationRequest(key="SY1:contact:petitioner:3", order_no="SY1", kind="contact",
                              to="petitioner", subject="您好", petitioner_phone="13800001234")
    with any_db.session() as s:
        assert enqueue(s, req) is True
    with any_db.session() as s:
        assert enqueue(s, req) is False  # a retried activity writes nothing new
    sms = LoggingSmsAdapter()
    dispatcher = OutboxDispatcher(any_db, sms=sms)
    assert dispatcher.run_once() == 1
    assert dispatcher.run_once() == 0
    assert [k for _, _, k in sms.sent] == ["SY1:contact:petitioner:3"]
    with any_db.session() as s:
        row = s.scalars(select(OutboxRow)).one()
        assert row.status == "delivered" and row.attempts == 1


def test_migrations_match_the_models(any_db):
    """Alembic's autogenerate finds nothing to add: the migrations are the schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from hotline.store.tables import Base
    with any_db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_instants_come_back_in_utc_whatever_offset_they_were_written_with(any_db):
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from hotline.store.tables import DispatchRow
    cst = datetime(2026, 11, 26, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with any_db.session() as s:
        s.add(DispatchRow(order_no="SY1", seq=1, unit_code="ZJJ", dispatched_at=cst, sign_by=cst + timedelta(hours=2)))
    with any_db.session() as s:
        row = s.scalars(select(DispatchRow)).one()
        assert row.dispatched_at == cst and row.dispatched_at.utcoffset() == timedelta(0)
        assert row.sign_by == datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def test_the_sqlite_files_are_readable_by_their_owner_only(tmp_path):
    """Issue 13: the files holding petitioners' data and webhook secrets were mode 0644."""
    import stat

    from hotline.store import Database
    path = tmp_path / "var" / "hotline.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    with db.session() as s:
        s.execute(__import__("sqlalchemy").text("SELECT 1"))
    files = [p for p in path.parent.iterdir() if p.name.startswith("hotline.db")]
    assert path in files
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), {p.name: oct(p.stat().st_mode) for p in files}
    db.dispose()
    path.chmod(0o644)  # a file from before: tightened when opened again
    Database(f"sqlite:///{path}").dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_idempotency_key_is_its_callers_and_bound_to_the_body(any_db):
    """Issue 13: the same Idempotency-Key with another body returned the first order, across API
    keys and channels (an Open311 POST got another citizen's order)."""
    import pytest

    from hotline.store.order_numbers import IdempotencyConflict, reserve_order, scoped_key
    from tests.harness import intake
    a, b = intake(), intake(description="另一位市民反映的另一件事")
    first, created = reserve_order(any_db, a, "ZJJ", scoped_key("key1", "k-1"))
    assert created
    assert reserve_order(any_db, a, "ZJJ", scoped_key("key1", "k-1")) == (first, False)  # a retry: same order
    with pytest.raises(IdempotencyConflict, match=first):
        reserve_order(any_db, b, "ZJJ", scoped_key("key1", "k-1"))  # same key, another body: refused
    other, created = reserve_order(any_db, b, "ZJJ", scoped_key("open311:key2", "k-1"))
    assert created and other != first  # another caller's key of the same name is its own
