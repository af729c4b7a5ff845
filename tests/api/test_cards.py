"""Saving cards: a member's Stripe customer made once, SetupIntents, the cards on file, and who may."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import httpx
import stripe
from sqlmodel import col, select

from api.app import create_app
from domain.identity.rules import MemberRole, Role
from domain.payments.stripe_gateway import HTTPXClient
from domain.payments.tables import StripeCustomer
from tests.support.apps import running
from tests.support.users import bearer, make_member, make_user

if TYPE_CHECKING:
    from arq.connections import ArqRedis
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.settings import Settings


async def member_headers(
    client: httpx.AsyncClient, session: AsyncSession, role: MemberRole = MemberRole.ADMIN
) -> tuple[int, dict[str, str]]:
    member = await make_member(session)
    assert member.id is not None
    user = await make_user(session, Role.MEMBER, member_id=member.id, member_role=role)
    return member.id, await bearer(client, user.email)


async def test_a_member_admin_saves_a_card_and_lists_it(
    stripe_client: httpx.AsyncClient, session: AsyncSession, localstripe_url: str
) -> None:
    member_id, headers = await member_headers(stripe_client, session)

    first = await stripe_client.post(f"/v1/members/{member_id}/card-setups", headers=headers)
    second = await stripe_client.post(f"/v1/members/{member_id}/card-setups", headers=headers)

    assert first.status_code == 201, first.text
    assert first.json()["client_secret"]
    assert first.json()["setup_intent_id"] != second.json()["setup_intent_id"]
    customers = (await session.exec(select(StripeCustomer).where(col(StripeCustomer.member_id) == member_id))).all()
    assert len(customers) == 1  # one customer, however many set-ups
    assert customers[0].setups == 2
    # The browser confirms the SetupIntent; localstripe then needs the card attached by hand.
    http = HTTPXClient()
    raw = stripe.StripeClient("sk_test_localstripe", base_addresses={"api": localstripe_url}, http_client=http)
    await raw.v1.setup_intents.confirm_async(first.json()["setup_intent_id"], {"payment_method": "pm_card_visa"})
    card = await raw.v1.payment_methods.attach_async("pm_card_visa", {"customer": customers[0].customer_id})
    await http.close_async()  # type: ignore[no-untyped-call]

    listed = await stripe_client.get(f"/v1/members/{member_id}/cards", headers=headers)

    assert listed.status_code == 200, listed.text
    assert card.card is not None
    expected = {"id": card.id, "brand": "visa", "last4": "4242", "exp_month": card.card.exp_month}
    assert listed.json() == {"items": [expected | {"exp_year": card.card.exp_year}], "next_cursor": None}


async def test_a_member_without_a_customer_has_no_cards(
    stripe_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    member_id, headers = await member_headers(stripe_client, session, MemberRole.FINANCE)

    listed = await stripe_client.get(f"/v1/members/{member_id}/cards", headers=headers)

    assert listed.json() == {"items": [], "next_cursor": None}


async def test_buyers_may_not_and_other_members_do_not_see(
    stripe_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    member_id, buyer = await member_headers(stripe_client, session, MemberRole.BUYER)
    _, stranger = await member_headers(stripe_client, session)

    assert (await stripe_client.post(f"/v1/members/{member_id}/card-setups", headers=buyer)).status_code == 403
    assert (await stripe_client.post(f"/v1/members/{member_id}/card-setups", headers=stranger)).status_code == 404
    assert (await stripe_client.get(f"/v1/members/{member_id}/cards", headers=stranger)).status_code == 404
    assert await session.get(StripeCustomer, member_id) is None


async def test_without_stripe_saving_a_card_is_a_conflict(client: httpx.AsyncClient, session: AsyncSession) -> None:
    member_id, headers = await member_headers(client, session)

    answer = await client.post(f"/v1/members/{member_id}/card-setups", headers=headers)

    assert answer.status_code == 409
    assert answer.json()["code"] == "card_payments_not_configured"


async def test_the_app_serves_with_stripe_unreachable(
    settings: Settings, session_maker: SessionMaker, queue: ArqRedis, session: AsyncSession
) -> None:
    """Nothing calls Stripe at start-up; a call that needs it answers 502, never a 500."""
    unreachable = dataclasses.replace(settings, stripe_api_key="sk_test_x", stripe_api_base="http://127.0.0.1:9")
    async with running(create_app(unreachable, session_maker=session_maker, redis=queue)) as app:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://coop.test") as client:
            assert (await client.get("/health")).status_code == 200
            member_id, headers = await member_headers(client, session)
            answer = await client.post(f"/v1/members/{member_id}/card-setups", headers=headers)
    assert answer.status_code == 502, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert await session.get(StripeCustomer, member_id) is None
