"""Engine, session factory and the metadata naming convention."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

# Named constraints make migrations reviewable and downgrades possible.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = SQLModel.metadata


def utc_now() -> datetime:
    """The default for recorded-at columns: timezone-aware UTC."""
    return datetime.now(UTC)


SessionMaker = async_sessionmaker[AsyncSession]


def async_url(url: str) -> str:
    """Point a plain postgresql:// URL at the asyncpg driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    return url


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """Create the async engine (asyncpg).

    No pre-ping: it costs a round trip on every checkout. A connection the server dropped
    fails its statement once and is invalidated (the API answers 503, see api/problems.py);
    the pool replaces it. `pool_recycle` retires connections before idle timeouts do.
    """
    return create_async_engine(async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)


def make_session_maker(bind: AsyncEngine | AsyncConnection, *, savepoints: bool = False) -> SessionMaker:
    """Sessions that return SQLModel's AsyncSession (so `session.exec` works).

    With `savepoints`, sessions bound to an open connection commit into savepoints:
    the test harness uses it so an app's commits roll back with the test.
    """
    if savepoints:
        return async_sessionmaker(
            bind, class_=AsyncSession, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
    return async_sessionmaker(bind, class_=AsyncSession, expire_on_commit=False)
