"""Users, their access tokens and failed logins."""

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


class LoginFailure(SQLModel, table=True):
    """One failed sign-in, counted to throttle password guessing."""

    __tablename__ = "login_failure"
    __table_args__ = (sa.Index("ix_login_failure_email_at", "email", "occurred_at"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    email: str = Field(max_length=320)
    occurred_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
