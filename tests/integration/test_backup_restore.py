"""`coop backup` while the co-op writes, then `coop restore` into an empty database.

The restored books must be a consistent cut: every journal entry whole and balanced,
each account's totals equal to the source's over the same entries, the ledger's guards
back in force, and the migration version the same.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import pytest

from domain.db import make_engine, make_session_maker
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.unit_of_work import UnitOfWork
from tests.support.scratch_db import empty_database, migrated_database

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from deploy.stack import StackUrls

pytestmark = pytest.mark.slow

TOTALS = """
SELECT a.code, p.side, sum(p.amount_cents)
FROM posting p JOIN ledger_account a ON a.id = p.account_id
WHERE p.entry_id <= $1 GROUP BY a.code, p.side ORDER BY a.code, p.side
"""


def _coop(command: list[str], database_url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "deploy.cli", *command],
        env=env | {"DATABASE_URL": database_url, "COOP_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _write_until(url: str, stop: threading.Event, written: list[int]) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        maker = make_session_maker(engine)
        n = 0
        while not stop.is_set():
            n += 1
            async with UnitOfWork(maker) as uow:
                entry = await ledger.transfer(
                    uow.session,
                    debit=chart.BANK,
                    credit=chart.SALES,
                    amount_cents=100 + n,
                    kind="sale",
                    idempotency_key=f"backup-test:{n}",
                    occurred_at=datetime.now(UTC),
                )
                await uow.commit()
            written.append(int(entry.id or 0))
    finally:
        await engine.dispose()


def _fetch(url: str, query: str, *args: object) -> list[tuple[object, ...]]:
    async def fetch() -> list[tuple[object, ...]]:
        conn = await asyncpg.connect(url)
        try:
            return [tuple(r) for r in await conn.fetch(query, *args)]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def _refused(url: str, statement: str) -> bool:
    async def run() -> bool:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(statement)
        except asyncpg.PostgresError:
            return True
        finally:
            await conn.close()
        return False

    return asyncio.run(run())


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "the writer made no progress"
        time.sleep(0.01)


def test_a_backup_taken_while_the_coop_writes_restores_to_consistent_books(stack: StackUrls, tmp_path: Path) -> None:
    dump = tmp_path / "coop.dump"
    with migrated_database(stack.database_url, "backup_source") as source:
        stop, written = threading.Event(), list[int]()
        writer = threading.Thread(target=lambda: asyncio.run(_write_until(source, stop, written)))
        writer.start()
        try:
            _until(lambda: len(written) >= 20)
            backed_up = _coop(["backup", str(dump)], source, tmp_path)
            after_backup = len(written)
            _until(lambda: len(written) >= after_backup + 20)
        finally:
            stop.set()
            writer.join()
        assert backed_up.returncode == 0, backed_up.stderr
        assert dump.is_file()
        assert not dump.with_name("coop.dump.partial").exists()

        target = empty_database(stack.database_url, "backup_target")
        try:
            restored = _coop(["restore", str(dump)], target, tmp_path)
            assert restored.returncode == 0, restored.stderr

            ((cut, entries),) = _fetch(target, "SELECT coalesce(max(id), 0), count(*) FROM journal_entry")
            assert isinstance(cut, int)
            assert isinstance(entries, int)
            assert 20 <= entries < len(written)
            unbalanced = _fetch(
                target,
                "SELECT entry_id FROM posting GROUP BY entry_id HAVING "
                "sum(CASE side WHEN 'debit' THEN amount_cents ELSE -amount_cents END) <> 0 OR count(*) < 2",
            )
            assert unbalanced == []
            assert _fetch(target, TOTALS, cut) == _fetch(source, TOTALS, cut)
            version = "SELECT version_num FROM alembic_version"
            assert _fetch(target, version) == _fetch(source, version)
            # The append-only guard came back with the data.
            assert _refused(target, "DELETE FROM posting")

            # Restoring over live books needs saying so.
            again = _coop(["restore", str(dump)], target, tmp_path)
            assert again.returncode == 1
            assert "not empty" in again.stderr
            replaced = _coop(["restore", "--replace", str(dump)], target, tmp_path)
            assert replaced.returncode == 0, replaced.stderr
            assert _fetch(target, "SELECT count(*) FROM journal_entry") == [(entries,)]
        finally:
            empty_database(stack.database_url, "backup_target")
