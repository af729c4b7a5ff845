"""Equity redemption: redemption runs and their lines, special redemptions (death, retirement, exit).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 07:39:45.294143
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('redemption_run',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('board_budget_cents', sa.BigInteger(), nullable=False),
    sa.Column('cash_available_cents', sa.BigInteger(), nullable=True),
    sa.Column('minimum_cash_cents', sa.BigInteger(), nullable=True),
    sa.Column('equity_cents', sa.BigInteger(), nullable=True),
    sa.Column('assets_cents', sa.BigInteger(), nullable=True),
    sa.Column('equity_ratio_floor', sa.Numeric(precision=9, scale=6), nullable=True),
    sa.Column('budget_cents', sa.BigInteger(), nullable=False),
    sa.Column('outstanding_cents', sa.BigInteger(), nullable=False),
    sa.Column('redeemed_cents', sa.BigInteger(), nullable=False),
    sa.Column('line_count', sa.Integer(), nullable=False),
    sa.Column('member_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("method IN ('fifo','percentage')", name='method'),
    sa.CheckConstraint("status IN ('computed','posted')", name='status'),
    sa.CheckConstraint('budget_cents >= 0 AND budget_cents <= board_budget_cents', name='budget_in_range'),
    sa.CheckConstraint('equity_ratio_floor IS NULL OR (equity_ratio_floor >= 0 AND equity_ratio_floor < 1)', name='ratio'),
    sa.CheckConstraint('redeemed_cents >= 0 AND redeemed_cents <= budget_cents', name='within_budget'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('special_redemption',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('discount_rate', sa.Numeric(precision=9, scale=6), nullable=False),
    sa.Column('revolving_years', sa.Integer(), nullable=False),
    sa.Column('outstanding_cents', sa.BigInteger(), nullable=False),
    sa.Column('present_value_cents', sa.BigInteger(), nullable=False),
    sa.Column('discount_cents', sa.BigInteger(), nullable=False),
    sa.Column('set_off_cents', sa.BigInteger(), nullable=False),
    sa.Column('payout_cents', sa.BigInteger(), nullable=False),
    sa.Column('payout_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("reason IN ('death','retirement','exit')", name='reason'),
    sa.CheckConstraint('discount_rate >= 0 AND discount_rate <= 1', name='rate'),
    sa.CheckConstraint('present_value_cents + discount_cents = outstanding_cents', name='adds_up'),
    sa.CheckConstraint('revolving_years >= 0', name='revolving_years'),
    sa.CheckConstraint('set_off_cents + payout_cents = present_value_cents', name='paid_out'),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['payout_id'], ['payout.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('member_id', 'as_of', name='uq_special_redemption_member_as_of')
    )
    op.create_table('redemption_line',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('lot_id', sa.BigInteger(), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('member_number', sa.BigInteger(), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('qualified', sa.Boolean(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('amount_cents > 0', name='amount_positive'),
    sa.ForeignKeyConstraint(['lot_id'], ['equity_lot.id'], ),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['redemption_run.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'lot_id', name='uq_redemption_line_run_lot')
    )
    op.create_index(op.f('ix_redemption_line_lot_id'), 'redemption_line', ['lot_id'], unique=False)
    op.create_index(op.f('ix_redemption_line_member_id'), 'redemption_line', ['member_id'], unique=False)
    op.create_table('special_redemption_line',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('special_redemption_id', sa.BigInteger(), nullable=False),
    sa.Column('lot_id', sa.BigInteger(), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('qualified', sa.Boolean(), nullable=False),
    sa.Column('outstanding_cents', sa.BigInteger(), nullable=False),
    sa.Column('years', sa.Integer(), nullable=False),
    sa.Column('present_value_cents', sa.BigInteger(), nullable=False),
    sa.Column('discount_cents', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('outstanding_cents > 0 AND present_value_cents >= 0 AND discount_cents >= 0', name='amounts'),
    sa.CheckConstraint('present_value_cents + discount_cents = outstanding_cents', name='adds_up'),
    sa.ForeignKeyConstraint(['lot_id'], ['equity_lot.id'], ),
    sa.ForeignKeyConstraint(['special_redemption_id'], ['special_redemption.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('special_redemption_id', 'lot_id', name='uq_special_redemption_line_redemption_lot')
    )
    op.create_index(op.f('ix_special_redemption_line_lot_id'), 'special_redemption_line', ['lot_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_special_redemption_line_lot_id'), table_name='special_redemption_line')
    op.drop_table('special_redemption_line')
    op.drop_index(op.f('ix_redemption_line_member_id'), table_name='redemption_line')
    op.drop_index(op.f('ix_redemption_line_lot_id'), table_name='redemption_line')
    op.drop_table('redemption_line')
    op.drop_table('special_redemption')
    op.drop_table('redemption_run')
