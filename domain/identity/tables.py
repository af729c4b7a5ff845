"""Users, their access tokens and sign-in throttling."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.db import utc_now


class User(SQLModel, table=True):
    """A person who signs in: co-op staff, a member's user, or a supplier's user."""

    __tablename__ = "app_user"
    __table_args__ = (
        sa.CheckConstraint("role IN ('staff','member','supplier')", name="role"),
        sa.CheckConstraint(
            "(role = 'staff' AND member_id IS NULL AND supplier_id IS NULL AND member_role IS NULL)"
            " OR (role = 'member' AND member_id IS NOT NULL AND supplier_id IS NULL"
            " AND member_role IN ('admin','buyer','finance'))"
            " OR (role = 'supplier' AND supplier_id IS NOT NULL AND member_id IS NULL AND member_role IS NULL)",
            name="tenant",
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    email: str = Field(sa_column_kwargs={"unique": True}, max_length=320)
    password_hash: str = Field(max_length=200)
    role: str = Field(max_length=16)
    member_id: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="member.id", index=True)
    supplier_id: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="supplier.id", index=True)
    member_role: str | None = Field(default=None, max_length=16)
    # Disabled users cannot sign in; their tokens are deleted when they are disabled.
    disabled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # The client address of the last successful sign-in: a known device that the
    # account's own throttle does not block (the address throttle still applies).
    last_sign_in_address: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )


class AuthToken(SQLModel, table=True):
    """A bearer token, stored as its SHA-256 digest, valid until `expires_at`."""

    __tablename__ = "auth_token"

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    token_digest: str = Field(sa_column_kwargs={"unique": True}, max_length=64)
    user_id: int = Field(sa_type=sa.BigInteger, foreign_key="app_user.id", index=True)
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )


class LoginThrottle(SQLModel, table=True):
    """Failed sign-ins of one key ("address:<ip>" or "account:<e-mail>") and how long it waits.

    Kept in PostgreSQL so every API replica throttles alike; a row is locked for the
    whole attempt, so concurrent guesses for one key are checked one after another.
    """

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=400)
    failures: int = Field(default=0)
    blocked_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    last_failure_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
