"""Stored answers to POSTs that carried an Idempotency-Key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


class IdempotencyRecord(SQLModel, table=True):
    """One key of one caller: the request's digest and, once done, the answer given."""

    __tablename__ = "idempotency_record"
    __table_args__ = (
        sa.UniqueConstraint("caller", "key", name="uq_idempotency_record_caller_key"),
        sa.CheckConstraint("state IN ('started','completed')", name="state"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    caller: str = Field(max_length=100)
    key: str = Field(max_length=255)
    request_digest: str = Field(max_length=64)
    state: str = Field(max_length=16)
    status_code: int | None = Field(default=None)
    response_headers: list[Any] | None = Field(default=None, sa_type=JSONB)
    response_body: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    started_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
