"""A hold job racing an order change: the change voids the hold while Stripe is answering.

The job never locks the hold across the Stripe call; it records the answer with a
conditional update afterwards, finds the hold voided, and releases what it just got.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from domain.payments import card_holds
from domain.payments.rules import CardStatus
from domain.payments.stripe_gateway import StripeGateway
from domain.payments.tables import CardHold
from tests.api.test_card_group_buys import card_member, line
from tests.support.buying import group_buy_body, make_product, make_supplier, staff_headers

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx
    import stripe
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.payments.gateway import Hold, HoldRequest


class ChangedWhileAsking(StripeGateway):
    """The real adapter against localstripe; right after Stripe answers the hold, the order changes."""

    def __init__(self, url: str, session: AsyncSession) -> None:
        super().__init__("sk_test_localstripe", api_base=url, localstripe=True)
        self.session = session

    async def hold(self, request: HoldRequest) -> Hold:
        answer = await super().hold(request)
        # What a concurrent order change does to the row (card_holds.void_holds), committed meanwhile.
        await self.session.execute(sa.update(CardHold).values(status=CardStatus.VOIDED.value))
        return answer


@pytest.fixture
async def gateway(localstripe_url: str, session: AsyncSession) -> AsyncIterator[ChangedWhileAsking]:
    gateway = ChangedWhileAsking(localstripe_url, session)
    yield gateway
    await gateway.aclose()


async def test_a_hold_voided_while_stripe_answers_is_released(
    stripe_client: httpx.AsyncClient, session: AsyncSession, raw: stripe.StripeClient, gateway: ChangedWhileAsking
) -> None:
    _, headers = await card_member(stripe_client, session, raw, "Racing Shop")
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id, tiers=[(1, 1_000)])
    staff = await staff_headers(stripe_client, session)
    gb = (
        await stripe_client.post(
            "/v1/group-buys", json=group_buy_body(supplier.id, [product], payment_mode="card"), headers=staff
        )
    ).json()
    order = await stripe_client.post(
        f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 2)]}, headers=headers
    )
    hold = (await session.exec(select(CardHold).where(col(CardHold.order_id) == int(order.json()["id"])))).one()

    await card_holds.run_hold(session, gateway, {"hold_id": hold.id or 0}, "USD")

    stored = (
        await session.exec(
            select(CardHold).where(col(CardHold.id) == hold.id).execution_options(populate_existing=True)
        )
    ).one()
    assert stored.status == CardStatus.VOIDED
    assert stored.intent_id is not None  # recorded, so a later cancel job finds it too
    assert (await raw.v1.payment_intents.retrieve_async(stored.intent_id)).status == "canceled"
