"""SQLAlchemy 2 tables (SPEC §9). The registry, the read model, the ledger and the outbox.

Unique keys carry the exactly-once guarantees: an activity retried after a crash writes
the same key again and the insert is skipped, so no fact is recorded or notified twice.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hotline.store.sealed import SealedString


class Base(DeclarativeBase):
    # Every mapped class here has a Table (SQLAlchemy types __table__ as the FromClause it may be
    # in general); declared so, its .insert()/.update()/.delete() are known to the type checker.
    __table__: ClassVar[Table]


class UTCDateTime(TypeDecorator):
    """An instant, stored in UTC and read back aware, on every backend.

    SQLite has no time-zone type: without this, a deadline given in +08:00 would be stored as
    its wall-clock text and read back naive, eight hours off when compared with UTC instants.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime: every instant in the store carries its offset")
            value = value.astimezone(timezone.utc)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


TS = UTCDateTime()


class UnitRow(Base):
    __tablename__ = "units"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16))
    districts: Mapped[list] = mapped_column(JSON, default=list)
    webhook_url: Mapped[str | None] = mapped_column(String(512), nullable=True)
    places: Mapped[list] = mapped_column(JSON, default=list)
    # sealed with the key ring (hotline/store/sealed.py): a copy of the database cannot sign deliveries
    webhook_secret: Mapped[str | None] = mapped_column(SealedString("webhook_secret"), nullable=True)


class EntryRow(Base):
    __tablename__ = "responsibility_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code", ondelete="CASCADE"), index=True)
    matter: Mapped[str] = mapped_column(String(256))
    keywords: Mapped[list] = mapped_column(JSON, default=list)
    categories: Mapped[list] = mapped_column(JSON, default=list)
    districts: Mapped[list] = mapped_column(JSON, default=list)
    basis: Mapped[str | None] = mapped_column(String(512), nullable=True)
    places: Mapped[list] = mapped_column(JSON, default=list)  # the entry applies only where one is named


