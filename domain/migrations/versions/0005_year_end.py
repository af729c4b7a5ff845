"""Year end: allocation runs and lines, payout events and paid dates.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 07:40:20.240741
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from sqlalchemy.dialects import postgresql
revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('allocation_run',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('payment_date', sa.Date(), nullable=False),
    sa.Column('request', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('totals', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('failure_reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('created_by', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('computing','computed','posted','failed')", name='status'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_allocation_run_fiscal_year'), 'allocation_run', ['fiscal_year'], unique=False)
    op.create_index('uq_allocation_run_posted_fiscal_year', 'allocation_run', ['fiscal_year'], unique=True, postgresql_where=sa.text("status = 'posted'"))
    op.create_table('allocation_line',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('member_number', sa.BigInteger(), nullable=False),
    sa.Column('patronage_cents', sa.BigInteger(), nullable=False),
    sa.Column('computed_cents', sa.BigInteger(), nullable=False),
    sa.Column('allocation_cents', sa.BigInteger(), nullable=False),
    sa.Column('cash_cents', sa.BigInteger(), nullable=False),
    sa.Column('retained_cents', sa.BigInteger(), nullable=False),
    sa.Column('loan_deduction_cents', sa.BigInteger(), nullable=False),
    sa.Column('qualified', sa.Boolean(), nullable=False),
    sa.Column('below_minimum', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['allocation_run.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'member_id', name='uq_allocation_line_run_member')
    )
    op.create_index(op.f('ix_allocation_line_member_id'), 'allocation_line', ['member_id'], unique=False)
    op.create_index(op.f('ix_allocation_line_run_id'), 'allocation_line', ['run_id'], unique=False)
    op.create_table('payout_event',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('payout_id', sa.BigInteger(), nullable=False),
    sa.Column('from_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('to_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('amount_cents', sa.BigInteger(), nullable=True),
    sa.Column('entry_id', sa.BigInteger(), nullable=True),
    sa.Column('actor_user_id', sa.BigInteger(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entry.id'], ),
    sa.ForeignKeyConstraint(['payout_id'], ['payout.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_payout_event_payout_id'), 'payout_event', ['payout_id'], unique=False)
    op.add_column('payout', sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('payout', 'paid_at')
    op.drop_index(op.f('ix_payout_event_payout_id'), table_name='payout_event')
    op.drop_table('payout_event')
    op.drop_index(op.f('ix_allocation_line_run_id'), table_name='allocation_line')
    op.drop_index(op.f('ix_allocation_line_member_id'), table_name='allocation_line')
    op.drop_table('allocation_line')
    op.drop_index('uq_allocation_run_posted_fiscal_year', table_name='allocation_run', postgresql_where=sa.text("status = 'posted'"))
    op.drop_index(op.f('ix_allocation_run_fiscal_year'), table_name='allocation_run')
    op.drop_table('allocation_run')
