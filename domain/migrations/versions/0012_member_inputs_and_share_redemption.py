"""Members: one member per e-mail, one consent per kind, and the board's share redemption decisions.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE member SET email = lower(btrim(email)) WHERE email <> lower(btrim(email))")
    # Two members sharing an address cannot be merged by a migration: a person must decide.
    op.execute("""
DO $$
DECLARE dup text;
BEGIN
  SELECT email INTO dup FROM member GROUP BY email HAVING count(*) > 1 LIMIT 1;
  IF dup IS NOT NULL THEN
    RAISE EXCEPTION 'members share the e-mail %; give each its own before upgrading', dup;
  END IF;
END $$
""")
    op.create_unique_constraint("uq_member_email", "member", ["email"])
    op.create_check_constraint("email_normalized", "member", "email = lower(btrim(email))")
    # Keep the earliest consent of each kind, the one in force first.
    op.execute("""
DELETE FROM member_consent c
 USING member_consent k
 WHERE k.member_id = c.member_id AND k.kind = c.kind
   AND (k.received_on, k.id) < (c.received_on, c.id)
""")
    op.drop_constraint("uq_member_consent_member_kind_date", "member_consent", type_="unique")
    op.create_unique_constraint("uq_member_consent_member_kind", "member_consent", ["member_id", "kind"])
    op.create_table(
        "share_redemption_decision",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("payout_cents", sa.BigInteger(), nullable=False),
        sa.Column("set_off_cents", sa.BigInteger(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("decision IN ('approved','declined')", name="decision"),
        sa.CheckConstraint("payout_cents >= 0 AND set_off_cents >= 0", name="amounts_not_negative"),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("member_id"),
    )


def downgrade() -> None:
    op.drop_table("share_redemption_decision")
    op.drop_constraint("uq_member_consent_member_kind", "member_consent", type_="unique")
    op.create_unique_constraint(
        "uq_member_consent_member_kind_date", "member_consent", ["member_id", "kind", "received_on"]
    )
    op.drop_constraint(op.f("ck_member_email_normalized"), "member", type_="check")
    op.drop_constraint("uq_member_email", "member", type_="unique")
