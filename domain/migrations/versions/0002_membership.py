"""Membership: members, status history, consents, equity lots, payouts; member number sequence.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 07:30:38.582425
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("member_number_seq")))
    op.create_table('member',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('member_number', sa.BigInteger(), server_default=sa.text("nextval('member_number_seq')"), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('contact_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('share_par_cents', sa.BigInteger(), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('probation_ends_on', sa.Date(), nullable=True),
    sa.Column('resigns_on', sa.Date(), nullable=True),
    sa.Column('external_ref', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('applicant','probationary','full','resigning','former','suspended','expelled')", name='status'),
    sa.CheckConstraint('share_par_cents > 0', name='par_positive'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('external_ref'),
    sa.UniqueConstraint('member_number')
    )
    op.create_table('member_consent',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('revoked_on', sa.Date(), nullable=True),
    sa.CheckConstraint("kind IN ('bylaw','written','check_endorsement')", name='kind'),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('member_id', 'kind', 'received_on', name='uq_member_consent_member_kind_date')
    )
    op.create_index(op.f('ix_member_consent_member_id'), 'member_consent', ['member_id'], unique=False)
    op.create_table('member_status_change',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('from_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('to_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('effective_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('actor_user_id', sa.BigInteger(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_member_status_change_member_id'), 'member_status_change', ['member_id'], unique=False)
    op.create_table('payout',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('business_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('patronage_cash','equity_redemption','share_redemption','preferred_dividend')", name='kind'),
    sa.CheckConstraint("status IN ('pending','paid','failed','void','unclaimed')", name='status'),
    sa.CheckConstraint('amount_cents > 0', name='amount_positive'),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('business_key')
    )
    op.create_index(op.f('ix_payout_member_id'), 'payout', ['member_id'], unique=False)
    op.create_index(op.f('ix_payout_status'), 'payout', ['status'], unique=False)
    op.create_table('equity_lot',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('qualified', sa.Boolean(), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=True),
    sa.Column('external_ref', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('source_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('retained_patronage','imported')", name='kind'),
    sa.ForeignKeyConstraint(['account_id'], ['ledger_account.id'], ),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('external_ref'),
    sa.UniqueConstraint('source_key')
    )
    op.create_index('ix_equity_lot_fiscal_year_member', 'equity_lot', ['fiscal_year', 'member_id'], unique=False)
    op.create_index(op.f('ix_equity_lot_member_id'), 'equity_lot', ['member_id'], unique=False)
    op.create_foreign_key('fk_app_user_member_id_member', 'app_user', 'member', ['member_id'], ['id'])
    op.create_foreign_key('fk_ledger_account_member_id_member', 'ledger_account', 'member', ['member_id'], ['id'])


def downgrade() -> None:
    # WARNING: constraint name is None; this directive will fail as
    # rendered.  Add a name, or use a naming convention; see
    # https://alembic.sqlalchemy.org/en/latest/naming.html
    op.drop_constraint('fk_ledger_account_member_id_member', 'ledger_account', type_='foreignkey')
    # WARNING: constraint name is None; this directive will fail as
    # rendered.  Add a name, or use a naming convention; see
    # https://alembic.sqlalchemy.org/en/latest/naming.html
    op.drop_constraint('fk_app_user_member_id_member', 'app_user', type_='foreignkey')
    op.drop_index(op.f('ix_equity_lot_member_id'), table_name='equity_lot')
    op.drop_index('ix_equity_lot_fiscal_year_member', table_name='equity_lot')
    op.drop_table('equity_lot')
    op.drop_index(op.f('ix_payout_status'), table_name='payout')
    op.drop_index(op.f('ix_payout_member_id'), table_name='payout')
    op.drop_table('payout')
    op.drop_index(op.f('ix_member_status_change_member_id'), table_name='member_status_change')
    op.drop_table('member_status_change')
    op.drop_index(op.f('ix_member_consent_member_id'), table_name='member_consent')
    op.drop_table('member_consent')
    op.drop_table('member')
    op.execute(sa.schema.DropSequence(sa.Sequence("member_number_seq")))
