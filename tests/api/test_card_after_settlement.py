"""A hold that is not captured at settlement is released, whatever arrives after it.

Settlement charges the trade account and captures only authorized holds. A hold that was
still waiting (3-D Secure not finished, or its job not yet run) must not stay on the
member's card, and a late authorization, by job or by webhook, must be released, never
captured and never left dangling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col

from domain.ledger import chart
from domain.ledger import service as ledger
from domain.payments.tables import CardHold
from tests.support.cards import THREE_D_SECURE_CARD, card_buy, card_member, holds_of, line, signed_event
from tests.support.worker import run_worker

if TYPE_CHECKING:
    import httpx
    import stripe
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.settings import Settings


async def test_a_hold_still_waiting_for_3d_secure_at_settlement_is_released(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
) -> None:
    member_id, headers = await card_member(stripe_client, session, raw, "Slow 3DS Shop", THREE_D_SECURE_CARD)
    gb, product, staff = await card_buy(stripe_client, session)
    placed = await stripe_client.post(
        f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 2)]}, headers=headers
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    await run_worker(stripe_settings, session_maker)
    [waiting] = await holds_of(session, order_id)
    assert waiting.status == "pending_auth"
    assert waiting.intent_id is not None
    assert (await raw.v1.payment_intents.retrieve_async(waiting.intent_id)).status == "requires_action"

    assert (await stripe_client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).is_success
    delivery = {"lines": [{"product_id": str(product), "delivered_quantity": 2}]}
    assert (await stripe_client.post(f"/v1/group-buys/{gb['id']}/delivery", json=delivery, headers=staff)).is_success
    await run_worker(stripe_settings, session_maker)

    [hold] = await holds_of(session, order_id)
    assert (hold.status, hold.captured_cents) == ("voided", 0)
    assert (await raw.v1.payment_intents.retrieve_async(waiting.intent_id)).status == "canceled"
    assert await ledger.balance_of(session, chart.member_trade(member_id)) == 2_000  # owed, as in account mode

    # The member's browser reports the authorization late: it moves nothing and takes nothing.
    body, signature = signed_event("evt_late_auth", "payment_intent.amount_capturable_updated", {"id": hold.intent_id})
    assert (await stripe_client.post("/v1/stripe/webhook", content=body, headers=signature)).status_code == 200
    await run_worker(stripe_settings, session_maker)

    [hold] = await holds_of(session, order_id)
    assert (hold.status, hold.captured_cents) == ("voided", 0)
    assert await ledger.balance_of(session, chart.CARD_CLEARING) == 0


async def test_an_authorization_reported_for_a_voided_hold_is_released(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
) -> None:
    """The cancel never reached Stripe (its job gave up while Stripe was down): the next authorization releases it."""
    _, headers = await card_member(stripe_client, session, raw, "Dangling Shop")
    gb, product, _ = await card_buy(stripe_client, session)
    placed = await stripe_client.post(
        f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 2)]}, headers=headers
    )
    order_id = placed.json()["id"]
    await run_worker(stripe_settings, session_maker)
    [hold] = await holds_of(session, order_id)
    assert hold.status == "authorized"
    assert hold.intent_id is not None
    await session.execute(sa.update(CardHold).where(col(CardHold.id) == hold.id).values(status="voided"))
    await session.commit()

    body, signature = signed_event("evt_dangling", "payment_intent.amount_capturable_updated", {"id": hold.intent_id})
    assert (await stripe_client.post("/v1/stripe/webhook", content=body, headers=signature)).status_code == 200
    await run_worker(stripe_settings, session_maker)

    assert (await raw.v1.payment_intents.retrieve_async(hold.intent_id)).status == "canceled"
    [hold] = await holds_of(session, order_id)
    assert hold.status == "voided"

    # A second report of the same authorization finds it released: no second cancel, no failure.
    body, signature = signed_event("evt_dangling_2", "payment_intent.amount_capturable_updated", {"id": hold.intent_id})
    assert (await stripe_client.post("/v1/stripe/webhook", content=body, headers=signature)).status_code == 200
    worker = await run_worker(stripe_settings, session_maker)
    assert worker.jobs_failed == 0
