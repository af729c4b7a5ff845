"""Alembic environment: async, online only, URL from the caller or the settings."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import context

import domain.table_registry  # noqa: F401 - registers every table on the metadata
from domain.db import make_engine, metadata

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

config = context.config


# Replicas started together (or an API beside the migration job) each migrate at start;
# this lock makes the second wait and find the schema already at head.
MIGRATION_LOCK = 0x636F6F70  # "coop"


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


async def _run_with_url(url: str) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:  # a refused migration must not leave its connection open in the caller's process
        await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_with_url(config.get_main_option("sqlalchemy.url") or ""))
