"""A group buy paid by card, end to end through the API, the worker and localstripe.

Holds are asked for by jobs after the order commits; a change replaces the hold, a
cancelled order releases it, a declined card keeps the order out of the volume, and
settlement captures exactly what account mode charges, so the card clearing account
holds the captures and every card member's trade account comes back to zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from domain.identity.rules import MemberRole
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.payments.tables import CardHold, StripeCustomer
from tests.support.buying import group_buy_body, make_product, make_supplier, ordering_member, staff_headers
from tests.support.worker import run_worker

if TYPE_CHECKING:
    import httpx
    import stripe
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.settings import Settings


def line(product_id: int, quantity: int, flex: int = 0) -> dict[str, Any]:
    return {"product_id": str(product_id), "quantity": quantity, "flex_quantity": flex}


async def card_member(
    client: httpx.AsyncClient, session: AsyncSession, raw: stripe.StripeClient, name: str, card: str = "pm_card_visa"
) -> tuple[int, dict[str, str]]:
    """An admitted member whose admin saved ``card`` through the API."""
    member, headers = await ordering_member(client, session, name, MemberRole.ADMIN)
    assert member.id is not None
    setup = await client.post(f"/v1/members/{member.id}/card-setups", headers=headers)
    assert setup.status_code == 201, setup.text
    await raw.v1.setup_intents.confirm_async(setup.json()["setup_intent_id"], {"payment_method": "pm_card_visa"})
    customer = (await session.exec(select(StripeCustomer).where(col(StripeCustomer.member_id) == member.id))).one()
    await raw.v1.payment_methods.attach_async(card, {"customer": customer.customer_id})  # localstripe does not
    return member.id, headers


async def holds_of(session: AsyncSession, order_id: str) -> list[CardHold]:
    query = select(CardHold).where(col(CardHold.order_id) == int(order_id)).order_by(col(CardHold.version))
    return list((await session.exec(query.execution_options(populate_existing=True))).all())


async def run_buy(
    client: httpx.AsyncClient, session: AsyncSession, members: list[dict[str, str]], mode: str
) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """The same buy in either mode: tiers, markup, flex, three orders; closed; 7 of 10 units delivered."""
    supplier = await make_supplier(session, f"Mill {mode}")
    product = await make_product(
        session, supplier.id, case_size=1, tiers=[(1, 1_234), (8, 1_111)], markup="0.075", sku=f"F-{mode}"
    )
    staff = await staff_headers(client, session)
    body = group_buy_body(supplier.id, [product], payment_mode=mode)
    created = await client.post("/v1/group-buys", json=body, headers=staff)
    assert created.status_code == 201, created.text
    gb = created.json()
    orders = []
    for headers, (quantity, flex) in zip(members, [(3, 1), (4, 0), (2, 2)], strict=True):
        placed = await client.post(
            f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, quantity, flex)]}, headers=headers
        )
        assert placed.status_code == 201, placed.text
        orders.append(placed.json()["id"])
    return gb, orders, staff | {"product": str(product)}


async def close_and_deliver(client: httpx.AsyncClient, gb: dict[str, Any], staff: dict[str, str]) -> None:
    product = staff.pop("product")
    closed = await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)
    assert closed.json()["status"] == "ordered", closed.text
    delivery = {"lines": [{"product_id": product, "delivered_quantity": 7}]}
    delivered = await client.post(f"/v1/group-buys/{gb['id']}/delivery", json=delivery, headers=staff)
    assert delivered.status_code == 202, delivered.text


async def test_card_captures_equal_account_charges_and_the_clearing_account_reconciles(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
) -> None:
    card_members = [await card_member(stripe_client, session, raw, f"Card Shop {i}") for i in range(3)]
    account_members = [await ordering_member(stripe_client, session, f"Account Shop {i}") for i in range(3)]

    gb, card_orders, card_staff = await run_buy(stripe_client, session, [h for _, h in card_members], "card")
    await run_worker(stripe_settings, session_maker)
    held = [await holds_of(session, o) for o in card_orders]
    assert [[(h.status, h.amount_cents) for h in hs] for hs in held] == [
        [("authorized", 5_306)],  # 4 units (quantity + flex) at the first tier, 1234, with 7.5% markup
        [("authorized", 5_306)],
        [("authorized", 5_306)],
    ]
    await close_and_deliver(stripe_client, gb, card_staff)
    await run_worker(stripe_settings, session_maker)

    account_gb, _, account_staff = await run_buy(stripe_client, session, [h for _, h in account_members], "account")
    await close_and_deliver(stripe_client, account_gb, account_staff)
    await run_worker(stripe_settings, session_maker)

    captured = [(await holds_of(session, o))[-1].captured_cents for o in card_orders]
    charged = [await ledger.balance_of(session, chart.member_trade(member.id or 0)) for member, _ in account_members]
    assert captured == charged
    assert sum(captured) > 0
    assert await ledger.balance_of(session, chart.CARD_CLEARING) == sum(captured)
    for member_id, _ in card_members:
        assert await ledger.balance_of(session, chart.member_trade(member_id)) == 0
    for order_id in card_orders:
        [hold] = await holds_of(session, order_id)
        assert hold.intent_id is not None
        intent = await raw.v1.payment_intents.retrieve_async(hold.intent_id)
        assert intent.status == "succeeded"


async def test_a_change_replaces_the_hold_and_a_cancel_releases_it(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
) -> None:
    _, headers = await card_member(stripe_client, session, raw, "Changing Shop")
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id, tiers=[(1, 1_000)])
    staff = await staff_headers(stripe_client, session)
    body = group_buy_body(supplier.id, [product], payment_mode="card")
    gb = (await stripe_client.post("/v1/group-buys", json=body, headers=staff)).json()
    order = (
        await stripe_client.post(
            f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 2)]}, headers=headers
        )
    ).json()
    await run_worker(stripe_settings, session_maker)

    changed = await stripe_client.put(f"/v1/orders/{order['id']}", json={"lines": [line(product, 5)]}, headers=headers)
    assert changed.status_code == 200, changed.text
    await run_worker(stripe_settings, session_maker)

    first, second = await holds_of(session, order["id"])
    assert (first.status, first.amount_cents, second.status, second.amount_cents) == (
        "voided",
        2_000,
        "authorized",
        5_000,
    )
    assert first.intent_id is not None
    assert second.intent_id is not None
    assert (await raw.v1.payment_intents.retrieve_async(first.intent_id)).status == "canceled"

    cancelled = await stripe_client.delete(f"/v1/orders/{order['id']}", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    await run_worker(stripe_settings, session_maker)

    assert [h.status for h in await holds_of(session, order["id"])] == ["voided", "voided"]
    assert (await raw.v1.payment_intents.retrieve_async(second.intent_id)).status == "canceled"


async def test_a_declined_card_does_not_count_and_drops_out_at_close(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
) -> None:
    _, good = await card_member(stripe_client, session, raw, "Good Card Shop")
    _, bad = await card_member(stripe_client, session, raw, "Bad Card Shop", "pm_card_chargeCustomerFail")
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id, tiers=[(1, 1_000)])
    staff = await staff_headers(stripe_client, session)
    body = group_buy_body(supplier.id, [product], payment_mode="card")
    gb = (await stripe_client.post("/v1/group-buys", json=body, headers=staff)).json()
    for headers, units in ((good, 2), (bad, 3)):
        placed = await stripe_client.post(
            f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, units)]}, headers=headers
        )
        assert placed.status_code == 201, placed.text
    bad_order = placed.json()["id"]
    before = (await stripe_client.get(f"/v1/group-buys/{gb['id']}", headers=staff)).json()
    assert before["items"][0]["quantity"] == 5  # asked for, not yet declined: counted

    await run_worker(stripe_settings, session_maker)

    [hold] = await holds_of(session, bad_order)
    assert hold.status == "auth_failed"
    after = (await stripe_client.get(f"/v1/group-buys/{gb['id']}", headers=staff)).json()
    assert after["items"][0]["quantity"] == 2
    closed = (await stripe_client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).json()
    assert closed["supplier_value_cents"] == 2_000
    assert (await stripe_client.get(f"/v1/orders/{bad_order}", headers=bad)).json()["status"] == "cancelled"


async def test_nothing_delivered_cancels_the_hold(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
) -> None:
    _, headers = await card_member(stripe_client, session, raw, "Unlucky Shop")
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id, tiers=[(1, 1_000)])
    staff = await staff_headers(stripe_client, session)
    body = group_buy_body(supplier.id, [product], payment_mode="card")
    gb = (await stripe_client.post("/v1/group-buys", json=body, headers=staff)).json()
    order = (
        await stripe_client.post(
            f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 2)]}, headers=headers
        )
    ).json()
    await run_worker(stripe_settings, session_maker)
    await stripe_client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)
    delivery = {"lines": [{"product_id": str(product), "delivered_quantity": 0}]}
    assert (await stripe_client.post(f"/v1/group-buys/{gb['id']}/delivery", json=delivery, headers=staff)).is_success

    await run_worker(stripe_settings, session_maker)

    [hold] = await holds_of(session, order["id"])
    assert (hold.status, hold.captured_cents) == ("voided", 0)
    assert hold.intent_id is not None
    assert (await raw.v1.payment_intents.retrieve_async(hold.intent_id)).status == "canceled"
    assert await ledger.balance_of(session, chart.CARD_CLEARING) == 0


async def test_a_card_order_needs_a_saved_card(stripe_client: httpx.AsyncClient, session: AsyncSession) -> None:
    _, headers = await ordering_member(stripe_client, session, "No Card Shop")
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id, tiers=[(1, 1_000)])
    staff = await staff_headers(stripe_client, session)
    body = group_buy_body(supplier.id, [product], payment_mode="card")
    gb = (await stripe_client.post("/v1/group-buys", json=body, headers=staff)).json()

    placed = await stripe_client.post(
        f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 2)]}, headers=headers
    )

    assert placed.status_code == 409
    assert placed.json()["code"] == "card_required"
    assert (await session.exec(select(CardHold))).all() == []
