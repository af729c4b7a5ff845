"""Outbox rows: one per job, unique by business key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from domain.db import utc_now


class OutboxJob(SQLModel, table=True):
    """A job to run at least once; `done_at` (or `failed_at`) makes every later run a no-op."""

    __tablename__ = "outbox_job"
    __table_args__ = (sa.Index("ix_outbox_job_pending", "id", postgresql_where=sa.text("done_at IS NULL")),)

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    job_name: str = Field(max_length=100)
    business_key: str = Field(sa_column_kwargs={"unique": True}, max_length=255)
    payload: dict[str, Any] = Field(sa_type=JSONB)
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )
    enqueued_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    attempts: int = Field(default=0)
    done_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # Set when the job gave up (its input was refused, or it failed MAX_ATTEMPTS times); never run again.
    failed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    last_error: str | None = Field(default=None, max_length=2000)
