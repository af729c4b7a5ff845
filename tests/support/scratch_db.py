"""Scratch databases on the test server, for tests that must COMMIT for real.

The ledger is append-only, so a test that commits for real needs a database of its own:
its rows would otherwise change every later test's totals. A scratch database is a copy
of a migrated template (`CREATE DATABASE ... TEMPLATE`), made in a fraction of a second,
instead of running every migration again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import asyncpg

if TYPE_CHECKING:
    from collections.abc import Iterator

# One per test process: the processes of a run given one DATABASE_URL share its server.
TEMPLATE = f"coop_template_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def with_database(url: str, name: str) -> str:
    """The same server's URL for another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def recreate(url: str, name: str, *, template: str | None = None) -> str:
    """Database `name` made anew (dropped first if it exists), empty or a copy of `template`; its URL."""
    conn = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        copy = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await conn.close()
    return with_database(url, name)


async def drop(url: str, name: str) -> None:
    conn = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def empty_database(url: str, name: str) -> str:
    """A new, empty database `name` (dropped first if it exists); returns its URL."""
    return asyncio.run(recreate(url, name))


def keep_as_template(url: str) -> None:
    """Copy the freshly migrated database at `url` as the template of every scratch database.

    Called before anything connects to it: PostgreSQL copies only a database nobody is using.
    """
    source = urlsplit(url).path.lstrip("/")
    asyncio.run(recreate(url, TEMPLATE, template=source))


@contextlib.contextmanager
def migrated_database(url: str, name: str) -> Iterator[str]:
    """A fresh, migrated database for the block (a copy of the template), dropped afterwards."""
    scratch = asyncio.run(recreate(url, name, template=TEMPLATE))
    try:
        yield scratch
    finally:
        asyncio.run(drop(url, name))
