"""Governance: ballots, candidates, proxies, the voter roll, cast ballots (apart) and results (immutable).

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A result is computed once at close and then never changes.
IMMUTABLE = (
    """
CREATE FUNCTION ballot_result_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ballot results are immutable (%)', TG_OP USING ERRCODE = 'check_violation';
END;
$$
""",
    """
CREATE TRIGGER ballot_result_immutable BEFORE UPDATE OR DELETE ON ballot_result
    FOR EACH ROW EXECUTE FUNCTION ballot_result_immutable()
""",
)


def upgrade() -> None:
    op.create_table(
        "ballot",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("record_date", sa.Date(), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("quorum_rate", sa.Numeric(9, 6), nullable=False),
        sa.Column("threshold", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("seats", sa.Integer(), nullable=True),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("secret", sa.Boolean(), nullable=False),
        sa.Column("proxy_cap", sa.Integer(), nullable=True),
        sa.Column("seal", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('resolution','election')", name=op.f("ck_ballot_kind")),
        sa.CheckConstraint("status IN ('scheduled','open','closed')", name=op.f("ck_ballot_status")),
        sa.CheckConstraint(
            "threshold IS NULL OR threshold IN ('majority','two_thirds','three_quarters')",
            name=op.f("ck_ballot_threshold"),
        ),
        sa.CheckConstraint("method IS NULL OR method IN ('stv','plurality')", name=op.f("ck_ballot_method")),
        sa.CheckConstraint("quorum_rate BETWEEN 0 AND 1", name=op.f("ck_ballot_quorum_rate")),
        sa.CheckConstraint("opens_at < closes_at", name=op.f("ck_ballot_opens_before_closing")),
        sa.CheckConstraint(
            "(kind = 'resolution' AND threshold IS NOT NULL AND seats IS NULL AND method IS NULL)"
            " OR (kind = 'election' AND threshold IS NULL AND seats >= 1 AND method IS NOT NULL)",
            name=op.f("ck_ballot_kind_fields"),
        ),
        sa.CheckConstraint("status <> 'closed' OR seal IS NULL", name=op.f("ck_ballot_seal_erased_at_close")),
        sa.CheckConstraint("proxy_cap IS NULL OR proxy_cap BETWEEN 1 AND 100", name=op.f("ck_ballot_proxy_cap")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballot")),
    )
    op.create_index("ix_ballot_status_opens_at", "ballot", ["status", "opens_at"], unique=False)
    op.create_index("ix_ballot_status_closes_at", "ballot", ["status", "closes_at"], unique=False)
    op.create_table(
        "ballot_candidate",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("ballot_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(["ballot_id"], ["ballot.id"], name=op.f("fk_ballot_candidate_ballot_id_ballot")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballot_candidate")),
        sa.UniqueConstraint("ballot_id", "position", name="uq_ballot_candidate_position"),
    )
    op.create_index(op.f("ix_ballot_candidate_ballot_id"), "ballot_candidate", ["ballot_id"], unique=False)
    op.create_table(
        "ballot_proxy",
        sa.Column("ballot_id", sa.BigInteger(), nullable=False),
        sa.Column("grantor_member_id", sa.BigInteger(), nullable=False),
        sa.Column("holder_member_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("grantor_member_id <> holder_member_id", name=op.f("ck_ballot_proxy_not_self")),
        sa.ForeignKeyConstraint(["ballot_id"], ["ballot.id"], name=op.f("fk_ballot_proxy_ballot_id_ballot")),
        sa.ForeignKeyConstraint(
            ["grantor_member_id"], ["member.id"], name=op.f("fk_ballot_proxy_grantor_member_id_member")
        ),
        sa.ForeignKeyConstraint(["holder_member_id"], ["member.id"], name=op.f("fk_ballot_proxy_holder_member_id_member")),
        sa.PrimaryKeyConstraint("ballot_id", "grantor_member_id", name=op.f("pk_ballot_proxy")),
    )
    op.create_index(op.f("ix_ballot_proxy_holder_member_id"), "ballot_proxy", ["holder_member_id"], unique=False)
    op.create_table(
        "ballot_voter",
        sa.Column("ballot_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["ballot_id"], ["ballot.id"], name=op.f("fk_ballot_voter_ballot_id_ballot")),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_ballot_voter_member_id_member")),
        sa.PrimaryKeyConstraint("ballot_id", "member_id", name=op.f("pk_ballot_voter")),
    )
    op.create_table(
        "cast_ballot",
        sa.Column("ballot_id", sa.BigInteger(), nullable=False),
        sa.Column("receipt", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("slot", sa.LargeBinary(), nullable=True),
        sa.Column("choice", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("ranking", postgresql.ARRAY(sa.BigInteger()), nullable=True),
        sa.CheckConstraint("choice IS NULL OR choice IN ('yes','no','abstain')", name=op.f("ck_cast_ballot_choice")),
        sa.CheckConstraint("(choice IS NULL) <> (ranking IS NULL)", name=op.f("ck_cast_ballot_choice_or_ranking")),
        sa.ForeignKeyConstraint(["ballot_id"], ["ballot.id"], name=op.f("fk_cast_ballot_ballot_id_ballot")),
        sa.PrimaryKeyConstraint("ballot_id", "receipt", name=op.f("pk_cast_ballot")),
        sa.UniqueConstraint("ballot_id", "slot", name="uq_cast_ballot_slot"),
    )
    op.create_table(
        "ballot_result",
        sa.Column("ballot_id", sa.BigInteger(), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ballot_id"], ["ballot.id"], name=op.f("fk_ballot_result_ballot_id_ballot")),
        sa.PrimaryKeyConstraint("ballot_id", name=op.f("pk_ballot_result")),
    )
    for statement in IMMUTABLE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER ballot_result_immutable ON ballot_result")
    op.execute("DROP FUNCTION ballot_result_immutable()")
    op.drop_table("ballot_result")
    op.drop_table("cast_ballot")
    op.drop_table("ballot_voter")
    op.drop_index(op.f("ix_ballot_proxy_holder_member_id"), table_name="ballot_proxy")
    op.drop_table("ballot_proxy")
    op.drop_index(op.f("ix_ballot_candidate_ballot_id"), table_name="ballot_candidate")
    op.drop_table("ballot_candidate")
    op.drop_index("ix_ballot_status_closes_at", table_name="ballot")
    op.drop_index("ix_ballot_status_opens_at", table_name="ballot")
    op.drop_table("ballot")
