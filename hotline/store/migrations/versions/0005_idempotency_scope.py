"""idempotency keys scoped to the API key and bound to the request body

The same Idempotency-Key with the same body returns the same order; with another body it is
refused (409), and two API keys (or channels) never share a key's order.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('orders') as b:
        b.alter_column('idempotency_key', existing_type=sa.String(length=128), type_=sa.String(length=200),
                       existing_nullable=True)
        b.add_column(sa.Column('idempotency_hash', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('orders') as b:
        b.drop_column('idempotency_hash')
        b.alter_column('idempotency_key', existing_type=sa.String(length=200), type_=sa.String(length=128),
                       existing_nullable=True)
