"""routing corrections and suggestions (issue 19)

`routing_examples`: labelled requests learnt from operator overrides and reviewed returns
(masked text, category, district, the right unit), unique per source and origin.
`routing_suggestions`: per order, the suggestion and the model version that made it.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('routing_examples',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=24), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=True),
    sa.Column('district', sa.String(length=8), nullable=True),
    sa.Column('unit_code', sa.String(length=16), nullable=False),
    sa.Column('suggested', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'ref', name='uq_routing_examples_source_ref')
    )
    op.create_index('ix_routing_examples_unit_code', 'routing_examples', ['unit_code'])
    op.create_index('ix_routing_examples_created_at', 'routing_examples', ['created_at'])
    op.create_table('routing_suggestions',
    sa.Column('order_no', sa.String(length=32), nullable=False),
    sa.Column('model_version', sa.String(length=32), nullable=True),
    sa.Column('suggested', sa.String(length=16), nullable=True),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('owner', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('order_no')
    )
    op.create_index('ix_routing_suggestions_created_at', 'routing_suggestions', ['created_at'])


def downgrade() -> None:
    op.drop_table('routing_suggestions')
    op.drop_table('routing_examples')
