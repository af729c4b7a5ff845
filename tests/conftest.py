"""Shared fixtures: real PostgreSQL and Valkey (embedded unless URLs are given),
real migrations, one rolled-back transaction per test, and an API client that
shares that transaction."""

from __future__ import annotations

import dataclasses
import os
import signal
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import hypothesis
import pytest
import sqlalchemy as sa
import stripe
from arq import create_pool
from arq.connections import RedisSettings
from sqlalchemy.exc import DBAPIError

from deploy.stack import local_stack
from domain import migrate
from domain.db import SessionMaker, make_engine, make_session_maker
from domain.settings import Settings
from tests.support import scratch_db
from tests.support.apps import SharedApp, shared

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from arq.connections import ArqRedis
    from litestar import Litestar
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from deploy.stack import StackUrls

STRIPE_WEBHOOK_SECRET = "whsec_test_secret"

# Hypothesis's deadline per example is a timed assertion: on a loaded machine it failed pure
# rules (an example took 270 ms against 200 ms). Tests assert results, never timings.
hypothesis.settings.register_profile("coop", deadline=None)
hypothesis.settings.load_profile("coop")


def pytest_configure(config: pytest.Config) -> None:
    """A SIGTERM (a CI timeout, `timeout`) unwinds like Ctrl-C, so the embedded servers are stopped."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first: `make test` spreads the run over two processes, and a slow test
    collected last would leave one of them working alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackUrls]:
    """The servers for the whole run: DATABASE_URL/REDIS_URL, or embedded ones in a temp dir."""
    data_dir: Path = tmp_path_factory.mktemp("coop")
    with local_stack(data_dir, os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"), keep=False) as urls:
        migrate.upgrade(urls.database_url)
        scratch_db.keep_as_template(urls.database_url)
        yield urls


@pytest.fixture(scope="session")
def settings(stack: StackUrls) -> Settings:
    env = {"DATABASE_URL": stack.database_url, "REDIS_URL": stack.redis_url, "COOP_LOGIN_MAX_FAILURES": "5"}
    # The Stripe webhook is routed (signature-checked) in every test app, so route-wide tests cover it.
    env["STRIPE_WEBHOOK_SECRET"] = STRIPE_WEBHOOK_SECRET
    return Settings.from_env(env)


@pytest.fixture(scope="session")
async def engine(stack: StackUrls) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(stack.database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def own_database(stack: StackUrls) -> AsyncIterator[str]:
    """The URL of a migrated database of this test's own, for a test that COMMITs for real.

    Committed ledger and patronage rows are append-only: in the shared database they would
    change the totals of whichever tests run after this one.
    """
    name = f"own_{uuid.uuid4().hex[:16]}"
    yield await scratch_db.recreate(stack.database_url, name, template=scratch_db.TEMPLATE)
    await scratch_db.drop(stack.database_url, name)


@pytest.fixture
async def committing_engine(own_database: str) -> AsyncIterator[AsyncEngine]:
    """An engine on this test's own database (see `own_database`)."""
    engine = make_engine(own_database, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine, request: pytest.FixtureRequest) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back after the test.

    Before the rollback, the ledger's deferred balance checks are fired, so every
    test also proves it wrote only balanced journal entries.
    """
    async with engine.connect() as conn:
        transaction = await conn.begin()
        yield conn
        if request.node.get_closest_marker("leaves_unbalanced_entry") is None:
            await _check_deferred_constraints(conn)
        await transaction.rollback()


async def _check_deferred_constraints(conn: AsyncConnection) -> None:
    """Fire the ledger's deferred balance checks, which a rolled-back test never reaches.

    A test that already failed inside the database left the transaction aborted;
    there is nothing more to check then.
    """
    try:
        await conn.execute(sa.text("SET CONSTRAINTS ALL IMMEDIATE"))
    except DBAPIError as exc:
        if "current transaction is aborted" not in str(exc.orig):
            raise


@pytest.fixture
def session_maker(connection: AsyncConnection) -> SessionMaker:
    """Sessions whose commits are savepoints of the test's transaction."""
    return make_session_maker(connection, savepoints=True)


@pytest.fixture
async def session(session_maker: SessionMaker) -> AsyncIterator[Any]:
    async with session_maker() as s:
        yield s


@pytest.fixture(scope="session")
async def redis(stack: StackUrls) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(stack.redis_url))
    yield pool
    await pool.aclose()


@pytest.fixture
async def queue(redis: ArqRedis) -> ArqRedis:
    """The job queue, emptied for this test."""
    await redis.flushdb()
    return redis


@pytest.fixture(scope="session")
async def shared_app(settings: Settings, engine: AsyncEngine, redis: ArqRedis) -> AsyncIterator[SharedApp]:
    async with shared(settings, engine, redis) as one:
        yield one


@pytest.fixture
def app(shared_app: SharedApp, session_maker: SessionMaker, queue: ArqRedis) -> Litestar:
    return shared_app.for_test(session_maker, queue)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # litestar's ASGI types are narrower
    async with httpx.AsyncClient(transport=transport, base_url="http://coop.test") as c:
        yield c


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    """A localstripe server on 127.0.0.1 for the whole run, started on first use."""
    from tests.support.localstripe import localstripe

    with localstripe() as url:
        yield url


@pytest.fixture
async def raw(localstripe_url: str) -> AsyncIterator[stripe.StripeClient]:
    """The Stripe SDK against localstripe, doing what a member's browser or Stripe's side would."""
    from domain.payments.stripe_gateway import HTTPXClient

    http = HTTPXClient()
    yield stripe.StripeClient("sk_test_localstripe", base_addresses={"api": localstripe_url}, http_client=http)
    await http.close_async()  # type: ignore[no-untyped-call]


@pytest.fixture(scope="session")
def stripe_settings(settings: Settings, localstripe_url: str) -> Settings:
    """The test settings with Stripe (localstripe) configured."""
    return dataclasses.replace(
        settings,
        stripe_api_key="sk_test_localstripe",
        stripe_api_base=localstripe_url,
        stripe_localstripe=True,
        stripe_webhook_secret=STRIPE_WEBHOOK_SECRET,
    )


@pytest.fixture(scope="session")
async def shared_stripe_app(
    stripe_settings: Settings, engine: AsyncEngine, redis: ArqRedis
) -> AsyncIterator[SharedApp]:
    async with shared(stripe_settings, engine, redis) as one:
        yield one


@pytest.fixture
async def stripe_client(
    shared_stripe_app: SharedApp, session_maker: SessionMaker, queue: ArqRedis
) -> AsyncIterator[httpx.AsyncClient]:
    """An API client of an app paying by card through localstripe."""
    transport = httpx.ASGITransport(app=shared_stripe_app.for_test(session_maker, queue))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://coop.test") as c:
        yield c
