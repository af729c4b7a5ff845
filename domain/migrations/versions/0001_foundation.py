"""Foundation: users and tokens, idempotency, outbox, and the append-only double-entry ledger.

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 07:19:40.187686
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The ledger's promises are kept by the database itself, whatever the code does:
# an entry's debits equal its credits (checked at commit, so the postings of one
# entry can be inserted one by one), and nothing once written is changed or removed.
LEDGER_GUARDS = """
CREATE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    checked_id bigint;
    debits bigint;
    credits bigint;
BEGIN
    -- Two IFs, not one CASE: plpgsql plans the whole CASE, and journal_entry has no entry_id.
    IF TG_TABLE_NAME = 'journal_entry' THEN
        checked_id := NEW.id;
    ELSE
        checked_id := NEW.entry_id;
    END IF;
    SELECT coalesce(sum(amount_cents) FILTER (WHERE side = 'debit'), 0),
           coalesce(sum(amount_cents) FILTER (WHERE side = 'credit'), 0)
      INTO debits, credits
      FROM posting WHERE entry_id = checked_id;
    IF debits = 0 OR debits <> credits THEN
        RAISE EXCEPTION 'journal entry % is unbalanced: debits % credits %', checked_id, debits, credits
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER posting_balanced AFTER INSERT ON posting
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced();

CREATE CONSTRAINT TRIGGER journal_entry_has_postings AFTER INSERT ON journal_entry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced();

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is not allowed: the ledger is append-only; post a reversal instead', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER journal_entry_append_only BEFORE UPDATE OR DELETE ON journal_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

CREATE TRIGGER posting_append_only BEFORE UPDATE OR DELETE ON posting
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

CREATE TRIGGER journal_entry_no_truncate BEFORE TRUNCATE ON journal_entry
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

CREATE TRIGGER posting_no_truncate BEFORE TRUNCATE ON posting
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
"""

DROP_LEDGER_GUARDS = """
DROP TRIGGER posting_no_truncate ON posting;
DROP TRIGGER journal_entry_no_truncate ON journal_entry;
DROP TRIGGER posting_append_only ON posting;
DROP TRIGGER journal_entry_append_only ON journal_entry;
DROP FUNCTION ledger_append_only();
DROP TRIGGER journal_entry_has_postings ON journal_entry;
DROP TRIGGER posting_balanced ON posting;
DROP FUNCTION ledger_entry_balanced();
"""


def upgrade() -> None:
    op.create_table('app_user',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=True),
    sa.Column('supplier_id', sa.BigInteger(), nullable=True),
    sa.Column('member_role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(role = 'staff' AND member_id IS NULL AND supplier_id IS NULL AND member_role IS NULL) OR (role = 'member' AND member_id IS NOT NULL AND supplier_id IS NULL AND member_role IN ('admin','buyer','finance')) OR (role = 'supplier' AND supplier_id IS NOT NULL AND member_id IS NULL AND member_role IS NULL)", name='tenant'),
    sa.CheckConstraint("role IN ('staff','member','supplier')", name='role'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email')
    )
    op.create_index(op.f('ix_app_user_member_id'), 'app_user', ['member_id'], unique=False)
    op.create_index(op.f('ix_app_user_supplier_id'), 'app_user', ['supplier_id'], unique=False)
    op.create_table('idempotency_record',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('caller', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('request_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response_headers', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('response_body', sa.LargeBinary(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('started','completed')", name='state'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('caller', 'key', name='uq_idempotency_record_caller_key')
    )
    op.create_table('journal_entry',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('memo', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('reverses_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['reverses_id'], ['journal_entry.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key'),
    sa.UniqueConstraint('reverses_id')
    )
    op.create_table('ledger_account',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('asset','liability','equity','income','expense')", name='kind'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_index(op.f('ix_ledger_account_member_id'), 'ledger_account', ['member_id'], unique=False)
    op.create_table('login_failure',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_login_failure_email_at', 'login_failure', ['email', 'occurred_at'], unique=False)
    op.create_table('outbox_job',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('job_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('business_key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('business_key')
    )
    op.create_index('ix_outbox_job_pending', 'outbox_job', ['id'], unique=False, postgresql_where=sa.text('done_at IS NULL'))
    op.create_table('auth_token',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('token_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_digest')
    )
    op.create_index(op.f('ix_auth_token_user_id'), 'auth_token', ['user_id'], unique=False)
    op.create_table('posting',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('entry_id', sa.BigInteger(), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('side', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("side IN ('debit','credit')", name='side'),
    sa.CheckConstraint('amount_cents > 0', name='amount_positive'),
    sa.ForeignKeyConstraint(['account_id'], ['ledger_account.id'], ),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entry.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_posting_account_id'), 'posting', ['account_id'], unique=False)
    op.create_index(op.f('ix_posting_entry_id'), 'posting', ['entry_id'], unique=False)
    for statement in LEDGER_GUARDS.split("\n\n"):
        op.execute(statement)  # asyncpg runs one statement at a time


def downgrade() -> None:
    for statement in DROP_LEDGER_GUARDS.strip().splitlines():
        op.execute(statement)
    op.drop_index(op.f('ix_posting_entry_id'), table_name='posting')
    op.drop_index(op.f('ix_posting_account_id'), table_name='posting')
    op.drop_table('posting')
    op.drop_index(op.f('ix_auth_token_user_id'), table_name='auth_token')
    op.drop_table('auth_token')
    op.drop_index('ix_outbox_job_pending', table_name='outbox_job', postgresql_where=sa.text('done_at IS NULL'))
    op.drop_table('outbox_job')
    op.drop_index('ix_login_failure_email_at', table_name='login_failure')
    op.drop_table('login_failure')
    op.drop_index(op.f('ix_ledger_account_member_id'), table_name='ledger_account')
    op.drop_table('ledger_account')
    op.drop_table('journal_entry')
    op.drop_table('idempotency_record')
    op.drop_index(op.f('ix_app_user_supplier_id'), table_name='app_user')
    op.drop_index(op.f('ix_app_user_member_id'), table_name='app_user')
    op.drop_table('app_user')
