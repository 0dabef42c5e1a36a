"""duplicate candidates (issue 18): an index for one district's recent open orders

Candidates for a new request are the open orders of its district created in the window:
one range of (district, created_at), the stage read from the index.

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_open_district", "orders", ["district", "created_at", "stage"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_orders_open_district", table_name="orders")
