"""The order answer says where its card payment stands, and hands the member's browser what 3-D Secure needs.

A hold waiting for the member's authentication carries the PaymentIntent's client secret,
so the browser can finish it (Stripe.js ``handleNextAction``); once authorized, the secret
is no longer shown. An order in a trade-account buy has no card payment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from tests.support.buying import group_buy_body, make_product, make_supplier, ordering_member, staff_headers
from tests.support.cards import THREE_D_SECURE_CARD, card_buy, card_member, holds_of, line, signed_event
from tests.support.worker import run_worker

if TYPE_CHECKING:
    import stripe
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.settings import Settings


async def test_a_hold_waiting_for_3d_secure_shows_its_client_secret_until_authorized(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
    localstripe_url: str,
) -> None:
    _, headers = await card_member(stripe_client, session, raw, "3DS Shop", THREE_D_SECURE_CARD)
    gb, product, staff = await card_buy(stripe_client, session)
    placed = await stripe_client.post(
        f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 2)]}, headers=headers
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["payment"] == {
        "status": "pending_auth",
        "amount_cents": 2_000,
        "captured_cents": 0,
        "refunded_cents": 0,
        "client_secret": None,
        "capture_before": None,
        "action_deadline": None,
    }

    await run_worker(stripe_settings, session_maker)
    shown = (await stripe_client.get(f"/v1/orders/{order['id']}", headers=headers)).json()["payment"]
    [hold] = await holds_of(session, order["id"])
    assert hold.intent_id is not None
    intent = await raw.v1.payment_intents.retrieve_async(hold.intent_id)
    assert intent.status == "requires_action"
    assert (shown["status"], shown["client_secret"]) == ("pending_auth", intent.client_secret)

    # The browser finishes 3-D Secure (localstripe's stand-in for Stripe.js) and Stripe reports the hold.
    async with httpx.AsyncClient(base_url=localstripe_url) as browser:
        done = await browser.post(
            f"/v1/payment_intents/{hold.intent_id}/_authenticate",
            data={"client_secret": intent.client_secret, "success": "true"},
            headers={"Authorization": "Bearer sk_test_localstripe"},
        )
        assert done.status_code == 200, done.text
    body, signature = signed_event("evt_3ds_done", "payment_intent.amount_capturable_updated", {"id": hold.intent_id})
    assert (await stripe_client.post("/v1/stripe/webhook", content=body, headers=signature)).status_code == 200
    await run_worker(stripe_settings, session_maker)

    shown = (await stripe_client.get(f"/v1/orders/{order['id']}", headers=headers)).json()["payment"]
    assert (shown["status"], shown["client_secret"]) == ("authorized", None)
    assert shown["capture_before"] is not None  # localstripe does not say: the 7-day window from the authorization
    listed = (await stripe_client.get(f"/v1/group-buys/{gb['id']}/orders", headers=staff)).json()
    assert [o["payment"]["status"] for o in listed["items"]] == ["authorized"]


async def test_an_order_paid_on_the_trade_account_has_no_card_payment(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, headers = await ordering_member(client, session, "Account Shop")
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id, tiers=[(1, 1_000)])
    staff = await staff_headers(client, session)
    gb = (await client.post("/v1/group-buys", json=group_buy_body(supplier.id, [product]), headers=staff)).json()

    placed = await client.post(f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 2)]}, headers=headers)

    assert placed.status_code == 201, placed.text
    assert placed.json()["payment"] is None
