"""KPI indexes: each KPI query reads one index range and never touches the table.

Every index leads with the column the period filters on and carries the columns the
GROUP BY and the counts read, so on PostgreSQL the KPI queries are index-only scans and a
report over a million orders reads only the period's slice of each index.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = [
    # response rate, return rate denominator: dispatches in the period, per unit, signed in time
    ("ix_dispatches_kpi", "dispatches", ["dispatched_at", "unit_code", "signed_on_time"]),
    # return rate numerator: requests in the period, per requesting unit
    ("ix_return_requests_kpi", "return_requests", ["requested_at", "unit_code"]),
    # invalid returns (无效退单): rejected requests by review time, per unit, and per month
    ("ix_return_requests_rejected", "return_requests", ["decision", "reviewed_at", "unit_code"]),
    # on-time rate and handling time: orders by their last reply, per owner
    ("ix_orders_kpi_replied", "orders", ["replied_at", "owner", "replied_on_time", "dispatched_at"]),
    # resolution and satisfaction: callbacks in the period, per unit, with the answer
    ("ix_callbacks_kpi", "callbacks", ["at", "unit_code", "answered", "unrated", "resolved", "satisfaction"]),
    # criticisms and referrals
    ("ix_supervision_events_kpi", "supervision_events", ["kind", "at", "unit_code"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
