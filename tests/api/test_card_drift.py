"""The drift job: card holds whose PaymentIntent on Stripe says otherwise are reported to staff, nothing moved.

Drift comes from events Stripe gave up delivering or answers lost on the way; here Stripe
(localstripe) cancels a hold behind the app's back, as a missed ``payment_intent.canceled``
would leave it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlmodel import col, select

from domain.db import utc_now
from domain.jobs.tables import OutboxJob
from domain.payments.stripe_gateway import StripeGateway
from tests.support.cards import card_buy, card_member, holds_of, line
from tests.support.worker import run_worker
from workers.payments import run_payments_drift

if TYPE_CHECKING:
    import httpx
    import stripe
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.settings import Settings


async def test_a_hold_cancelled_behind_the_apps_back_is_reported_and_left_alone(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
    localstripe_url: str,
) -> None:
    orders = []
    for name in ("Steady Shop", "Drifting Shop"):
        _, headers = await card_member(stripe_client, session, raw, name)
        gb, product, _ = await card_buy(stripe_client, session)
        placed = await stripe_client.post(
            f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 2)]}, headers=headers
        )
        orders.append(placed.json()["id"])
    await run_worker(stripe_settings, session_maker)
    [steady] = await holds_of(session, orders[0])
    [drifting] = await holds_of(session, orders[1])
    assert (steady.status, drifting.status) == ("authorized", "authorized")
    assert drifting.intent_id is not None
    await raw.v1.payment_intents.cancel_async(drifting.intent_id)

    gateway = StripeGateway("sk_test_localstripe", api_base=localstripe_url, localstripe=True)
    now = utc_now() + timedelta(hours=1)  # past the minutes a job may still be on its way
    assert await run_payments_drift(session_maker, gateway, None, now=now) == 1
    await gateway.aclose()

    notice = (
        await session.exec(
            select(OutboxJob.payload).where(col(OutboxJob.business_key) == f"notify:payments:drift:{now.isoformat()}")
        )
    ).one()
    assert notice["event"] == "payments.drift"
    assert notice["audience"] == "staff"
    assert [(h["order_id"], h["ours"], h["stripe"]) for h in notice["data"]["holds"]] == [
        (orders[1], "authorized", "canceled")
    ]
    assert [h.status for h in await holds_of(session, orders[1])] == ["authorized"]  # reported, not moved
