"""Webhooks delivered by localstripe itself into a running `coop serve`, signed as Stripe signs them.

The other webhook tests post events they sign themselves through the in-process app; this one
lets the fake Stripe server deliver (`/_config/webhooks/{id}`, about a second after each event)
over real HTTP to the served route, so the signature check meets a signature made elsewhere.
Its own localstripe, so no other test's events are sent to this server, and its own database,
because the served app commits.
"""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest
import stripe

from tests.support.http import free_port, wait_healthy
from tests.support.localstripe import localstripe
from tests.support.processes import start_coop, stop, wait_for
from tests.support.scratch_db import migrated_database

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from deploy.stack import StackUrls

pytestmark = pytest.mark.slow

SECRET = "whsec_delivered_by_localstripe"


@pytest.fixture
def served(stack: StackUrls, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(localstripe URL, database URL) with `coop serve` taking localstripe's webhooks."""
    with localstripe() as stripe_url, migrated_database(stack.database_url, "webhook_delivery") as url:
        port = free_port()
        process = start_coop(
            "serve",
            tmp_path / "api.log",
            DATABASE_URL=url,
            REDIS_URL=stack.redis_url,
            COOP_PORT=str(port),
            COOP_LOG_LEVEL="WARNING",
            STRIPE_API_KEY="sk_test_localstripe",
            STRIPE_API_BASE=stripe_url,
            STRIPE_LOCALSTRIPE="1",
            STRIPE_WEBHOOK_SECRET=SECRET,
        )
        try:
            wait_healthy(port)
            hook = {"url": f"http://127.0.0.1:{port}/v1/stripe/webhook", "secret": SECRET}
            httpx.post(f"{stripe_url}/_config/webhooks/coop", data=hook, timeout=10).raise_for_status()
            yield stripe_url, url
        finally:
            stop(process, signal.SIGTERM)


def _stored(database_url: str) -> dict[str, str]:
    async def read() -> dict[str, str]:
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            return {r["id"]: r["type"] for r in await conn.fetch("SELECT id, type FROM stripe_event")}
        finally:
            await conn.close()

    return asyncio.run(read())


def test_events_localstripe_delivers_are_verified_and_stored_once_each(served: tuple[str, str]) -> None:
    stripe_url, database_url = served
    client = stripe.StripeClient("sk_test_localstripe", base_addresses={"api": stripe_url})
    customer = client.v1.customers.create(params={"email": "delivered@shop.test"})
    intent = client.v1.payment_intents.create(
        params={"amount": 1_234, "currency": "usd", "customer": customer.id, "payment_method": "pm_card_visa"}
    )
    client.v1.payment_intents.confirm(intent.id)
    sent = {e.id: e.type for e in client.v1.events.list(params={"limit": 100}).data}
    assert {"customer.created", "payment_intent.succeeded"} <= set(sent.values())

    wait_for(lambda: set(sent) <= set(_stored(database_url)), 30, "every event localstripe sent stored by the app")
    assert _stored(database_url) == sent
