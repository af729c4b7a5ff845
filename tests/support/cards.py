"""Card members, card buys, signed webhook events and hold rows, for the card payment tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from domain.identity.rules import MemberRole
from domain.payments.tables import CardHold, StripeCustomer
from tests.conftest import STRIPE_WEBHOOK_SECRET
from tests.support.buying import group_buy_body, make_product, make_supplier, ordering_member, staff_headers

if TYPE_CHECKING:
    import httpx
    import stripe
    from sqlmodel.ext.asyncio.session import AsyncSession

# A card that asks for 3-D Secure on every payment (localstripe's list of such numbers).
THREE_D_SECURE_CARD = "4000002500003155"


def line(product_id: int, quantity: int, flex: int = 0) -> dict[str, Any]:
    """One order line as the API takes it."""
    return {"product_id": str(product_id), "quantity": quantity, "flex_quantity": flex}


async def card_member(
    client: httpx.AsyncClient, session: AsyncSession, raw: stripe.StripeClient, name: str, card: str = "pm_card_visa"
) -> tuple[int, dict[str, str]]:
    """An admitted member whose admin saved ``card`` (a test PaymentMethod id or a card number) through the API."""
    member, headers = await ordering_member(client, session, name, MemberRole.ADMIN)
    assert member.id is not None
    setup = await client.post(f"/v1/members/{member.id}/card-setups", headers=headers)
    assert setup.status_code == 201, setup.text
    await raw.v1.setup_intents.confirm_async(setup.json()["setup_intent_id"], {"payment_method": "pm_card_visa"})
    customer = (await session.exec(select(StripeCustomer).where(col(StripeCustomer.member_id) == member.id))).one()
    if card.isdigit():
        created = await raw.v1.payment_methods.create_async(
            {"type": "card", "card": {"number": card, "exp_month": 12, "exp_year": 2040, "cvc": "123"}}
        )
        card = str(created.id)
    await raw.v1.payment_methods.attach_async(card, {"customer": customer.customer_id})  # localstripe does not
    return member.id, headers


async def card_buy(
    client: httpx.AsyncClient, session: AsyncSession, tiers: list[tuple[int, int]] | None = None, markup: str = "0"
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """An open card-mode buy of one product; its answer, the product and staff headers."""
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id, tiers=tiers or [(1, 1_000)], markup=markup)
    staff = await staff_headers(client, session)
    body = group_buy_body(supplier.id, [product], payment_mode="card")
    created = await client.post("/v1/group-buys", json=body, headers=staff)
    assert created.status_code == 201, created.text
    return created.json(), product, staff


async def holds_of(session: AsyncSession, order_id: str | int) -> list[CardHold]:
    """The order's holds, oldest version first, as stored now."""
    query = select(CardHold).where(col(CardHold.order_id) == int(order_id)).order_by(col(CardHold.version))
    return list((await session.exec(query.execution_options(populate_existing=True))).all())


def signed_event(event_id: str, event_type: str, obj: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """A webhook body and the Stripe-Signature header Stripe would send (HMAC-SHA256 of ``t.payload``)."""
    payload = json.dumps({"id": event_id, "object": "event", "type": event_type, "data": {"object": obj}}).encode()
    t = int(time.time())
    digest = hmac.new(STRIPE_WEBHOOK_SECRET.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return payload, {"Stripe-Signature": f"t={t},v1={digest}", "content-type": "application/json"}
