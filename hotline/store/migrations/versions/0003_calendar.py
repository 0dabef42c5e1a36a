"""calendar schedules entered by the hotline office

The State Council's yearly holiday schedule, entered with `starter.py calendar import` or
`POST /api/v1/calendar/{year}`: one row per year (who, when, which notice) and one per day
that is not plain Monday–Friday. Merged over the shipped override table by
`hotline.services.calendar_admin`.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('calendar_years',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('notice', sa.String(length=200), nullable=False),
    sa.Column('entered_by', sa.String(length=64), nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('year')
    )
    op.create_table('calendar_days',
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('workday', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('notice', sa.String(length=200), nullable=False),
    sa.Column('entered_by', sa.String(length=64), nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['year'], ['calendar_years.year'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('year', 'day')
    )


def downgrade() -> None:
    op.drop_table('calendar_days')
    op.drop_table('calendar_years')
