"""Scratch databases on the test server, for tests that must COMMIT for real."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from domain import migrate

if TYPE_CHECKING:
    from collections.abc import Iterator


def with_database(url: str, name: str) -> str:
    """The same server's URL for another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _recreate(url: str, name: str, *, drop_only: bool = False) -> None:
    conn = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def empty_database(url: str, name: str) -> str:
    """A new, empty database `name` (dropped first if it exists); returns its URL."""
    asyncio.run(_recreate(url, name))
    return with_database(url, name)


@contextlib.contextmanager
def migrated_database(url: str, name: str) -> Iterator[str]:
    """A fresh, migrated database for the block, dropped afterwards.

    The ledger is append-only, so tests that commit for real need a database of their own.
    """
    scratch = empty_database(url, name)
    migrate.upgrade(scratch)
    try:
        yield scratch
    finally:
        asyncio.run(_recreate(url, name, drop_only=True))