class OrderRow(Base):
    """Read model of a work order, kept current by the workflow's activities."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_kpi_replied", "replied_at", "owner", "replied_on_time", "dispatched_at"),
                      # duplicate candidates (issue 18): one district's orders of the last days
                      Index("ix_orders_open_district", "district", "created_at", "stage"))
    order_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(64))
    # "<scope>:<Idempotency-Key>" (scope: the API key, or the CLI) and a hash of the request body
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    idempotency_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    stage: Mapped[str] = mapped_column(String(16), index=True)
    owner: Mapped[str] = mapped_column(String(16), index=True)
    category: Mapped[str] = mapped_column(String(16))
    urgency: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    district: Mapped[str | None] = mapped_column(String(8), nullable=True)
    petitioner_name: Mapped[str] = mapped_column(String(64))
    petitioner_phone: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(TS, index=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    signed_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    replied_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    reply_by: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    replied_on_time: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    resolved: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    close_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    overdue: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    reopens: Mapped[int] = mapped_column(Integer, default=0)
    return_count: Mapped[int] = mapped_column(Integer, default=0)
    extension_days: Mapped[int] = mapped_column(Integer, default=0)
    handling_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    state: Mapped[dict] = mapped_column(JSON, default=dict)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    # The workflow task (its started event id) whose local activity wrote this state; null when
    # a regular activity did. A write from a later task wins over one from an earlier task whose
    # commit failed (hotline/store/commits.py).
    last_wft: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_token: Mapped[str | None] = mapped_column(String(40), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(TS)


class ActionRow(Base):
    """Audit log: who did what, when, why (one row per step, keyed by the order's step seq)."""

    __tablename__ = "actions"
    __table_args__ = (UniqueConstraint("order_no", "seq", name="uq_actions_order_seq"),
                      Index("ix_actions_unconfirmed", "confirmed"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_no: Mapped[str] = mapped_column(String(32), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(TS, index=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    # Written by a local activity in workflow task `wft` (its started event id), execution
    # `token`: confirmed once that token is seen recorded in the order's history (hotline/store/commits.py).
    wft: Mapped[int | None] = mapped_column(Integer, nullable=True)
    token: Mapped[str | None] = mapped_column(String(40), nullable=True)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=True)


class DispatchRow(Base):
    """Each dispatch of an order to an owner, with its sign-for timeliness (KPI response rate)."""

    __tablename__ = "dispatches"
    __table_args__ = (UniqueConstraint("order_no", "seq", name="uq_dispatches_order_seq"),
                      Index("ix_dispatches_kpi", "dispatched_at", "unit_code", "signed_on_time"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_no: Mapped[str] = mapped_column(String(32), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    unit_code: Mapped[str] = mapped_column(String(16), index=True)
    dispatched_at: Mapped[datetime] = mapped_column(TS, index=True)
    sign_by: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    signed_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    signed_on_time: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class ReturnRequestRow(Base):
    __tablename__ = "return_requests"
    __table_args__ = (UniqueConstraint("order_no", "seq", name="uq_returns_order_seq"),
                      Index("ix_return_requests_kpi", "requested_at", "unit_code"),
                      Index("ix_return_requests_rejected", "decision", "reviewed_at", "unit_code"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_no: Mapped[str] = mapped_column(String(32), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    unit_code: Mapped[str] = mapped_column(String(16), index=True)
    claimed_unit: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    basis: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(TS, index=True)
    recommendation: Mapped[dict] = mapped_column(JSON, default=dict)
    decision: Mapped[str | None] = mapped_column(String(8), nullable=True)
    reviewer: Mapped[str | None] = mapped_column(String(64), nullable=True)
    review_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)


class CallbackRow(Base):
    __tablename__ = "callbacks"
    __table_args__ = (UniqueConstraint("order_no", "seq", name="uq_callbacks_order_seq"),
                      Index("ix_callbacks_kpi", "at", "unit_code", "answered", "unrated", "resolved", "satisfaction"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_no: Mapped[str] = mapped_column(String(32), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    unit_code: Mapped[str] = mapped_column(String(16), index=True)
    at: Mapped[datetime] = mapped_column(TS, index=True)
    answered: Mapped[bool] = mapped_column(Boolean)
    resolved: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    satisfaction: Mapped[str | None] = mapped_column(String(24), nullable=True)
    unrated: Mapped[bool] = mapped_column(Boolean, default=False)


class SupervisionEventRow(Base):
    """The ledger: strikes, criticisms, referrals. `key` makes each fact exactly-once."""

    __tablename__ = "supervision_events"
    __table_args__ = (Index("ix_supervision_events_kpi", "kind", "at", "unit_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    unit_code: Mapped[str] = mapped_column(String(16), index=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(24), index=True)
    at: Mapped[datetime] = mapped_column(TS, index=True)
    order_no: Mapped[str | None] = mapped_column(String(32), nullable=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class OutboxRow(Base):
    """Transactional outbox: written once per fact, delivered by the dispatcher with retries."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(16))  # webhook | sms | log
    recipient: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    order_no: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    body: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(TS)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TS)
    delivered_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Written by a local activity in workflow task `wft`: status "held" until its `token` is seen
    # recorded in the order's history, "void" if another execution's was (hotline/store/commits.py).
    wft: Mapped[int | None] = mapped_column(Integer, nullable=True)
    token: Mapped[str | None] = mapped_column(String(40), nullable=True)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    role: Mapped[str] = mapped_column(String(32))
    label: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(TS)
    revoked_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)


class StaffAccountRow(Base):
    """A person signing in to the web console (hotline/console): the role strings of API keys."""

    __tablename__ = "staff_accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(256))
    # bumped to end every session of the account at once (logout, disable, password reset)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(TS)
    disabled_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)


class SequenceRow(Base):
    """Daily order-number counters (SY<yyyymmdd><nnnnnn>)."""

    __tablename__ = "order_sequences"
    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class CalendarYearRow(Base):
    """A year whose whole working-day schedule the hotline office entered from the State
    Council's notice: its days not listed in `calendar_days` are plain Monday–Friday, and known."""

    __tablename__ = "calendar_years"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    notice: Mapped[str] = mapped_column(String(200))
    entered_by: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[datetime] = mapped_column(TS)


class CalendarDayRow(Base):
    """One day of an entered schedule that is not plain Monday–Friday (a holiday, or a make-up
    working day 调休上班), with who entered it, when and from which notice. `year` is the
    schedule's: a notice may arrange the last days of the year before (New Year)."""

    __tablename__ = "calendar_days"
    year: Mapped[int] = mapped_column(ForeignKey("calendar_years.year", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(200))
    notice: Mapped[str] = mapped_column(String(200))
    entered_by: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[datetime] = mapped_column(TS)


class RoutingExampleRow(Base):
    """A labelled request learnt from a correction (issue 19): masked text only, no petitioner."""
    __tablename__ = "routing_examples"
    __table_args__ = (UniqueConstraint("source", "ref", name="uq_routing_examples_source_ref"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(24))  # intake_override | return_approved | return_rejected | manual
    ref: Mapped[str] = mapped_column(String(64))  # what it came from (order no, order#seq): once only
    text: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(16), nullable=True)
    district: Mapped[str | None] = mapped_column(String(8), nullable=True)
    unit_code: Mapped[str] = mapped_column(String(16), index=True)  # the right unit
    suggested: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(TS, index=True)


class RoutingSuggestionRow(Base):
    """What routing suggested for an order at intake, and under which model version."""
    __tablename__ = "routing_suggestions"
    order_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    suggested: Mapped[str | None] = mapped_column(String(16), nullable=True)
    decision: Mapped[str] = mapped_column(String(20))
    owner: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(TS, index=True)


class MergedRequestRow(Base):
    """A request merged into an open order (并单, issue 18): its own number (the orders' series)
    and petitioner, no workflow of its own; the parent's workflow lists it as a co-petitioner.
    Unmerged (a wrong merge undone), it becomes an order under the same number."""

    __tablename__ = "merged_requests"
    # the KPIs count requests merged in a period per parent: one range of merged_at
    __table_args__ = (Index("ix_merged_requests_kpi", "merged_at", "parent_order_no", "unmerged_at"),)
    request_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    parent_order_no: Mapped[str] = mapped_column(String(32), index=True)
    intake: Mapped[dict] = mapped_column(JSON)  # the IntakeRequest as submitted
    petitioner_name: Mapped[str] = mapped_column(String(64))
    petitioner_phone: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(8))
    district: Mapped[str | None] = mapped_column(String(8), nullable=True)
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(TS)
    merged_at: Mapped[datetime] = mapped_column(TS)
    merged_by: Mapped[str] = mapped_column(String(64))
    # as for orders: "<scope>:<Idempotency-Key>" and a hash of the request body and its parent
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    idempotency_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    unmerged_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    unmerged_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    unmerge_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
