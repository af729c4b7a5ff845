"""Membership shares paid by saved card: credited only when Stripe says the payment succeeded, once.

Every Stripe call runs on localstripe. localstripe emits ``payment_intent.succeeded`` but is not
wired to deliver it here, so the test signs the event as Stripe would and posts it to the webhook.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from domain.db import utc_now
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.payments.stripe_gateway import StripeGateway
from domain.payments.tables import ShareCardPayment
from tests.support.cards import card_member, signed_event
from tests.support.worker import run_worker
from workers.payments import run_share_card_poll

if TYPE_CHECKING:
    import httpx
    import stripe
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.settings import Settings


async def _share_paid(client: httpx.AsyncClient, member_id: int, headers: dict[str, str]) -> int:
    shown = await client.get(f"/v1/members/{member_id}", headers=headers)
    assert shown.status_code == 200, shown.text
    return int(shown.json()["share"]["paid_cents"])


async def test_a_share_paid_by_card_is_credited_once_when_stripe_says_it_succeeded(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
    localstripe_url: str,
) -> None:
    member, admin = await card_member(stripe_client, session, raw, "Share Card Shop")
    url = f"/v1/members/{member}/share-card-payments"
    started = await stripe_client.post(url, json={"amount_cents": 6_000}, headers=admin)
    assert started.status_code == 201, started.text
    payment = started.json()
    assert (payment["status"], payment["amount_cents"]) == ("pending", 6_000)
    too_much = await stripe_client.post(url, json={"amount_cents": 4_001}, headers=admin)  # 6,000 of 10,000 pending
    assert too_much.status_code == 400, too_much.text
    assert too_much.json()["errors"][0]["field"] == "amount_cents"

    await run_worker(stripe_settings, session_maker)
    stored = await session.get(ShareCardPayment, int(payment["id"]), populate_existing=True)
    assert stored is not None
    assert stored.intent_id is not None
    paid = await raw.v1.payment_intents.retrieve_async(stored.intent_id)
    assert (paid.status, paid.amount, paid.capture_method) == ("succeeded", 6_000, "automatic")
    assert await _share_paid(stripe_client, member, admin) == 0  # nothing until Stripe's word arrives

    for event_id in ("evt_share_ok", "evt_share_ok", "evt_share_ok_again"):  # a replay, then a second delivery
        body, signature = signed_event(event_id, "payment_intent.succeeded", {"id": paid.id})
        assert (await stripe_client.post("/v1/stripe/webhook", content=body, headers=signature)).status_code == 200
        await run_worker(stripe_settings, session_maker)
    gateway = StripeGateway("sk_test_localstripe", api_base=localstripe_url, localstripe=True)
    assert await run_share_card_poll(session_maker, gateway, None, now=utc_now() + timedelta(hours=1)) == 0
    await gateway.aclose()

    assert await _share_paid(stripe_client, member, admin) == 6_000
    shown = await stripe_client.get(f"{url}/{payment['id']}", headers=admin)
    assert shown.json()["status"] == "succeeded"
    assert await ledger.balance_of(session, chart.CARD_CLEARING) == 6_000
    assert await ledger.balance_of(session, chart.member_share(member)) == 6_000


async def test_a_pending_share_payment_is_read_back_and_a_declined_one_credits_nothing(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
    localstripe_url: str,
) -> None:
    member, admin = await card_member(stripe_client, session, raw, "Polled Shop")
    declined, bad_admin = await card_member(stripe_client, session, raw, "Bad Card Shop", "pm_card_chargeCustomerFail")
    polled = await stripe_client.post(
        f"/v1/members/{member}/share-card-payments", json={"amount_cents": 10_000}, headers=admin
    )
    failing = await stripe_client.post(
        f"/v1/members/{declined}/share-card-payments", json={"amount_cents": 2_500}, headers=bad_admin
    )
    assert (polled.status_code, failing.status_code) == (201, 201), (polled.text, failing.text)
    await run_worker(stripe_settings, session_maker)

    gateway = StripeGateway("sk_test_localstripe", api_base=localstripe_url, localstripe=True)
    assert await run_share_card_poll(session_maker, gateway, None, now=utc_now()) == 0  # too early: the webhook's turn
    assert await run_share_card_poll(session_maker, gateway, None, now=utc_now() + timedelta(hours=1)) == 1
    assert await run_share_card_poll(session_maker, gateway, None, now=utc_now() + timedelta(hours=1)) == 0
    await gateway.aclose()

    assert await _share_paid(stripe_client, member, admin) == 10_000
    failed = await stripe_client.get(
        f"/v1/members/{declined}/share-card-payments/{failing.json()['id']}", headers=bad_admin
    )
    assert failed.json()["status"] == "failed"
    assert await _share_paid(stripe_client, declined, bad_admin) == 0
    # who may pay: the member's admin only; another member's payment is not found
    assert (
        await stripe_client.post(
            f"/v1/members/{member}/share-card-payments", json={"amount_cents": 1}, headers=bad_admin
        )
    ).status_code == 404
    other = await stripe_client.get(f"/v1/members/{member}/share-card-payments/{failing.json()['id']}", headers=admin)
    assert other.status_code == 404
