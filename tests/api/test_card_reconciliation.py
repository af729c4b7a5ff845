"""Stripe's fees booked from the balance transaction, and the staff report that reconciles card clearing.

localstripe charges no fee (every balance transaction has ``fee: 0``), so the fee case asks a
gateway that is localstripe in every call but reports a fee on the balance transaction (its
docstring says so); every other figure comes from the real flow on localstripe.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import col, select

from domain.ledger import chart
from domain.ledger import service as ledger
from domain.payments import card_holds
from domain.payments.stripe_gateway import StripeGateway
from domain.payments.tables import CardHold
from tests.support.cards import card_buy, card_member, line
from tests.support.worker import run_worker

if TYPE_CHECKING:
    import httpx
    import stripe
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.settings import Settings

URL = "/v1/payments/card-reconciliation"
FEE = 117


class FeeCharging(StripeGateway):
    """localstripe, but with the fee real Stripe keeps: localstripe's balance transactions always say 0."""

    async def fee_cents(self, hold_id: str) -> int:
        assert await super().fee_cents(hold_id) == 0  # what localstripe says
        return FEE


async def test_captures_refunds_and_fees_reconcile_the_card_clearing_account_to_zero(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
    localstripe_url: str,
) -> None:
    _, headers = await card_member(stripe_client, session, raw, "Reconciled Shop")
    gb, product, staff = await card_buy(stripe_client, session)
    placed = await stripe_client.post(
        f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 3)]}, headers=headers
    )
    order_id = int(placed.json()["id"])
    await run_worker(stripe_settings, session_maker)
    assert (await stripe_client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).is_success
    delivery = {"lines": [{"product_id": str(product), "delivered_quantity": 3}]}
    assert (await stripe_client.post(f"/v1/group-buys/{gb['id']}/delivery", json=delivery, headers=staff)).is_success
    await run_worker(stripe_settings, session_maker)
    correction = {"lines": [{"product_id": str(product), "delivered_quantity": 2}], "reason": "one bag torn"}
    corrected = await stripe_client.post(f"/v1/group-buys/{gb['id']}/corrections", json=correction, headers=staff)
    assert corrected.status_code == 201, corrected.text
    await run_worker(stripe_settings, session_maker)

    hold = (await session.exec(select(CardHold).where(col(CardHold.order_id) == order_id))).one()
    gateway = FeeCharging("sk_test_localstripe", api_base=localstripe_url, localstripe=True)
    for _ in range(2):  # a repeated job books the fee once
        await card_holds.run_fee(session, gateway, {"hold_id": hold.id or 0})
    await gateway.aclose()
    await session.commit()
    assert await ledger.balance_of(session, chart.CARD_FEES) == FEE

    today = datetime.now(UTC).date()
    period = {"period_from": (today - timedelta(days=1)).isoformat(), "period_to": today.isoformat()}
    report = await stripe_client.get(URL, params=period, headers=staff)

    assert report.status_code == 200, report.text
    assert report.json() == {
        "period_from": period["period_from"],
        "period_to": period["period_to"],
        "opening_cents": 0,
        "captured_cents": 3_000,
        "refunded_cents": 1_000,
        "fees_cents": FEE,
        "transferred_cents": 0,
        "paid_out_cents": 0,
        "closing_cents": 2_000 - FEE,
        "difference_cents": 0,
    }
    assert await ledger.balance_of(session, chart.CARD_CLEARING) == 2_000 - FEE
    assert (await stripe_client.get(URL, params=period, headers=headers)).status_code == 403
    backwards = {"period_from": today.isoformat(), "period_to": (today - timedelta(days=1)).isoformat()}
    refused = await stripe_client.get(URL, params=backwards, headers=staff)
    assert refused.status_code == 400, refused.text
    assert refused.json()["errors"][0]["field"] == "period_to"
