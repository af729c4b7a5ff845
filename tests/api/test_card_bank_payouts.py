"""Stripe's payouts to the co-op's bank booked from their events, read back from Stripe (localstripe).

localstripe (euro payouts only) creates a payout in the status it is given and lets a test set it later, which
stands in for Stripe paying it out and the bank returning it; the events are signed and posted
as Stripe would post them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from domain.ledger import chart
from domain.ledger import service as ledger
from tests.support.buying import staff_headers
from tests.support.cards import signed_event
from tests.support.worker import run_worker

if TYPE_CHECKING:
    import httpx
    import stripe
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.settings import Settings

URL = "/v1/payments/card-reconciliation"


async def _deliver(client: httpx.AsyncClient, event_id: str, event_type: str, payout_id: str) -> None:
    body, signature = signed_event(event_id, event_type, {"id": payout_id, "object": "payout"})
    assert (await client.post("/v1/stripe/webhook", content=body, headers=signature)).status_code == 200


async def test_a_payout_is_paid_out_once_and_a_returned_one_comes_back(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
) -> None:
    staff = await staff_headers(stripe_client, session)
    paid = await raw.v1.payouts.create_async(params={"amount": 1_500, "currency": "eur", "status": "paid"})  # type: ignore[typeddict-unknown-key]  # localstripe's status
    pending = await raw.v1.payouts.create_async(params={"amount": 900, "currency": "eur"})

    for event_id in ("evt_po_1", "evt_po_1", "evt_po_1_again"):  # a replay, then a second delivery
        await _deliver(stripe_client, event_id, "payout.paid", paid.id)
    await _deliver(stripe_client, "evt_po_early", "payout.paid", pending.id)  # Stripe says pending: nothing yet
    await _deliver(stripe_client, "evt_po_failed_early", "payout.failed", pending.id)  # never booked: nothing back
    await run_worker(stripe_settings, session_maker)

    assert await ledger.balance_of(session, chart.BANK) == 1_500
    assert await ledger.balance_of(session, chart.CARD_CLEARING) == -1_500
    today = datetime.now(UTC).date()
    period = {
        "period_from": (today - timedelta(days=1)).isoformat(),
        "period_to": (today + timedelta(days=3)).isoformat(),
    }
    report = (await stripe_client.get(URL, params=period, headers=staff)).json()
    assert (report["paid_out_cents"], report["closing_cents"], report["difference_cents"]) == (1_500, -1_500, 0)

    # localstripe lets a test set the status: the bank sent it back.
    await raw.v1.payouts.update_async(paid.id, params={"status": "failed"})  # type: ignore[arg-type]
    for event_id in ("evt_po_returned", "evt_po_returned_again"):
        await _deliver(stripe_client, event_id, "payout.failed", paid.id)
    await run_worker(stripe_settings, session_maker)

    assert await ledger.balance_of(session, chart.BANK) == 0
    assert await ledger.balance_of(session, chart.CARD_CLEARING) == 0
    report = (await stripe_client.get(URL, params=period, headers=staff)).json()
    assert (report["paid_out_cents"], report["difference_cents"]) == (0, 0)
