"""Card holds that lapse: renewed off-session before they do, charged off-session when they did.

localstripe has no test clocks and never lets an authorization lapse, and a test cannot wait
seven days, so time moves only where the code reads it: the card clock is run with a ``now``
days ahead (the domain takes the clock it is given), and a lapsed authorization is a hold
whose stored ``capture_before`` is in the past. Everything Stripe does runs on localstripe.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import sqlalchemy as sa
from sqlmodel import col, select

from domain.jobs.queue import ArqJobQueue
from domain.jobs.tables import OutboxJob
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.payments.rules import ACTION_GRACE, OFF_SESSION_WINDOW
from domain.payments.tables import CardHold
from tests.support.cards import THREE_D_SECURE_CARD, card_buy, card_member, holds_of, line, signed_event
from tests.support.worker import run_worker
from workers.payments import run_card_clock

if TYPE_CHECKING:
    import stripe
    from arq import ArqRedis
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.settings import Settings


async def place(client: httpx.AsyncClient, gb: dict[str, object], product: int, headers: dict[str, str]) -> str:
    placed = await client.post(f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 2)]}, headers=headers)
    assert placed.status_code == 201, placed.text
    return str(placed.json()["id"])


async def intent_status(raw: stripe.StripeClient, intent_id: str | None) -> str:
    assert intent_id is not None
    return str((await raw.v1.payment_intents.retrieve_async(intent_id)).status)


async def test_a_hold_about_to_lapse_is_renewed_off_session_and_the_renewal_is_captured(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
    queue: ArqRedis,
) -> None:
    member_id, headers = await card_member(stripe_client, session, raw, "Long Buy Shop")
    gb, product, staff = await card_buy(stripe_client, session)
    order_id = await place(stripe_client, gb, product, headers)
    await run_worker(stripe_settings, session_maker)
    [first] = await holds_of(session, order_id)
    assert first.status == "authorized"
    assert first.capture_before is not None

    later = first.capture_before - timedelta(hours=12)
    assert (await run_card_clock(session_maker, ArqJobQueue(queue), now=later))["renewed"] == 1
    assert (await run_card_clock(session_maker, ArqJobQueue(queue), now=later))["renewed"] == 0  # once
    await run_worker(stripe_settings, session_maker)

    old, new = await holds_of(session, order_id)
    assert (old.status, new.status, new.kind, new.amount_cents) == ("voided", "authorized", "reauth", 2_000)
    assert await intent_status(raw, old.intent_id) == "canceled"
    assert await intent_status(raw, new.intent_id) == "requires_capture"
    assert new.capture_before is not None
    assert new.capture_before - new.updated_at == OFF_SESSION_WINDOW

    assert (await stripe_client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).is_success
    delivery = {"lines": [{"product_id": str(product), "delivered_quantity": 2}]}
    assert (await stripe_client.post(f"/v1/group-buys/{gb['id']}/delivery", json=delivery, headers=staff)).is_success
    await run_worker(stripe_settings, session_maker)

    old, new = await holds_of(session, order_id)
    assert (new.status, new.captured_cents) == ("captured", 2_000)
    assert await intent_status(raw, new.intent_id) == "succeeded"
    assert await ledger.balance_of(session, chart.member_trade(member_id)) == 0
    assert await ledger.balance_of(session, chart.CARD_CLEARING) == 2_000


async def test_a_renewal_the_card_wants_confirmed_waits_for_the_member_then_drops_the_open_order(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
    queue: ArqRedis,
) -> None:
    _, headers = await card_member(stripe_client, session, raw, "3DS Renewal Shop", THREE_D_SECURE_CARD)
    gb, product, staff = await card_buy(stripe_client, session)
    order_id = await place(stripe_client, gb, product, headers)
    await run_worker(stripe_settings, session_maker)
    [first] = await holds_of(session, order_id)
    async with httpx.AsyncClient(
        base_url=stripe_settings.stripe_api_base or ""
    ) as browser:  # the member finishes 3-D Secure at order time
        done = await browser.post(
            f"/v1/payment_intents/{first.intent_id}/_authenticate",
            data={"client_secret": first.client_secret or "", "success": "true"},
            headers={"Authorization": "Bearer sk_test_localstripe"},
        )
        assert done.status_code == 200, done.text
    body, signature = signed_event(
        "evt_first_auth", "payment_intent.amount_capturable_updated", {"id": first.intent_id}
    )
    assert (await stripe_client.post("/v1/stripe/webhook", content=body, headers=signature)).status_code == 200
    await run_worker(stripe_settings, session_maker)
    [first] = await holds_of(session, order_id)
    assert first.status == "authorized"
    assert first.capture_before is not None

    later = first.capture_before - timedelta(hours=12)
    await run_card_clock(session_maker, ArqJobQueue(queue), now=later)
    await run_worker(stripe_settings, session_maker)

    old, renewal = await holds_of(session, order_id)
    assert (old.status, renewal.status) == ("authorized", "action_required")  # the old one still holds meanwhile
    assert renewal.action_deadline is not None
    assert renewal.action_deadline - renewal.updated_at == ACTION_GRACE
    shown = (await stripe_client.get(f"/v1/orders/{order_id}", headers=headers)).json()["payment"]
    assert shown["status"] == "action_required"
    assert shown["client_secret"] is not None
    assert datetime.fromisoformat(shown["action_deadline"]) == renewal.action_deadline
    told = (
        await session.exec(
            select(OutboxJob.payload).where(
                col(OutboxJob.business_key) == f"notify:card:reauth:{order_id}:2:action_required"
            )
        )
    ).one()
    assert told["event"] == "order.card_action_required"

    past = renewal.action_deadline + timedelta(minutes=1)
    assert (await run_card_clock(session_maker, ArqJobQueue(queue), now=past))["dropped"] == 1
    await run_worker(stripe_settings, session_maker)

    order = (await stripe_client.get(f"/v1/orders/{order_id}", headers=headers)).json()
    assert order["status"] == "cancelled"
    assert [h.status for h in await holds_of(session, order_id)] == ["voided", "voided"]
    assert await intent_status(raw, old.intent_id) == "canceled"
    assert await intent_status(raw, renewal.intent_id) == "canceled"
    buy = (await stripe_client.get(f"/v1/group-buys/{gb['id']}", headers=staff)).json()
    assert buy["items"][0]["quantity"] == 0  # the supplier is no longer asked for its units


async def test_a_hold_that_lapsed_before_settlement_is_charged_off_session(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
) -> None:
    member_id, headers = await card_member(stripe_client, session, raw, "Lapsed Shop")
    gb, product, staff = await card_buy(stripe_client, session)
    order_id = await place(stripe_client, gb, product, headers)
    await run_worker(stripe_settings, session_maker)
    [hold] = await holds_of(session, order_id)
    lapsed = datetime.now(UTC) - timedelta(hours=1)  # the network let it go; localstripe never does
    await session.execute(sa.update(CardHold).where(col(CardHold.id) == hold.id).values(capture_before=lapsed))
    await session.commit()

    assert (await stripe_client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).is_success
    delivery = {"lines": [{"product_id": str(product), "delivered_quantity": 1}]}
    assert (await stripe_client.post(f"/v1/group-buys/{gb['id']}/delivery", json=delivery, headers=staff)).is_success
    await run_worker(stripe_settings, session_maker)

    old, charge = await holds_of(session, order_id)
    assert (old.status, old.captured_cents) == ("voided", 0)
    assert (charge.kind, charge.status, charge.amount_cents, charge.captured_cents) == (
        "charge",
        "captured",
        1_000,
        1_000,
    )
    assert await intent_status(raw, old.intent_id) == "canceled"
    assert await intent_status(raw, charge.intent_id) == "succeeded"
    assert await ledger.balance_of(session, chart.member_trade(member_id)) == 0
    assert await ledger.balance_of(session, chart.CARD_CLEARING) == 1_000


async def test_a_charge_the_member_confirms_after_settlement_pays_the_trade_account_once(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
) -> None:
    member_id, headers = await card_member(stripe_client, session, raw, "Lapsed 3DS Shop", THREE_D_SECURE_CARD)
    gb, product, staff = await card_buy(stripe_client, session)
    order_id = await place(stripe_client, gb, product, headers)
    await run_worker(stripe_settings, session_maker)
    [hold] = await holds_of(session, order_id)
    # Authorized at order time (3-D Secure done), then lapsed: localstripe never lets it.
    lapsed = datetime.now(UTC) - timedelta(hours=1)
    await session.execute(
        sa.update(CardHold).where(col(CardHold.id) == hold.id).values(status="authorized", capture_before=lapsed)
    )
    await session.commit()
    assert (await stripe_client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).is_success
    delivery = {"lines": [{"product_id": str(product), "delivered_quantity": 2}]}
    assert (await stripe_client.post(f"/v1/group-buys/{gb['id']}/delivery", json=delivery, headers=staff)).is_success
    await run_worker(stripe_settings, session_maker)
    _, charge = await holds_of(session, order_id)
    assert (charge.kind, charge.status) == ("charge", "action_required")
    assert await ledger.balance_of(session, chart.member_trade(member_id)) == 2_000

    async with httpx.AsyncClient(base_url=stripe_settings.stripe_api_base or "") as browser:
        done = await browser.post(
            f"/v1/payment_intents/{charge.intent_id}/_authenticate",
            data={"client_secret": charge.client_secret or "", "success": "true"},
            headers={"Authorization": "Bearer sk_test_localstripe"},
        )
        assert done.status_code == 200, done.text
    for event_id in ("evt_charge_done", "evt_charge_done_again"):  # delivered twice: booked once
        body, signature = signed_event(event_id, "payment_intent.succeeded", {"id": charge.intent_id})
        assert (await stripe_client.post("/v1/stripe/webhook", content=body, headers=signature)).status_code == 200
        await run_worker(stripe_settings, session_maker)

    _, charge = await holds_of(session, order_id)
    assert (charge.status, charge.captured_cents) == ("captured", 2_000)
    assert await intent_status(raw, charge.intent_id) == "succeeded"
    assert await ledger.balance_of(session, chart.member_trade(member_id)) == 0
    assert await ledger.balance_of(session, chart.CARD_CLEARING) == 2_000


async def test_an_ordered_order_past_its_deadline_is_reported_as_a_shortfall_and_still_paid(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
    queue: ArqRedis,
) -> None:
    """Once the purchase order is out the order stays: staff are told, and the older hold still pays at settlement."""
    member_id, headers = await card_member(stripe_client, session, raw, "Ordered 3DS Shop", THREE_D_SECURE_CARD)
    gb, product, staff = await card_buy(stripe_client, session)
    order_id = await place(stripe_client, gb, product, headers)
    await run_worker(stripe_settings, session_maker)
    [first] = await holds_of(session, order_id)
    async with httpx.AsyncClient(base_url=stripe_settings.stripe_api_base or "") as browser:
        done = await browser.post(
            f"/v1/payment_intents/{first.intent_id}/_authenticate",
            data={"client_secret": first.client_secret or "", "success": "true"},
            headers={"Authorization": "Bearer sk_test_localstripe"},
        )
        assert done.status_code == 200, done.text
    body, signature = signed_event(
        "evt_ordered_auth", "payment_intent.amount_capturable_updated", {"id": first.intent_id}
    )
    assert (await stripe_client.post("/v1/stripe/webhook", content=body, headers=signature)).status_code == 200
    await run_worker(stripe_settings, session_maker)
    [first] = await holds_of(session, order_id)
    assert first.capture_before is not None
    await run_card_clock(session_maker, ArqJobQueue(queue), now=first.capture_before - timedelta(hours=12))
    await run_worker(stripe_settings, session_maker)
    _, renewal = await holds_of(session, order_id)
    assert renewal.status == "action_required"
    assert renewal.action_deadline is not None
    assert (await stripe_client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).json()["status"] == "ordered"

    past = renewal.action_deadline + timedelta(minutes=1)
    assert (await run_card_clock(session_maker, ArqJobQueue(queue), now=past))["dropped"] == 1

    assert (await stripe_client.get(f"/v1/orders/{order_id}", headers=headers)).json()["status"] == "allocated"
    told = (
        await session.exec(
            select(OutboxJob.payload).where(col(OutboxJob.business_key) == f"notify:order:{order_id}:card_shortfall:2")
        )
    ).one()
    assert (told["event"], told["audience"], told["data"]["amount_cents"]) == ("order.card_shortfall", "staff", 2_000)
    delivery = {"lines": [{"product_id": str(product), "delivered_quantity": 2}]}
    assert (await stripe_client.post(f"/v1/group-buys/{gb['id']}/delivery", json=delivery, headers=staff)).is_success
    await run_worker(stripe_settings, session_maker)
    first, renewal = await holds_of(session, order_id)
    assert (first.status, first.captured_cents, renewal.status) == ("captured", 2_000, "voided")
    assert await ledger.balance_of(session, chart.member_trade(member_id)) == 0
