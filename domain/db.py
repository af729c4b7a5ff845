"""Engine, session factory and the metadata naming convention."""

from __future__ import annotations

import contextlib
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

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


TRANSACTION_POOLING = "pooling=transaction"


def _behind_transaction_pooler(url: str) -> tuple[str, bool]:
    """The URL without our `pooling=transaction` marker, and whether it was there."""
    base, _, query = url.partition("?")
    params = [p for p in query.split("&") if p]
    if TRANSACTION_POOLING not in params:
        return url, False
    rest = [p for p in params if p != TRANSACTION_POOLING]
    return base + ("?" + "&".join(rest) if rest else ""), True


def _unique_statement_name() -> str:
    return f"__coop_{secrets.token_hex(8)}__"


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """Create the async engine (asyncpg).

    Behind PgBouncer in transaction mode (the URL ends in `?pooling=transaction`), a
    transaction may land on another server connection than the one that prepared a
    statement, so asyncpg's statement cache is off and every prepared statement gets a
    name no other client uses (PgBouncer before 1.21 does not track them).

    No pre-ping: it costs a round trip on every checkout. A connection the server dropped
    fails its statement once and is invalidated (the API answers 503, see api/problems.py);
    the pool replaces it. `pool_recycle` retires connections before idle timeouts do.
    """
    url, pooled = _behind_transaction_pooler(url)
    if not pooled:
        return create_async_engine(async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)
    separator = "&" if "?" in url else "?"
    return create_async_engine(
        async_url(url) + f"{separator}prepared_statement_cache_size=0",
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        connect_args={"statement_cache_size": 0, "prepared_statement_name_func": _unique_statement_name},
    )


async def _nothing_to_reset(_: asyncpg.Connection) -> None:
    """What a connection of the autocommit pool leaves behind: nothing (see `autocommit_pool`)."""


@contextlib.asynccontextmanager
async def autocommit_pool(url: str, *, size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    """A plain asyncpg pool for single statements that commit by themselves (the order change's one call).

    Such a request needs nothing of SQLAlchemy's session: checking a connection out of the
    engine's pool for it and closing the session afterwards was about a tenth of an order
    change's API CPU (issue 12, sixteenth part). Its connections only ever run statements
    outside a transaction that leave no session state (no SET, LISTEN or session-level
    advisory lock), so a connection goes back without asyncpg's reset, which is a round
    trip per release. Behind PgBouncer's transaction mode (`?pooling=transaction`) the
    statement cache is off, as in `make_engine`.
    """
    url, pooled = _behind_transaction_pooler(url)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    extra: dict[str, object] = (
        {"statement_cache_size": 0, "prepared_statement_name_func": _unique_statement_name} if pooled else {}
    )
    pool = asyncpg.create_pool(
        dsn, min_size=0, max_size=size, max_inactive_connection_lifetime=1800, reset=_nothing_to_reset, **extra
    )
    await pool
    try:
        yield pool
    finally:
        await pool.close()


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


async def driver_connection(session: AsyncSession, *, begin: bool = True) -> asyncpg.Connection:
    """The asyncpg connection under the session, inside the session's transaction.

    For a hot path's constant statements: asyncpg prepares each once per connection and
    nothing is compiled or mapped per call. What the session holds unflushed is flushed
    first, as its own next statement would have. SQLAlchemy's asyncpg adapter opens the
    transaction (BEGIN) only with its first statement, so a session that has sent none yet
    opens it here; its commit and rollback then end the statements sent here too.

    With `begin=False` none is opened: for a single statement that only reads, which is
    consistent on its own, and then costs no BEGIN and no COMMIT round trip. It still runs
    in the session's transaction if one is open.
    """
    if session.new or session.dirty or session.deleted:
        await session.flush()
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    adapted = raw.dbapi_connection
    # The adapter keeps no public way to begin: these are its own lock and begin, pinned by
    # requirements.lock and proven by tests/integration/test_driver_connection.py.
    if begin:
        async with adapted._execute_mutex:  # type: ignore[union-attr]  # noqa: SLF001
            if adapted._transaction is None:  # type: ignore[union-attr]  # noqa: SLF001
                await adapted._start_transaction()  # type: ignore[union-attr]  # noqa: SLF001
    driver: asyncpg.Connection = raw.driver_connection
    return driver


def holds_transaction(session: AsyncSession) -> bool:
    """Whether ending the session's work means anything: rows wait to be flushed, or the server holds a transaction.

    False when all the session sent went through `driver_connection(begin=False)` with no
    transaction open (those statements committed by themselves) or nothing was sent: then
    commit and rollback would send nothing and cost only the session's bookkeeping. Reads the
    adapter's own transaction, as `driver_connection` does (tests/integration/test_driver_connection.py).
    """
    sync = session.sync_session
    if sync.new or sync.dirty or sync.deleted:
        return True
    transaction = sync.get_transaction()
    if transaction is None:
        return False
    for connection, *_ in transaction._connections.values():  # noqa: SLF001
        proxied = connection._dbapi_connection  # noqa: SLF001
        if proxied is None or getattr(proxied.dbapi_connection, "_transaction", True) is not None:
            return True
    return False


def untouched(session: AsyncSession) -> bool:
    """Whether the session never began a transaction nor holds a row: closing it would do nothing.

    Closing still costs a greenlet hand-off (about 3 % of an order change's API CPU for the two
    closes of a request whose one statement went through the autocommit pool), so it is skipped.
    """
    sync = session.sync_session
    return sync.get_transaction() is None and not sync.identity_map and not sync.new
