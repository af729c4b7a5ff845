"""Revocations made by other API processes reach this process's token cache at once.

PostgreSQL triggers (migration 0023) send a notification on `AUTH_CHANNEL` when a statement
deletes or updates tokens, updates or deletes users, or changes a member's status, and it is
delivered to every listening connection as that statement's transaction commits. Each API
process keeps one connection listening; a notification bumps `AUTH_CHANGES`, which makes
the cache drop every principal it holds (api/auth.py). While that connection is down a
notification could be missed, so the cache trusts nothing until it listens again.

Behind PgBouncer in transaction mode LISTEN does not work: the cache stays off there and
every request looks its token up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import asyncpg

from api.auth import AUTH_CHANGES, TokenCache
from domain.db import TRANSACTION_POOLING

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

log = logging.getLogger(__name__)

AUTH_CHANNEL = "coop_auth_changed"
RETRY_SECONDS = 1.0


def _plain_dsn(url: str) -> str:
    """An asyncpg DSN from the app's database URL (driver name and our query marker dropped)."""
    url = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    base, _, query = url.partition("?")
    params = [p for p in query.split("&") if p and p != TRANSACTION_POOLING]
    return base + ("?" + "&".join(params) if params else "")


def _notified(*_: object) -> None:
    AUTH_CHANGES.bump()


async def _listen(dsn: str, cache: TokenCache, up: asyncio.Event) -> None:
    """Listen until cancelled, reconnecting after a loss; the cache is live only while listening."""
    while True:
        try:
            connection = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError):
            log.warning("cannot listen for token revocations; the token cache is off until it can", exc_info=True)
            await asyncio.sleep(RETRY_SECONDS)
            continue
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _, lost=lost: lost.set())
        try:
            await connection.add_listener(AUTH_CHANNEL, _notified)
            # What was cached before this connection listened may have been revoked meanwhile.
            AUTH_CHANGES.bump()
            cache.live = True
            up.set()
            await lost.wait()
        except (OSError, asyncpg.PostgresError):
            log.warning("the token revocation listener failed", exc_info=True)
        finally:
            cache.live = False
            AUTH_CHANGES.bump()
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)
        await asyncio.sleep(RETRY_SECONDS)


@contextlib.asynccontextmanager
async def listening_for_revocations(database_url: str, cache: TokenCache) -> AsyncIterator[None]:
    """While inside, `cache` trusts its entries only while this process hears every revocation."""
    cache.live = False
    if TRANSACTION_POOLING in database_url:
        yield  # no LISTEN through a transaction pooler: the cache stays off
        return
    up = asyncio.Event()
    task = asyncio.create_task(_listen(_plain_dsn(database_url), cache, up))
    try:
        # Serve even if the database is slow to answer: the cache stays off until the listener is up.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(up.wait(), 5)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        cache.live = False
