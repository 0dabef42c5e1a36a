"""merged requests (并单, issue 18)

`merged_requests`: a request merged into an open order instead of becoming one, with its own
number (the orders' series), its petitioner and the intake as submitted; unmerged_* once a
wrong merge is undone (the request then has an order of the same number). Indexed by parent
(its co-petitioners) and by merge time (the KPIs' request counts).

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('merged_requests',
    sa.Column('request_no', sa.String(length=32), nullable=False),
    sa.Column('parent_order_no', sa.String(length=32), nullable=False),
    sa.Column('intake', sa.JSON(), nullable=False),
    sa.Column('petitioner_name', sa.String(length=64), nullable=False),
    sa.Column('petitioner_phone', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('district', sa.String(length=8), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('merged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('merged_by', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('idempotency_hash', sa.String(length=64), nullable=True),
    sa.Column('unmerged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('unmerged_by', sa.String(length=64), nullable=True),
    sa.Column('unmerge_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('request_no'),
    sa.UniqueConstraint('idempotency_key')
    )
    op.create_index('ix_merged_requests_parent_order_no', 'merged_requests', ['parent_order_no'])
    op.create_index('ix_merged_requests_kpi', 'merged_requests', ['merged_at', 'parent_order_no', 'unmerged_at'])


def downgrade() -> None:
    op.drop_table('merged_requests')
