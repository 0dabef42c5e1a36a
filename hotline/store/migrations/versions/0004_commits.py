"""what local activities wrote, held until their workflow task commits

Local activities write the audit log, the read model and the outbox while their workflow task
is still running; if that task never commits (a worker killed, a server restarted), the order
carries on from its last committed point and may take another path. Each such write now names
its workflow task (`wft`) and a token of its own execution, which the local activity returns
into the history; rows stay unconfirmed (outbox: "held") until that token is seen recorded in the
order's history (hotline/store/commits.py).

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('actions') as b:
        b.add_column(sa.Column('wft', sa.Integer(), nullable=True))
        b.add_column(sa.Column('token', sa.String(length=40), nullable=True))
        b.add_column(sa.Column('confirmed', sa.Boolean(), nullable=False, server_default=sa.true()))
        b.create_index('ix_actions_unconfirmed', ['confirmed'])
    with op.batch_alter_table('orders') as b:
        b.add_column(sa.Column('last_wft', sa.Integer(), nullable=True))
        b.add_column(sa.Column('last_token', sa.String(length=40), nullable=True))
    with op.batch_alter_table('outbox') as b:
        b.add_column(sa.Column('wft', sa.Integer(), nullable=True))
        b.add_column(sa.Column('token', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox') as b:
        b.drop_column('token')
        b.drop_column('wft')
    with op.batch_alter_table('orders') as b:
        b.drop_column('last_token')
        b.drop_column('last_wft')
    with op.batch_alter_table('actions') as b:
        b.drop_index('ix_actions_unconfirmed')
        b.drop_column('confirmed')
        b.drop_column('token')
        b.drop_column('wft')
