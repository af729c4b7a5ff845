"""Staff correct the delivered units of a settled buy; a card order is refunded the difference, once.

The correction re-prices the lines, reverses the charge difference on the member's trade
account, owes the supplier less and writes negative patronage; in card mode a job refunds the
difference on the captured PaymentIntent (key ``refund:<order>:<correction>``) and books it:
card clearing credited, the trade account debited back to zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col

from domain.ledger import chart
from domain.ledger import service as ledger
from domain.patronage.tables import PatronageRecord
from tests.support.cards import card_buy, card_member, holds_of, line
from tests.support.worker import run_worker

if TYPE_CHECKING:
    import httpx
    import stripe
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.settings import Settings


async def test_a_settled_card_order_corrected_down_is_refunded_the_difference_once(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
) -> None:
    member_id, headers = await card_member(stripe_client, session, raw, "Corrected Shop")
    gb, product, staff = await card_buy(stripe_client, session)
    placed = await stripe_client.post(
        f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 3)]}, headers=headers
    )
    order_id = placed.json()["id"]
    await run_worker(stripe_settings, session_maker)
    url = f"/v1/group-buys/{gb['id']}/corrections"
    body = {"lines": [{"product_id": str(product), "delivered_quantity": 1}], "reason": "two bags arrived split"}
    early = await stripe_client.post(url, json=body, headers=staff)
    assert early.status_code == 409, early.text  # only a settled buy is corrected
    assert (await stripe_client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).is_success
    delivery = {"lines": [{"product_id": str(product), "delivered_quantity": 3}]}
    assert (await stripe_client.post(f"/v1/group-buys/{gb['id']}/delivery", json=delivery, headers=staff)).is_success
    await run_worker(stripe_settings, session_maker)
    assert await ledger.balance_of(session, chart.CARD_CLEARING) == 3_000

    up = {"lines": [{"product_id": str(product), "delivered_quantity": 4}], "reason": "more"}
    refused = await stripe_client.post(url, json=up, headers=staff)
    assert refused.status_code == 400, refused.text
    assert refused.json()["errors"][0]["field"] == "lines[0].delivered_quantity"
    assert (await stripe_client.post(url, json=body, headers=headers)).status_code == 403

    corrected = await stripe_client.post(url, json=body, headers=staff)
    assert corrected.status_code == 201, corrected.text
    answer = corrected.json()
    assert answer["refunds"] == [{"order_id": order_id, "amount_cents": 2_000}]
    await run_worker(stripe_settings, session_maker)
    await run_worker(stripe_settings, session_maker)  # a second run finds nothing more to do

    [hold] = await holds_of(session, order_id)
    assert (hold.status, hold.captured_cents, hold.refunded_cents) == ("partially_refunded", 3_000, 2_000)
    assert hold.intent_id is not None
    refunds = await raw.v1.refunds.list_async({"payment_intent": hold.intent_id})
    assert sum(r.amount for r in refunds.data) == 2_000
    assert await ledger.balance_of(session, chart.CARD_CLEARING) == 1_000
    assert await ledger.balance_of(session, chart.member_trade(member_id)) == 0
    patronage = (
        await session.execute(
            sa.select(sa.func.sum(col(PatronageRecord.amount_cents))).where(col(PatronageRecord.member_id) == member_id)
        )
    ).scalar_one()
    assert patronage == 1_000
    order = (await stripe_client.get(f"/v1/orders/{order_id}", headers=headers)).json()
    assert (order["lines"][0]["delivered_quantity"], order["total_cents"]) == (1, 1_000)
    assert order["payment"]["refunded_cents"] == 2_000

    again = await stripe_client.post(url, json=body, headers=staff)
    assert again.status_code == 400, again.text  # nothing left to correct: 1 is what was delivered
