"""The API SIGKILLed between a payment's work and its Idempotency-Key record: a retry never doubles it.

A real `coop serve` process against a scratch database. Row locks taken by the test
hold the request at two points: first inside the work (the ledger's account rows),
then where the answer is written to the key's record. The server is killed while it
waits at the second point, the key is aged past its stale limit, and the request is
retried on a new server with the same key: exactly one payment is on the books.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from tests.support.http import call, free_port, wait_healthy
from tests.support.processes import start_coop
from tests.support.scratch_db import migrated_database

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator
    from pathlib import Path

    from deploy.stack import StackUrls

pytestmark = pytest.mark.slow

ADMIN = {"email": "crash-admin@coop.test", "password": "a-long-enough-password"}
REFERENCE = "wire-7731"


@pytest.fixture
def scratch(stack: StackUrls) -> Iterator[str]:
    with migrated_database(stack.database_url, "idempotency_crash") as url:
        yield url


def _serve(database_url: str, redis_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    return start_coop(
        "serve",
        log,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        COOP_PORT=str(port),
        COOP_ADMIN_EMAIL=ADMIN["email"],
        COOP_ADMIN_PASSWORD=ADMIN["password"],
    )


async def _until(check: Any, what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out waiting for: {what}")


async def _waiting_on_lock(db: asyncpg.Connection, table: str) -> bool:
    rows = await db.fetch(
        "SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    return any(table in (r["query"] or "") for r in rows)


async def test_a_payment_retried_after_a_crash_is_posted_once(scratch, stack, tmp_path):
    port = free_port()
    server = _serve(scratch, stack.redis_url, port, tmp_path / "api.log")
    try:
        await asyncio.to_thread(wait_healthy, port)
        _, token = await asyncio.to_thread(call, port, "POST", "/v1/auth/token", ADMIN)
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        _, member = await asyncio.to_thread(
            call, port, "POST", "/v1/members", {"name": "Night Bakery", "email": "night@shop.test"}, auth
        )
        payments = f"/v1/members/{member['id']}/payments"
        payment = {"amount_cents": 2_500, "method": "bank_transfer", "reference": REFERENCE}
        first = await asyncio.to_thread(call, port, "POST", payments, payment, auth)  # makes the accounts exist
        assert first[0] == 201, first

        dsn = scratch.replace("postgresql+asyncpg://", "postgresql://")
        accounts, record = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
        accounts_tx = accounts.transaction()
        await accounts_tx.start()
        await accounts.execute("SELECT id FROM ledger_account ORDER BY id FOR UPDATE")
        keyed = {**auth, "Idempotency-Key": "pay-once"}
        request = asyncio.create_task(asyncio.to_thread(call, port, "POST", payments, payment, keyed))
        await _until(lambda: _waiting_on_lock(record, "ledger_account"), "the payment waits inside its work")
        record_tx = record.transaction()
        await record_tx.start()
        held = await record.fetchval("SELECT state FROM idempotency_record WHERE key = 'pay-once' FOR UPDATE")
        assert held == "started"
        await accounts_tx.commit()
        await _until(lambda: _waiting_on_lock(accounts, "idempotency_record"), "the answer waits for the key's record")

        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        await asyncio.gather(request, return_exceptions=True)  # the client lost its connection
        # Time passes: the key is past its stale limit, as for a client retrying much later.
        await record.execute(
            "UPDATE idempotency_record SET started_at = started_at - interval '10 minutes' WHERE key = 'pay-once'"
        )
        await record_tx.commit()

        server = _serve(scratch, stack.redis_url, port, tmp_path / "api.log")
        await asyncio.to_thread(wait_healthy, port)
        retried = await asyncio.to_thread(call, port, "POST", payments, payment, keyed)
        replayed = await asyncio.to_thread(call, port, "POST", payments, payment, keyed)
        assert retried[0] == replayed[0] == 201
        assert retried[1] == replayed[1]
        posted = await accounts.fetchval(
            "SELECT count(*) FROM journal_entry WHERE kind = 'trade_payment' AND memo LIKE $1", f"%{REFERENCE}%"
        )
        assert posted == 2  # the unkeyed first payment and the keyed one, once
        await accounts.close()
        await record.close()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
